"""The README's demo, scaled down: a SlowFast trained on generated videos beats chance by far."""

import pytest
from demo_config import DEMO_CFG

from slowvid import engine
from slowvid.config import load_config
from slowvid.data.demo import CLASSNAMES, DemoSpec, make_demo_data


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_demo_config_learns_motion_classes(tmp_path):
    data = str(tmp_path / "demo")
    make_demo_data(
        data,
        DemoSpec(train_per_class=16, val_per_class=1, test_per_class=5, size=64, num_frames=40),
        num_workers=2,
    )
    cfg = load_config(
        DEMO_CFG,
        [
            "DATA.PATH_TO_DATA_DIR",
            data,
            "DATA.PATH_PREFIX",
            data,
            "OUTPUT_DIR",
            str(tmp_path / "run"),
            "DATA.TRAIN_JITTER_SCALES",
            "[48, 56]",
            "DATA.TRAIN_CROP_SIZE",
            "48",
            "DATA.TEST_CROP_SIZE",
            "48",
            "SOLVER.MAX_EPOCH",
            "24",
            "TRAIN.EVAL_PERIOD",
            "0",
            "TENSORBOARD.ENABLE",
            "False",
        ],
    )
    engine.train(cfg)
    results = engine.test(cfg)
    chance = 100.0 / len(CLASSNAMES)
    assert results["num_videos"] == 40
    assert results["top1_acc"] >= 4 * chance, results  # 50% against 12.5% chance
