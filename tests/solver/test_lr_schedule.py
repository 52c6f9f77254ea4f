import math

import pytest
import torch

from slowvid.config import get_cfg
from slowvid.solver import build_lr_schedule, lr_at_epoch, set_lr


def cosine(**kw):
    return lambda e: lr_at_epoch(e, policy="cosine", **kw)


def test_cosine_endpoints_and_midpoint():
    lr = cosine(base_lr=0.1, max_epoch=100, cosine_end_lr=0.001)
    assert lr(0) == pytest.approx(0.1)
    assert lr(50) == pytest.approx((0.1 + 0.001) / 2)
    assert lr(100) == pytest.approx(0.001)
    # cos(pi/4) = sqrt(2)/2
    assert lr(25) == pytest.approx(0.001 + 0.099 * 0.5 * (1 + math.sqrt(2) / 2))
    # Past the end it stays at the final value rather than rising again.
    assert lr(101) == pytest.approx(0.001)


def test_steps_with_relative_lrs():
    kw = {
        "policy": "steps_with_relative_lrs",
        "base_lr": 0.1,
        "max_epoch": 196,
        "steps": [0, 44, 88, 118],
        "lrs": [1, 0.1, 0.01, 0.001],
    }
    assert lr_at_epoch(0, **kw) == pytest.approx(0.1)
    assert lr_at_epoch(43.99, **kw) == pytest.approx(0.1)
    assert lr_at_epoch(44, **kw) == pytest.approx(0.01)
    assert lr_at_epoch(100.5, **kw) == pytest.approx(0.001)
    assert lr_at_epoch(150, **kw) == pytest.approx(0.0001)


def test_constant():
    assert lr_at_epoch(17.3, policy="constant", base_lr=0.05, max_epoch=20) == 0.05


def test_warmup_is_linear_to_policy_value_at_warmup_end():
    kw = {
        "policy": "cosine",
        "base_lr": 0.1,
        "max_epoch": 100,
        "cosine_end_lr": 0.0,
        "warmup_epochs": 10,
        "warmup_start_lr": 0.01,
    }
    at_end = 0.05 * (1 + math.cos(math.pi * 10 / 100))  # cosine value at epoch 10
    assert lr_at_epoch(0, **kw) == pytest.approx(0.01)
    assert lr_at_epoch(5, **kw) == pytest.approx(0.01 + (at_end - 0.01) / 2)
    assert lr_at_epoch(2.5, **kw) == pytest.approx(0.01 + (at_end - 0.01) / 4)
    assert lr_at_epoch(10, **kw) == pytest.approx(at_end)
    assert lr_at_epoch(9.9999, **kw) == pytest.approx(at_end, rel=1e-4)


def test_warmup_with_steps():
    kw = {
        "policy": "steps_with_relative_lrs",
        "base_lr": 0.8,
        "max_epoch": 10,
        "steps": [0, 5],
        "lrs": [1, 0.1],
        "warmup_epochs": 2,
        "warmup_start_lr": 0.0,
    }
    assert lr_at_epoch(1, **kw) == pytest.approx(0.4)
    assert lr_at_epoch(6, **kw) == pytest.approx(0.08)


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"policy": "linear"}, "SOLVER.LR_POLICY"),
        # step 10 is trained (MAX_EPOCH 20) and has no rate; at MAX_EPOCH 10 it would be fine
        (
            {"policy": "steps_with_relative_lrs", "steps": [0, 10], "lrs": [1], "max_epoch": 20},
            "SOLVER.STEPS",
        ),
        ({"policy": "steps_with_relative_lrs", "steps": [], "lrs": []}, "SOLVER.LRS"),
        ({"policy": "steps_with_relative_lrs", "steps": [5, 10], "lrs": [1, 0.1]}, "SOLVER.STEPS"),
        ({"policy": "cosine", "max_epoch": 0}, "SOLVER.MAX_EPOCH"),
        ({"policy": "constant", "warmup_epochs": -1}, "SOLVER.WARMUP_EPOCHS"),
    ],
)
def test_invalid_settings_name_the_key(kw, key):
    args = {"base_lr": 0.1, "max_epoch": 10}
    args.update(kw)
    with pytest.raises(ValueError, match=key):
        lr_at_epoch(0.0, **args)


def test_build_lr_schedule_from_cfg():
    cfg = get_cfg()
    cfg.SOLVER.LR_POLICY = "steps_with_relative_lrs"
    cfg.SOLVER.BASE_LR = 0.2
    cfg.SOLVER.STEPS = [0, 3]
    cfg.SOLVER.LRS = [1, 0.5]
    cfg.SOLVER.WARMUP_EPOCHS = 0.0
    schedule = build_lr_schedule(cfg)
    assert schedule(1) == pytest.approx(0.2)
    assert schedule(3.5) == pytest.approx(0.1)


def test_build_lr_schedule_fails_at_build_time():
    cfg = get_cfg()
    cfg.SOLVER.LR_POLICY = "steps_with_relative_lrs"
    cfg.SOLVER.STEPS = [0, 3]
    cfg.SOLVER.LRS = [1]
    with pytest.raises(ValueError, match="SOLVER.LRS"):
        build_lr_schedule(cfg)


def test_set_lr_sets_every_group_and_respects_lr_scale():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr_scale": 0.5}], lr=1.0)
    set_lr(opt, 0.3)
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.3), pytest.approx(0.15)]
