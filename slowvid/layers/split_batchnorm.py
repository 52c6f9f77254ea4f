"""Batch norm whose training statistics come from splits of the batch, and a converter that
swaps a model's batch norms for another kind while keeping their parameters and buffers.

Multigrid training (arXiv:1912.00998 §3.3) grows the batch when it shrinks the clips; to keep
the statistics of a fixed number of clips, each split of the batch is normalised on its own
(PySlowFast's ``sub_batchnorm``, ``BN.NUM_SPLITS``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["SplitBatchNorm", "swap_batchnorms"]


class SplitBatchNorm(nn.BatchNorm3d):
    """BatchNorm over ``(N, C, ...)`` inputs whose training statistics are those of
    ``num_splits`` splits of the batch, sample ``i`` in split ``i % num_splits`` (PySlowFast's
    ``SubBatchNorm3d`` layout). One scale and shift serve every split.

    The running statistics follow the whole batch, aggregated from the splits each step: the
    mean of their means, and the mean of their (unbiased) variances plus the variance of their
    means. (PySlowFast keeps per-split running statistics and aggregates them before an
    evaluation; the running means agree exactly, the variances to the spread of the splits'
    running means between the two orders of averaging.)

    Args:
        num_splits: splits of the batch (1: plain BatchNorm).
        others: those of ``nn.BatchNorm3d``.
    """

    def __init__(self, *args, num_splits: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_splits = num_splits

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an (N, C, ...) input, got {input.dim()} dimensions")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Args: input (N, C, ...), N divisible by ``num_splits``. Returns: its normalisation."""
        k = self.num_splits
        if not self.training or k == 1:
            return super().forward(input)
        n, c = input.shape[:2]
        if n % k:
            raise ValueError(f"a batch of {n} cannot be cut into {k} batch-norm splits")
        x = input.view(n // k, k, c, *input.shape[2:])
        dims = [0, *range(3, x.dim())]
        mean = x.mean(dims)  # (k, C)
        var = x.var(dims, unbiased=False)
        shape = [1, k, c] + [1] * (x.dim() - 3)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(1, 1, c, *[1] * (x.dim() - 3))
            out = out + self.bias.view(1, 1, c, *[1] * (x.dim() - 3))
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum
                if momentum is None:
                    momentum = 1.0 / float(self.num_batches_tracked)
                count = x.numel() / (k * c)
                split_var = var * count / max(count - 1, 1)
                batch_mean = mean.mean(0)
                batch_var = split_var.mean(0) + (mean - batch_mean).square().mean(0)
                self.running_mean.lerp_(batch_mean, momentum)
                self.running_var.lerp_(batch_var, momentum)
        return out.view_as(input)


def swap_batchnorms(module: nn.Module, make: Callable[[_BatchNorm], _BatchNorm]) -> nn.Module:
    """Replace every batch norm in ``module`` by ``make(old)``, which then takes the old one's
    parameters and buffers (the same tensors: optimizers and DDP keep working).

    Returns:
        The converted module (a new object when ``module`` itself is a batch norm).
    """
    out = module
    if isinstance(module, _BatchNorm):
        out = make(module)
        if out is not module:
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, swap_batchnorms(child, make))
    return out
