"""Optimizers with a separate weight decay for normalisation layers.

Scale and shift parameters of BatchNorm/GroupNorm/LayerNorm are usually trained without weight
decay (PySlowFast's ``BN.WEIGHT_DECAY``): decaying them shrinks the normalised activations and
fights the next layer's weights for no regularisation benefit.
"""

from collections.abc import Sequence

import torch
from torch import nn

from .lars import add_lars
from .lr_schedule import shard_lr_scale

__all__ = ["OPTIMIZING_METHODS", "build_optimizer", "make_optimizer", "split_norm_params"]

# Values accepted by ``SOLVER.OPTIMIZING_METHOD``.
OPTIMIZING_METHODS = ("sgd", "adam", "adamw")

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def _unwrap(model: nn.Module) -> nn.Module:
    # DDP and DataParallel keep the real model in `.module`; using it keeps names stable.
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model


def split_norm_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split the trainable parameters into normalisation-layer and other parameters.

    Args:
        model (nn.Module): the model, possibly wrapped in DistributedDataParallel.

    Returns:
        tuple: ``(norm_params, other_params)``, each a list without duplicates (shared
        parameters appear once) and without parameters that have ``requires_grad=False``.
    """
    norm_params: list[nn.Parameter] = []
    other_params: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in _unwrap(model).modules():
        is_norm = isinstance(module, _NORM_TYPES)
        for param in module.parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            (norm_params if is_norm else other_params).append(param)
    return norm_params, other_params


def make_optimizer(
    model: nn.Module,
    *,
    method: str,
    base_lr: float,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    bn_weight_decay: float = 0.0,
    nesterov: bool = True,
    dampening: float = 0.0,
    betas: Sequence[float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """Create an optimizer with one group for norm parameters and one for the rest.

    Args:
        model (nn.Module): the model, possibly wrapped in DistributedDataParallel.
        method (str): "sgd", "adam" (weight decay added to the gradient) or "adamw"
            (decoupled weight decay).
        base_lr (float): initial learning rate (the schedule overwrites it every iteration).
        momentum (float): SGD momentum.
        weight_decay (float): weight decay of non-normalisation parameters.
        bn_weight_decay (float): weight decay of BatchNorm/GroupNorm/LayerNorm parameters.
        nesterov (bool): Nesterov momentum for SGD.
        dampening (float): SGD dampening.
        betas (Sequence[float]): Adam's / AdamW's two beta coefficients.

    Returns:
        torch.optim.Optimizer: groups are ``[non-norm, norm]``; empty groups are left out.
        Each group carries a ``"name"`` entry ("default" or "norm") for logging.
    """
    norm_params, other_params = split_norm_params(model)
    groups = [
        {"params": other_params, "weight_decay": weight_decay, "name": "default"},
        {"params": norm_params, "weight_decay": bn_weight_decay, "name": "norm"},
    ]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("make_optimizer: the model has no trainable parameters")

    method = method.lower()
    if method == "sgd":
        # torch refuses nesterov with dampening or zero momentum; say which keys to change.
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "SOLVER.NESTEROV requires SOLVER.MOMENTUM > 0 and SOLVER.DAMPENING == 0, "
                f"got momentum={momentum}, dampening={dampening}"
            )
        return torch.optim.SGD(
            groups, lr=base_lr, momentum=momentum, dampening=dampening, nesterov=nesterov
        )
    if method in ("adam", "adamw"):
        if len(betas) != 2:
            raise ValueError(f"SOLVER.BETAS must have two values, got {list(betas)}")
        adam = torch.optim.Adam if method == "adam" else torch.optim.AdamW
        return adam(groups, lr=base_lr, betas=(float(betas[0]), float(betas[1])))
    raise ValueError(
        f"Unknown SOLVER.OPTIMIZING_METHOD {method!r}; "
        f"valid choices: {', '.join(OPTIMIZING_METHODS)}"
    )


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """Create the optimizer described by ``cfg.SOLVER`` and ``cfg.BN.WEIGHT_DECAY`` (with
    SOLVER.LARS_ON, taking LARS steps: :mod:`.lars`)."""
    s = cfg.SOLVER
    optimizer = make_optimizer(
        model,
        method=s.OPTIMIZING_METHOD,
        base_lr=s.BASE_LR * shard_lr_scale(cfg),
        momentum=s.MOMENTUM,
        weight_decay=s.WEIGHT_DECAY,
        bn_weight_decay=cfg.BN.WEIGHT_DECAY,
        nesterov=s.NESTEROV,
        dampening=s.DAMPENING,
        betas=tuple(s.BETAS),
    )
    return add_lars(optimizer) if s.LARS_ON else optimizer
