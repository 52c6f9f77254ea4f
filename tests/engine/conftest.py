"""A tiny generated data set and the overrides for a tiny SlowFast run on it."""

import pytest

from slowvid.data.demo import DemoSpec, make_demo_data


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> str:
    """8 classes x (3 train, 1 val, 1 test) real H.264 videos, 48 px, 24 frames."""
    root = str(tmp_path_factory.mktemp("tiny_demo"))
    spec = DemoSpec(train_per_class=3, val_per_class=1, test_per_class=1, size=48, num_frames=24)
    make_demo_data(root, spec, num_workers=2)
    return root


@pytest.fixture
def tiny_opts(tiny_data, tmp_path):
    """Build the overrides of a seconds-long SlowFast run writing into a fresh OUTPUT_DIR."""

    def make(**overrides) -> list[str]:
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
            "OUTPUT_DIR": str(tmp_path / "run"),
        }
        opts.update(overrides)
        flat = []
        for key, value in opts.items():
            flat += [key, str(value) if not isinstance(value, str) else f"'{value}'"]
        return flat

    return make
