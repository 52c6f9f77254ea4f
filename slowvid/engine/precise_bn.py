"""Precise BN: BN statistics recomputed with the weights fixed, before an evaluation.

During training the running statistics trail weights that keep changing; recomputing them as
true averages over N batches gives evaluation numbers that do not depend on the momentum (Wu
and Johnson, "Rethinking Batch in BatchNorm", arXiv 2105.07576). fvcore does the per-process
pass; the statistics are then combined over processes, so every rank evaluates the same model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.distributed as dist
from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats

from slowvid.distributed import comm
from slowvid.layers import AllReduceBatchNorm

from .hooks import HookBase
from .inputs import to_device
from .setup import unwrap_model

logger = logging.getLogger(__name__)


def combine_bn_stats(
    means: torch.Tensor, variances: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the union of equally sized shards.

    Args:
        means: (R, C) per-shard means.
        variances: (R, C) per-shard population variances.
    Returns:
        (C,) mean and (C,) variance of all shards together: the variance adds the spread of
        the shard means, which averaging the variances alone would miss.
    """
    mean = means.mean(dim=0)
    second_moment = (variances + means.square()).mean(dim=0)
    return mean, second_moment - mean.square()


def average_bn_stats_across_ranks(model: torch.nn.Module) -> None:
    """Replace every BN layer's running statistics by those of all ranks' data together."""
    world = comm.get_world_size()
    if world == 1:
        return
    for bn in get_bn_modules(model):
        if isinstance(bn, torch.nn.SyncBatchNorm | AllReduceBatchNorm):
            continue  # computed on all ranks' data already
        stacked = torch.stack([bn.running_mean, bn.running_var + bn.running_mean.square()])
        dist.all_reduce(stacked)
        stacked /= world
        mean, second_moment = stacked
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(second_moment - mean.square())


class _PositionalInputs(torch.nn.Module):
    """Calls ``model(*batch)``: fvcore passes each batch as one argument, and a detector needs
    its boxes beside the clips."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: tuple) -> torch.Tensor:
        return self.model(*batch)


class PreciseBN(HookBase):
    """Recompute BN statistics on ``num_batches`` training batches before evaluations.

    Runs on the epochs an evaluation follows (every ``period`` epochs and the last one), and
    must come before the checkpoint and evaluation hooks in the hook list.
    """

    def __init__(self, *, period: int, num_batches: int, when: Callable[[int], bool] | None = None):
        self.period = period
        self.num_batches = num_batches
        self.when = when

    def after_epoch(self) -> None:
        trainer = self.trainer
        done = trainer.epoch + 1
        if self.period <= 0:
            return
        if self.when is not None and not self.when(done):
            return
        if self.when is None and done % self.period and done != trainer.max_epoch:
            return
        model = unwrap_model(trainer.model)
        batches = (
            (
                to_device(batch["inputs"], trainer.device, trainer.pixel_norm),
                *to_device(batch.get("extra_inputs", []), trainer.device),
            )
            for batch in trainer.loader
            if batch["inputs"] is not None
        )
        model.train()
        update_bn_stats(
            _PositionalInputs(model), batches, min(self.num_batches, len(trainer.loader))
        )
        average_bn_stats_across_ranks(model)
        logger.info(
            "precise BN: statistics recomputed over %d batches per process",
            min(self.num_batches, len(trainer.loader)),
        )
