"""Optimizers and learning-rate schedules."""

from .lr_schedule import LR_POLICIES, build_lr_schedule, lr_at_epoch, set_lr
from .optimizer import (
    OPTIMIZING_METHODS,
    DeclaresNoWeightDecay,
    build_optimizer,
    layer_ids,
    make_optimizer,
    split_norm_params,
)

__all__ = [
    "LR_POLICIES",
    "OPTIMIZING_METHODS",
    "DeclaresNoWeightDecay",
    "build_lr_schedule",
    "build_optimizer",
    "layer_ids",
    "lr_at_epoch",
    "make_optimizer",
    "set_lr",
    "split_norm_params",
]
