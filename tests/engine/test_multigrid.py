"""Multigrid schedule values against hand-computed ones."""

import pytest

from slowvid.config import get_cfg
from slowvid.config.validation import infer_and_check
from slowvid.engine.multigrid import (
    MultigridStage,
    long_cycle_schedule,
    multigrid_lr_steps,
    short_cycle_shape,
)


def test_long_cycle_schedule_equals_the_hand_computed_one():
    # Shapes (T, S): (4, 16) with batch x8 (8*32*32 / (4*16*16)), and the full (8, 32) x1.
    # Step [0, 40) splits 40 epochs 8:1 -> 35.56 and 4.44 epochs, 4.44 + 4.44 = 8.89
    # iterations-worth; saving 40 / 8.89 = 4.5, so fine-tuning [40, 60) takes 20 / 4.5 = 4.44.
    # Rescaled to 60 x 1.5 = 90 epochs (x 2.025): 72, 9, 9 -> ends 72, 81, 90.
    stages = long_cycle_schedule(
        num_frames=8,
        crop_size=32,
        steps=[0, 40],
        max_epoch=60,
        long_cycle_factors=[[0.5, 0.5], [1.0, 1.0]],
        epoch_factor=1.5,
    )
    assert stages == [
        MultigridStage(step_index=0, batch_factor=8, num_frames=4, crop_size=16, end_epoch=72),
        MultigridStage(step_index=0, batch_factor=1, num_frames=8, crop_size=32, end_epoch=81),
        MultigridStage(step_index=1, batch_factor=1, num_frames=8, crop_size=32, end_epoch=90),
    ]
    steps, lrs, max_epoch = multigrid_lr_steps(stages, lrs=[1.0, 0.1])
    # the fine-tuning phase [81, 90) keeps the previous rate until its middle, (81 + 90) // 2
    assert steps == [0, 72, 81, 85] and lrs == [8.0, 1.0, 1.0, 0.1] and max_epoch == 90


def test_pyslowfast_default_factors_give_its_358_epoch_kinetics_schedule():
    stages = long_cycle_schedule(
        num_frames=16,
        crop_size=224,
        steps=[0, 94, 154, 196],
        max_epoch=239,
        long_cycle_factors=[(0.25, 0.5**0.5), (0.5, 0.5**0.5), (0.5, 1), (1, 1)],
        short_cycle_factors=[0.5, 0.5**0.5],
        epoch_factor=1.5,
    )
    assert len(stages) == 3 * 4 + 1 and stages[-1].end_epoch == 358  # round(239 x 1.5)
    assert [(s.batch_factor, s.num_frames, s.crop_size) for s in stages[:4]] == [
        (8, 4, 158),
        (4, 8, 158),
        (2, 8, 224),
        (1, 16, 224),
    ]
    assert [s.end_epoch for s in stages[:4]] == [77, 115, 149, 166]


def test_short_cycle_grows_the_batch_with_the_square_of_the_crop_ratio():
    shapes = [
        short_cycle_shape(i, batch_size=4, crop_size=32, default_s=32, factors=[0.5, 0.75])
        for i in range(4)
    ]
    assert shapes == [(16, 16), (7, 24), (4, 32), (16, 16)]  # 4 x (32/24)^2 = 7.1


@pytest.mark.parametrize("key", ["LONG_CYCLE", "SHORT_CYCLE"])
def test_multigrid_training_is_refused_until_the_loader_exists(key):
    cfg = get_cfg()
    cfg.MULTIGRID[key] = True
    with pytest.raises(ValueError, match=f"MULTIGRID.{key}"):
        infer_and_check(cfg)
