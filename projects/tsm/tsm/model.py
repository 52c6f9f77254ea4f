"""TSM: Temporal Shift Module for Efficient Video Understanding (Lin, Gan, Han; arXiv 1811.08383).

A 2D ResNet (slowvid's C2D without temporal pooling) becomes a video model by shifting part of
the channels along time before the first convolution of every residual block: zero extra
parameters and FLOPs. The shift is a forward pre-hook on ``conv_a``, so parameter names are
exactly those of ``ResNet`` and any C2D checkpoint loads into a TSMResNet unchanged.
"""

from __future__ import annotations

import torch

from slowvid.models.blocks import Bottleneck
from slowvid.models.resnet3d import ResNet
from slowvid.registry import MODELS

__all__ = ["TSMResNet", "temporal_shift"]


def temporal_shift(x: torch.Tensor, shift_div: int) -> torch.Tensor:
    """Shift channels along time, zero-filling the ends.

    Args:
        x: (B, C, T, H, W).
        shift_div: the first C/shift_div channels take the next frame's values, the second
            C/shift_div the previous frame's; the rest are unchanged.
    Returns:
        Tensor of the same shape.
    """
    fold = x.shape[1] // shift_div
    out = torch.zeros_like(x)
    out[:, :fold, :-1] = x[:, :fold, 1:]
    out[:, fold : 2 * fold, 1:] = x[:, fold : 2 * fold, :-1]
    out[:, 2 * fold :] = x[:, 2 * fold :]
    return out


@MODELS.register()
class TSMResNet(ResNet):
    """A 2D ResNet with a temporal shift in front of every bottleneck.

    Args:
        shift_div: see :func:`temporal_shift`.
        **resnet_kwargs: the arguments of :class:`slowvid.models.resnet3d.ResNet`.
    """

    # 2D kernels without temporal pooling: the shift is the only temporal operation.
    archs = ("c2d_nopool",)

    def __init__(self, *, shift_div: int = 8, **resnet_kwargs):
        super().__init__(**resnet_kwargs)
        self.shift_div = shift_div
        for module in self.modules():
            if isinstance(module, Bottleneck):
                module.conv_a.register_forward_pre_hook(self._shift_input)

    def _shift_input(self, _module, args):
        return (temporal_shift(args[0], self.shift_div),)

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads ResNet's keys (MODEL.ARCH c2d_nopool, or empty) and TSM.SHIFT_DIV."""
        return {**super().from_config(cfg), "shift_div": cfg.TSM.SHIFT_DIV}
