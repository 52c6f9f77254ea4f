"""A tiny generated data set and the overrides for a tiny SlowFast run on it."""

import os

import pytest

from slowvid.data.demo import DemoSpec, make_demo_data


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> str:
    """8 classes x (3 train, 1 val, 1 test) real H.264 videos, 48 px, 24 frames."""
    root = str(tmp_path_factory.mktemp("tiny_demo"))
    spec = DemoSpec(train_per_class=3, val_per_class=1, test_per_class=1, size=48, num_frames=24)
    make_demo_data(root, spec, num_workers=2)
    return root


def demo_opts(tiny_data: str, output_dir: str, **overrides) -> list[str]:
    """The overrides of a seconds-long SlowFast run on ``tiny_data`` into ``output_dir``."""
    opts = {
        "DATA.PATH_TO_DATA_DIR": tiny_data,
        "DATA.PATH_PREFIX": tiny_data,
        "DATA.NUM_FRAMES": 8,
        "DATA.SAMPLING_RATE": 2,
        "DATA.TRAIN_JITTER_SCALES": [32, 40],
        "DATA.TRAIN_CROP_SIZE": 32,
        "DATA.TEST_CROP_SIZE": 32,
        "RESNET.WIDTH_PER_GROUP": 4,
        "SLOWFAST.BETA_INV": 4,
        "TRAIN.BATCH_SIZE": 8,
        "TEST.BATCH_SIZE": 4,
        "TEST.NUM_ENSEMBLE_VIEWS": 2,
        "TEST.NUM_SPATIAL_CROPS": 1,
        "SOLVER.MAX_EPOCH": 2,
        "TRAIN.EVAL_PERIOD": 1,
        "TRAIN.CHECKPOINT_PERIOD": 1,
        "DATA_LOADER.NUM_WORKERS": 0,
        "LOG_PERIOD": 1,
        "TENSORBOARD.ENABLE": False,
        "OUTPUT_DIR": output_dir,
    }
    opts.update(overrides)
    flat = []
    for key, value in opts.items():
        flat += [key, str(value) if not isinstance(value, str) else f"'{value}'"]
    return flat


@pytest.fixture
def tiny_opts(tiny_data, tmp_path):
    """Build the overrides of a seconds-long SlowFast run writing into a fresh OUTPUT_DIR."""

    def make(**overrides) -> list[str]:
        return demo_opts(tiny_data, str(tmp_path / "run"), **overrides)

    return make


# A 2-process run that the torchrun and FSDP tests compare with: 2 epochs in groups of 2
# accumulated mini-batches (3 per epoch: a group of 2, then one of 1), then a 2-view test.
REFERENCE_OPTS = {
    "SOLVER.MAX_EPOCH": 2,
    "TRAIN.EVAL_PERIOD": 0,
    "TRAIN.GRAD_ACCUM_STEPS": 2,
    "TEST.SAVE_RESULTS_PATH": "preds.pyth",
}


@pytest.fixture(scope="session")
def ddp_reference(tiny_data, tmp_path_factory) -> str:
    """OUTPUT_DIR of a 2-process DDP run (NUM_CPU_PROCESSES 2) of REFERENCE_OPTS, trained
    and tested."""
    from demo_config import DEMO_CFG

    from slowvid import engine
    from slowvid.config import load_config
    from slowvid.distributed import launch_job

    out = str(tmp_path_factory.mktemp("ddp_reference"))
    opts = demo_opts(tiny_data, out, NUM_CPU_PROCESSES=2, NUM_GPUS=0, **REFERENCE_OPTS)
    # One thread per process, as torchrun's workers get: the same summation order, so runs
    # launched either way can be compared bit for bit.
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        launch_job(load_config(DEMO_CFG, opts), engine.train_and_test)
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return out
