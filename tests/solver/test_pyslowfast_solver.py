"""PySlowFast's solver keys: learning rates scaled by the machines, LRS longer than STEPS,
Adam, and the multigrid GAMMA rule."""

import pytest
import torch
from torch import nn

from slowvid.config import get_cfg, infer_and_check
from slowvid.solver import build_lr_schedule, build_optimizer


def _cfg(**solver):
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = 0.1
    cfg.SOLVER.WARMUP_START_LR = 0.01
    cfg.SOLVER.COSINE_END_LR = 0.001
    cfg.SOLVER.WARMUP_EPOCHS = 2.0
    cfg.SOLVER.MAX_EPOCH = 10
    for key, value in solver.items():
        cfg.SOLVER[key] = value
    return cfg


@pytest.mark.parametrize("shards", [1, 4])
def test_base_lr_scale_num_shards_scales_the_three_rates(shards):
    cfg = _cfg(BASE_LR_SCALE_NUM_SHARDS=True)
    cfg.NUM_SHARDS = shards
    plain = build_lr_schedule(_cfg())
    scaled = build_lr_schedule(cfg)
    # Warm-up start, the cosine's peak, its end: every rate times the machines.
    for epoch in (0.0, 2.0, 10.0, 5.5):
        assert scaled(epoch) == pytest.approx(shards * plain(epoch))
    assert scaled(0.0) == pytest.approx(0.01 * shards)
    assert scaled(10.0) == pytest.approx(0.001 * shards)
    # The optimizer starts at the scaled rate too.
    optimizer = build_optimizer(nn.Linear(2, 2), cfg)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * shards)


def test_without_the_switch_more_shards_leave_the_rate():
    cfg = _cfg()
    cfg.NUM_SHARDS = 4
    assert build_lr_schedule(cfg)(5.0) == pytest.approx(build_lr_schedule(_cfg())(5.0))


def test_lrs_longer_than_steps_is_pyslowfast_s_meaning():
    # PySlowFast's stepwise Kinetics recipe: six LRS for four STEPS, the last two never reached.
    cfg = _cfg(
        LR_POLICY="steps_with_relative_lrs",
        STEPS=[0, 4, 7, 9],
        LRS=[1, 0.1, 0.01, 0.001, 0.0001, 0.00001],
        WARMUP_EPOCHS=0.0,
    )
    infer_and_check(cfg)
    schedule = build_lr_schedule(cfg)
    rates = [schedule(e) for e in (0, 3.9, 4, 7.5, 9, 10, 12)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.001, 0.0001, 0.0001, 0.0001])


def test_a_step_at_max_epoch_needs_no_rate():
    # PySlowFast's finetune_ava_*_syn yamls: five STEPS ending at MAX_EPOCH, four LRS.
    cfg = _cfg(
        LR_POLICY="steps_with_relative_lrs",
        STEPS=[0, 4, 6, 8, 10],
        LRS=[1, 0.1, 0.01, 0.001],
        WARMUP_EPOCHS=0.0,
    )
    infer_and_check(cfg)
    schedule = build_lr_schedule(cfg)
    assert [schedule(e) for e in (0, 8.5, 9.99, 10)] == pytest.approx([0.1, 1e-4, 1e-4, 1e-4])
    cfg.SOLVER.MAX_EPOCH = 11  # now epoch 10 is trained, and it has no rate
    with pytest.raises(ValueError, match="SOLVER.STEPS"):
        infer_and_check(cfg)


def test_fewer_lrs_than_steps_is_refused():
    cfg = _cfg(LR_POLICY="steps_with_relative_lrs", STEPS=[0, 4, 7], LRS=[1, 0.1])
    with pytest.raises(ValueError, match="SOLVER.STEPS"):
        infer_and_check(cfg)


def test_adam_is_torch_adam_with_coupled_weight_decay():
    cfg = _cfg(OPTIMIZING_METHOD="adam", BETAS=[0.8, 0.9], WEIGHT_DECAY=0.5)
    infer_and_check(cfg)
    model = nn.Linear(3, 1, bias=False)
    optimizer = build_optimizer(model, cfg)
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.defaults["betas"] == (0.8, 0.9)
    # Adam adds the decay to the gradient (AdamW would shrink the weight apart from it).
    model.weight.data.fill_(1.0)
    model.weight.grad = torch.zeros_like(model.weight)
    optimizer.step()
    assert torch.allclose(model.weight, torch.full_like(model.weight, 1.0 - 0.1))


def test_multigrid_takes_gamma_powers_as_pyslowfast_does():
    cfg = _cfg(LR_POLICY="steps_with_relative_lrs", STEPS=[0, 4, 7], LRS=[1, 0.1, 0.01])
    cfg.MULTIGRID.LONG_CYCLE = True
    infer_and_check(cfg.clone())  # LRS[i] == GAMMA ** i
    cfg.SOLVER.GAMMA = 0.5
    with pytest.raises(ValueError, match="SOLVER.GAMMA.*differs at steps \\[1, 2\\]"):
        infer_and_check(cfg)


@pytest.mark.parametrize("method", ["sgd", "adamw"])
def test_lars_on_scales_each_weight_update_by_its_trust_ratio(method):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model[0].weight.grad = torch.randn(3, 4)
    model[0].bias.grad = torch.randn(3)
    model[1].weight.grad = torch.randn(3)
    model[1].bias.grad = torch.randn(3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    cfg = _cfg(
        LARS_ON=True, OPTIMIZING_METHOD=method, MOMENTUM=0.0, NESTEROV=False, WEIGHT_DECAY=0.1
    )
    cfg.BN.WEIGHT_DECAY = 0.05
    optimizer = build_optimizer(model, cfg)
    for group in optimizer.param_groups:
        group["lr"] = 1.0
    optimizer.step()
    w, g = before["0.weight"], grads["0.weight"]
    ratio = 1e-3 * w.norm() / (g.norm() + 0.1 * w.norm())
    if method == "sgd":
        # The weight moves by its decayed gradient times the trust ratio; the bias by its plain
        # gradient (no decay); the norm layer as without LARS.
        torch.testing.assert_close(model[0].weight, w - (g + 0.1 * w) * ratio)
        torch.testing.assert_close(model[0].bias, before["0.bias"] - grads["0.bias"])
        expected_bn = before["1.weight"] - (grads["1.weight"] + 0.05 * before["1.weight"])
        torch.testing.assert_close(model[1].weight, expected_bn)
    else:
        # AdamW steps on the scaled gradient, without its own decay of the weight.
        reference = w.clone().requires_grad_()
        reference.grad = (g + 0.1 * w) * ratio
        torch.optim.AdamW([reference], lr=1.0, weight_decay=0.0).step()
        torch.testing.assert_close(model[0].weight, reference)
    # The groups' own weight decay is back after the step (it is the schedule's to read).
    assert [gr["weight_decay"] for gr in optimizer.param_groups] == [0.1, 0.05]
    assert type(optimizer) is type(build_optimizer(model, _cfg(OPTIMIZING_METHOD=method)))
