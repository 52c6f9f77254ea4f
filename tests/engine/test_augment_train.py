"""A training run with every augmentation and mixup on, then a test whose confusion matrix
lands in TensorBoard as an image."""

import glob
import math

import pytest
from demo_config import DEMO_CFG

from slowvid import engine
from slowvid.config import load_config


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_augmented_mixup_run_then_test_writes_confusion_image(tiny_opts, tmp_path):
    opts = tiny_opts(
        **{
            "SOLVER.MAX_EPOCH": 1,
            "TRAIN.EVAL_PERIOD": 0,
            "AUG.ENABLE": True,
            "AUG.NUM_SAMPLE": 2,
            "AUG.AA_TYPE": "rand-m7-n4-mstd0.5-inc1",
            "AUG.RE_PROB": 0.5,
            "MIXUP.ENABLE": True,
            "MODEL.LOSS_FUNC": "soft_cross_entropy",
            "TENSORBOARD.ENABLE": True,
        }
    )
    opts += ["DATA.TRAIN_JITTER_SCALES_RELATIVE", "[0.3, 1.0]"]
    stats = engine.train(load_config(DEMO_CFG, opts))["train"]
    assert math.isfinite(stats["loss"]) and stats["samples"] == 2 * 24  # two copies each
    results = engine.test(load_config(DEMO_CFG, opts))
    # one test video a class: each class is right (100) or wrong (0), and the mean over
    # classes is the overall top-1
    assert len(results["per_class_acc"]) == 8
    assert set(results["per_class_acc"]) <= {0.0, 100.0}
    assert results["mean_class_acc"] == pytest.approx(sum(results["per_class_acc"]) / 8)
    assert results["mean_class_acc"] == pytest.approx(results["top1_acc"])

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    images = []
    for events in glob.glob(str(tmp_path / "run/tensorboard/events*")):  # train's, test's
        acc = EventAccumulator(events, size_guidance={"images": 0})
        acc.Reload()
        if "test/confusion_matrix" in acc.Tags()["images"]:
            images += acc.Images("test/confusion_matrix")
    (image,) = images
    assert image.width == image.height == 8 * (512 // 8)
