import pytest
import torch
import torch.distributed as dist
from torch import nn

from slowvid.config import get_cfg
from slowvid.solver import build_optimizer, make_optimizer


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, kernel_size=1, bias=False)  # 1 param
        self.bn = nn.BatchNorm3d(4)  # 2 params
        self.gn = nn.GroupNorm(2, 4)  # 2 params
        self.ln = nn.LayerNorm(4)  # 2 params
        self.head = nn.Linear(4, 5)  # 2 params
        self.frozen = nn.Linear(4, 4)
        for p in self.frozen.parameters():
            p.requires_grad = False


def groups_by_name(opt):
    return {g["name"]: g for g in opt.param_groups}


def test_norm_params_get_bn_weight_decay():
    model = TinyNet()
    opt = make_optimizer(
        model,
        method="sgd",
        base_lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        bn_weight_decay=0.0,
        nesterov=True,
        dampening=0.0,
    )
    groups = groups_by_name(opt)
    assert len(groups["default"]["params"]) == 3
    assert len(groups["norm"]["params"]) == 6
    assert groups["default"]["weight_decay"] == 1e-4
    assert groups["norm"]["weight_decay"] == 0.0
    norm_ids = {id(p) for m in (model.bn, model.gn, model.ln) for p in m.parameters()}
    assert {id(p) for p in groups["norm"]["params"]} == norm_ids
    # Frozen parameters are not optimised.
    all_ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not all_ids & {id(p) for p in model.frozen.parameters()}
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


def test_adamw_uses_betas():
    opt = make_optimizer(
        TinyNet(),
        method="adamw",
        base_lr=1e-3,
        weight_decay=0.05,
        bn_weight_decay=0.01,
        betas=(0.8, 0.95),
    )
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["betas"] == (0.8, 0.95)
    assert groups_by_name(opt)["norm"]["weight_decay"] == 0.01


def test_unknown_method_names_key_and_choices():
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZING_METHOD") as info:
        make_optimizer(TinyNet(), method="lamb", base_lr=0.1)
    assert "sgd" in str(info.value) and "adamw" in str(info.value)


def test_build_optimizer_from_cfg():
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZING_METHOD = "sgd"
    cfg.SOLVER.WEIGHT_DECAY = 5e-5
    cfg.BN.WEIGHT_DECAY = 1e-6
    groups = groups_by_name(build_optimizer(TinyNet(), cfg))
    assert groups["default"]["weight_decay"] == 5e-5
    assert groups["norm"]["weight_decay"] == 1e-6


def test_ddp_wrapped_model(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        model = TinyNet()
        ddp = nn.parallel.DistributedDataParallel(model)
        opt = make_optimizer(ddp, method="sgd", base_lr=0.1, weight_decay=1e-4, bn_weight_decay=0.0)
        groups = groups_by_name(opt)
        assert len(groups["default"]["params"]) == 3
        assert {id(p) for p in groups["norm"]["params"]} == {
            id(p) for m in (model.bn, model.gn, model.ln) for p in m.parameters()
        }
    finally:
        dist.destroy_process_group()
