"""LARS (You et al., 2017, "Large Batch Training of Convolutional Networks") on any optimizer,
as PySlowFast's SOLVER.LARS_ON applies it to its contrastive recipes.

Before each step, the gradient ``g`` of every multi-dimensional parameter ``p`` outside the
normalisation groups becomes ``(g + wd * p) * tc * |p| / (|g| + wd * |p| + eps)`` (left as is
when ``|p|`` or ``|g|`` is 0), and those groups' own weight decay is off for the step, so it is
applied once, inside the trust ratio. 1-D parameters (biases) of those groups then get no weight
decay at all, as in PySlowFast. The optimizer stays the plain torch optimizer (its state dict,
its groups' learning rates and a GradScaler's unscaling are untouched): the rescaling is a step
pre-hook.
"""

from __future__ import annotations

import torch

__all__ = ["add_lars", "is_norm_group"]


def is_norm_group(group: dict) -> bool:
    """The normalisation-layer groups ("norm", "layer3_norm"), which LARS leaves alone."""
    return str(group.get("name", "")).endswith("norm")


def add_lars(
    optimizer: torch.optim.Optimizer, trust_coefficient: float = 0.001, eps: float = 1e-8
) -> torch.optim.Optimizer:
    """Makes ``optimizer`` take LARS steps (in place); PySlowFast's trust coefficient 0.001
    and scaling (not clipping) mode by default. Returns the optimizer."""
    decays: list[float] = []

    @torch.no_grad()
    def rescale(opt, args, kwargs) -> None:
        decays[:] = [group["weight_decay"] for group in opt.param_groups]
        for group in opt.param_groups:
            if is_norm_group(group):
                continue
            wd = group["weight_decay"]
            group["weight_decay"] = 0.0
            for p in group["params"]:
                if p.grad is None or p.ndim == 1:
                    continue
                p_norm = torch.linalg.vector_norm(p)
                g_norm = torch.linalg.vector_norm(p.grad)
                ratio = trust_coefficient * p_norm / (g_norm + wd * p_norm + eps)
                scaled = (p.grad + wd * p) * ratio
                p.grad.copy_(torch.where((p_norm > 0) & (g_norm > 0), scaled, p.grad))

    def restore(opt, args, kwargs) -> None:
        for group, wd in zip(opt.param_groups, decays, strict=True):
            group["weight_decay"] = wd

    optimizer.register_step_pre_hook(rescale)
    optimizer.register_step_post_hook(restore)
    return optimizer
