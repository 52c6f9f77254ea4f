"""Optimizers with a separate weight decay for normalisation layers, and the transformer
fine-tuning recipe's parameter groups.

Scale and shift parameters of BatchNorm/GroupNorm/LayerNorm are usually trained without weight
decay (PySlowFast's ``BN.WEIGHT_DECAY``): decaying them shrinks the normalised activations and
fights the next layer's weights for no regularisation benefit. ViT recipes (VideoMAE, MAE-ST,
MViT) also exempt every 1-D parameter and bias (``SOLVER.ZERO_WD_1D_PARAM``) and the position
embeddings and class token (``ZERO_DECAY_POS_CLS``, declared by the model's
``no_weight_decay()``), and scale the learning rate of block ``i`` of ``L`` by
``LAYER_DECAY ** (L + 1 - layer)`` (``SOLVER.LAYER_DECAY``), with PySlowFast's and VideoMAE's
layer numbering: embeddings 0, ``blocks.i`` i + 1, everything after the blocks L + 1.
"""

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from .lars import add_lars
from .lr_schedule import shard_lr_scale

__all__ = [
    "OPTIMIZING_METHODS",
    "DeclaresNoWeightDecay",
    "build_optimizer",
    "layer_ids",
    "make_optimizer",
    "split_norm_params",
]


@runtime_checkable
class DeclaresNoWeightDecay(Protocol):
    """A model naming the parameters it wants trained without weight decay."""

    def no_weight_decay(self) -> set[str]:
        """Parameter names (as ``named_parameters`` gives them) exempt from weight decay."""
        ...


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


_BLOCK = re.compile(r"blocks\.(\d+)\.")
# Embedding parameters sit below block 0 (layer 0), as PySlowFast / VideoMAE number them.
_EMBEDDING = re.compile(r"(patch_embed|cls_token|mask_token|pos_embed|time_embed)")


def layer_ids(model: nn.Module) -> tuple[dict[str, int], int]:
    """Layer index of every parameter for layer-wise learning-rate decay.

    Returns:
        ``(name -> layer, num_layers)``: embeddings 0, ``blocks.i.*`` ``i + 1``, the rest
        (final norm, head) ``num_layers + 1``, where ``num_layers`` is the number of blocks.

    Raises:
        ValueError: the model has no ``blocks.N`` parameters to number.
    """
    names = [n for n, _ in _unwrap(model).named_parameters()]
    blocks = [int(m.group(1)) for n in names if (m := _BLOCK.match(n))]
    if not blocks:
        raise ValueError(
            f"SOLVER.LAYER_DECAY < 1 needs a transformer whose layers are named blocks.N "
            f"(VisionTransformer, TimeSformer, MViT); {type(_unwrap(model)).__name__} has none"
        )
    num_layers = max(blocks) + 1
    ids = {}
    for name in names:
        if m := _BLOCK.match(name):
            ids[name] = int(m.group(1)) + 1
        elif _EMBEDDING.match(name):
            ids[name] = 0
        else:
            ids[name] = num_layers + 1
    return ids, num_layers


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
    zero_wd_1d_param: bool = False,
    layer_decay: float = 1.0,
) -> torch.optim.Optimizer:
    """Create an optimizer whose parameter groups carry their own weight decay and LR scale.

    Args:
        model (nn.Module): the model, possibly wrapped in DistributedDataParallel.
        method (str): "sgd", "adam" (weight decay added to the gradient) or "adamw"
            (decoupled weight decay).
        base_lr (float): initial learning rate (the schedule overwrites it every iteration).
        momentum (float): SGD momentum.
        weight_decay (float): weight decay of the other parameters.
        bn_weight_decay (float): weight decay of BatchNorm/GroupNorm/LayerNorm parameters.
        nesterov (bool): Nesterov momentum for SGD.
        dampening (float): SGD dampening.
        betas (Sequence[float]): Adam's / AdamW's two beta coefficients.
        zero_wd_1d_param (bool): no weight decay on 1-D parameters and biases.
        layer_decay (float): in (0, 1]; below 1, block ``i`` of ``L`` trains at
            ``layer_decay ** (L + 1 - (i + 1))`` times the rate (see :func:`layer_ids`).

    Returns:
        torch.optim.Optimizer: groups "default" (``weight_decay``), "norm" (``bn_weight_decay``)
        and "zero" (names the model's ``no_weight_decay()`` declares, and with
        ``zero_wd_1d_param`` 1-D parameters and biases: no decay); with layer decay, one of each
        per layer ("layer3_default") with an ``"lr_scale"`` entry that ``set_lr`` applies. Empty
        groups are left out.
    """
    if not 0.0 < layer_decay <= 1.0:
        raise ValueError(f"SOLVER.LAYER_DECAY must lie in (0, 1], got {layer_decay}")
    model = _unwrap(model)
    norm_ids = {id(p) for p in split_norm_params(model)[0]}
    exempt = model.no_weight_decay() if isinstance(model, DeclaresNoWeightDecay) else set()
    layers, num_layers = layer_ids(model) if layer_decay < 1.0 else ({}, 0)
    decay = {"default": weight_decay, "norm": bn_weight_decay, "zero": 0.0}
    grouped: dict[str, dict] = {}
    seen: set[int] = set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        if id(param) in norm_ids:
            kind = "norm"
        elif name in exempt or (zero_wd_1d_param and (param.ndim == 1 or name.endswith(".bias"))):
            kind = "zero"
        else:
            kind = "default"
        group_name = kind if layer_decay == 1.0 else f"layer{layers[name]}_{kind}"
        if group_name not in grouped:
            grouped[group_name] = {"params": [], "weight_decay": decay[kind], "name": group_name}
            if layer_decay < 1.0:
                grouped[group_name]["lr_scale"] = layer_decay ** (num_layers + 1 - layers[name])
        grouped[group_name]["params"].append(param)
    order = {"default": 0, "norm": 1, "zero": 2}
    groups = sorted(
        grouped.values(), key=lambda g: (g.get("lr_scale", 1.0), order[g["name"].split("_")[-1]])
    )
    if not groups:
        raise ValueError("make_optimizer: the model has no trainable parameters")
    # Until the schedule's first set_lr, each group already starts at its scaled rate.
    for group in groups:
        group["lr"] = base_lr * group.get("lr_scale", 1.0)

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
        zero_wd_1d_param=s.ZERO_WD_1D_PARAM,
        layer_decay=s.LAYER_DECAY,
    )
    return add_lars(optimizer) if s.LARS_ON else optimizer
