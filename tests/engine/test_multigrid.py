"""Multigrid: schedule values against hand-computed ones, the short-cycle loader, and a
long-cycle run whose shapes follow the stages and that resumes to the same weights."""

import pytest
import torch
from demo_config import DEMO_CFG

from slowvid import engine
from slowvid.checkpoint import find_latest_checkpoint, read_checkpoint
from slowvid.config import get_cfg, load_config
from slowvid.config.validation import infer_and_check
from slowvid.data import build_loader, shuffle_loader
from slowvid.engine import HookBase
from slowvid.engine.multigrid import (
    MultigridStage,
    long_cycle_schedule,
    multigrid_lr_steps,
    short_cycle_shape,
)
from slowvid.registry import HOOKS


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


def test_long_cycle_needs_the_steps_policy():
    cfg = get_cfg()
    cfg.MULTIGRID.LONG_CYCLE = True
    with pytest.raises(ValueError, match="SOLVER.LR_POLICY"):
        infer_and_check(cfg)


@pytest.mark.timeout(120)
def test_short_cycle_loader_batches_smaller_crops_in_bigger_batches(tiny_opts):
    opts = {"MULTIGRID.SHORT_CYCLE": True, "MULTIGRID.SHORT_CYCLE_FACTORS": [0.5, 0.75]}
    cfg = load_config(DEMO_CFG, tiny_opts(**opts, **{"TRAIN.BATCH_SIZE": 2}))
    loader = build_loader(cfg, "train")
    shuffle_loader(loader, 0)
    shapes = [tuple(batch["inputs"][1].shape) for batch in loader]
    # 24 videos: crops 16, 24, 32 with batches 2 x (32/16)^2, 2 x (32/24)^2 ~ 4, 2, then 8 again;
    # the next 4 do not fit in the 2 videos left.
    assert shapes == [(8, 3, 8, 16, 16), (4, 3, 8, 24, 24), (2, 3, 8, 32, 32), (8, 3, 8, 16, 16)]
    assert len(loader) == 4


_SHAPES: list = []


@HOOKS.register()
class RecordInputShapes(HookBase):
    """Records (epoch, fast-pathway shape) of every training forward."""

    def before_train(self):
        def record(module, args):
            if module.training:
                _SHAPES.append((self.trainer.epoch, tuple(args[0][1].shape)))

        self.trainer.model.register_forward_pre_hook(record)


class _Stop(Exception):
    pass


@HOOKS.register()
class StopAfterSecondEpoch(HookBase):
    def after_epoch(self):
        if self.trainer.epoch == 1:
            raise _Stop


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_long_cycle_run_changes_shapes_per_stage_and_resumes_the_same(tiny_opts, tmp_path):
    mg = {
        "MULTIGRID.LONG_CYCLE": True,
        "MULTIGRID.LONG_CYCLE_FACTORS": [[0.5, 1.0], [1.0, 1.0]],
        "MULTIGRID.EPOCH_FACTOR": 1.0,
        "SOLVER.LR_POLICY": "steps_with_relative_lrs",
        "SOLVER.STEPS": [0, 3],
        "SOLVER.LRS": [1, 0.1],
        "SOLVER.MAX_EPOCH": 4,
        "SOLVER.WARMUP_EPOCHS": 0.0,
        "TRAIN.EVAL_PERIOD": 0,
        "TRAIN.HOOKS": ["RecordInputShapes"],
    }
    _SHAPES.clear()
    engine.train(load_config(DEMO_CFG, tiny_opts(OUTPUT_DIR=str(tmp_path / "a"), **mg)))
    straight = list(_SHAPES)
    # Stages: epochs 1-2 at 4 frames and twice the batch, then 8 frames (epoch 3, and the
    # fine-tuning epoch 4); 24 videos give 1 batch of 16, then 3 batches of 8.
    assert straight == [
        (0, (16, 3, 4, 32, 32)),
        (1, (16, 3, 4, 32, 32)),
        *[(2, (8, 3, 8, 32, 32))] * 3,
        *[(3, (8, 3, 8, 32, 32))] * 3,
    ]
    _SHAPES.clear()
    opts = tiny_opts(OUTPUT_DIR=str(tmp_path / "b"), **mg)
    with pytest.raises(_Stop):
        engine.train(load_config(DEMO_CFG, opts + ["TRAIN.HOOKS", "['StopAfterSecondEpoch']"]))
    _SHAPES.clear()
    engine.train(load_config(DEMO_CFG, opts))  # resumes in the first stage's last epoch
    assert _SHAPES == straight[2:]
    a = read_checkpoint(find_latest_checkpoint(str(tmp_path / "a")))["model_state"]
    b = read_checkpoint(find_latest_checkpoint(str(tmp_path / "b")))["model_state"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
