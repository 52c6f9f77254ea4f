"""A guard against a PyTorch CPU bug in bf16 mixed precision.

Under CPU bf16 autocast, ``Conv3d``'s weight gradient comes out wrong (relative error near 1)
and can corrupt the heap when the clip has more than one frame but fewer than the temporal
kernel: X3D-XS's 4 frames into a 5-frame stem kernel, or a 2-frame slow pathway into a 3-frame
kernel. Found with torch 2.14.1; ``tests/engine/test_cpu_amp.py`` checks it against fp32. The
guard runs exactly those convolutions in fp32; the rest of the network stays in bf16.
"""

from __future__ import annotations

import types

import torch
from torch import nn

__all__ = ["guard_short_clip_conv3d", "is_affected"]


def is_affected(frames: int, kernel_frames: int) -> bool:
    """Whether a Conv3d with ``kernel_frames`` over ``frames`` hits the bug under bf16."""
    return 1 < frames < kernel_frames


def _guarded_forward(self: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    if (
        x.device.type == "cpu"
        and is_affected(x.shape[-3], self.kernel_size[0])
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
    ):
        with torch.autocast("cpu", enabled=False):
            return type(self).forward(self, x.float())
    return type(self).forward(self, x)


def guard_short_clip_conv3d(model: nn.Module) -> int:
    """Makes every ``Conv3d`` of ``model`` with a temporal kernel run in fp32 when CPU bf16
    autocast gives it too short a clip. Parameters and state-dict keys are unchanged.

    Returns:
        How many convolutions were guarded.
    """
    count = 0
    for module in model.modules():
        if isinstance(module, nn.Conv3d) and module.kernel_size[0] > 1:
            module.forward = types.MethodType(_guarded_forward, module)
            count += 1
    return count
