"""Batch norm whose training statistics cover every process's batch, on any device and backend.

PyTorch's ``nn.SyncBatchNorm`` only runs on GPUs (its forward raises for CPU tensors), so
CPU runs over gloo use :class:`AllReduceBatchNorm`: per-channel sums, sums of squares and
counts are all-reduced with the autograd-aware ``torch.distributed.nn.functional.all_reduce``,
whose backward all-reduces the gradients of those sums, so the input gradients are those of
one process normalising the concatenated batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["AllReduceBatchNorm", "convert_all_reduce_batchnorm"]


class AllReduceBatchNorm(nn.BatchNorm3d):
    """BatchNorm over ``(N, C, ...)`` inputs with statistics of all ranks' batches together.

    A BatchNorm3d subclass that takes any ``(N, C, ...)`` input, so code that finds BN layers
    by type (precise BN, weight-decay groups) still finds it.

    Outside training, or without a process group of more than one rank, it is plain BatchNorm.
    Arguments are those of ``nn.BatchNorm3d``; ``process_group`` (default: all processes)
    limits the pooling to its ranks (BN.NUM_SYNC_DEVICES).
    """

    def __init__(self, *args, process_group: dist.ProcessGroup | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an (N, C, ...) input, got {input.dim()} dimensions")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Args: input (N, C, ...). Returns: the normalised (N, C, ...) tensor."""
        self._check_input_dim(input)
        synced = (
            self.training and dist.is_initialized() and dist.get_world_size(self.process_group) > 1
        )
        if not synced:
            return super().forward(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.dim())]
        x = input.float()  # sums in fp32 even under autocast
        count = torch.full((1,), input.numel() / channels, device=input.device)
        stats = torch.cat([x.sum(dims), x.square().sum(dims), count])
        stats = dist_fn.all_reduce(stats, group=self.process_group or dist.group.WORLD)
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels : 2 * channels] / total - mean.square()).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum
                if momentum is None:  # cumulative average, as BatchNorm
                    momentum = 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean, momentum)
                # running_var is unbiased, as BatchNorm's
                self.running_var.lerp_(var * total / (total - 1).clamp_min(1.0), momentum)
        shape = [1, channels] + [1] * (input.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)


def convert_all_reduce_batchnorm(
    module: nn.Module, process_group: dist.ProcessGroup | None = None
) -> nn.Module:
    """Replace every BatchNorm{1,2,3}d in ``module`` by an AllReduceBatchNorm sharing its state.

    Args:
        module: a model (or a single BN layer).
        process_group: the ranks whose statistics are pooled (None: all).
    Returns:
        The converted module (``module`` itself when it is not a BN layer).
    """
    out = module
    if isinstance(module, _BatchNorm) and not isinstance(
        module, (AllReduceBatchNorm, nn.SyncBatchNorm)
    ):
        out = AllReduceBatchNorm(
            module.num_features,
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
            device=module.running_mean.device if module.running_mean is not None else None,
            process_group=process_group,
        )
        if module.affine:
            out.weight = module.weight
            out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_all_reduce_batchnorm(child, process_group))
    return out
