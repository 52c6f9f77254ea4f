"""Where the demo config lives, and the overrides of tiny runs of it.

A module of its own, not conftest.py: processes spawned by multi-process tests re-import the test
module, and there a bare ``conftest`` can resolve to another directory's conftest.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CFG = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")


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


# A 2-process run that the torchrun and FSDP tests compare with: 2 epochs in groups of 2
# accumulated mini-batches (3 per epoch: a group of 2, then one of 1), then a 2-view test.
REFERENCE_OPTS = {
    "SOLVER.MAX_EPOCH": 2,
    "TRAIN.EVAL_PERIOD": 0,
    "TRAIN.GRAD_ACCUM_STEPS": 2,
    "TEST.SAVE_RESULTS_PATH": "preds.pyth",
}
