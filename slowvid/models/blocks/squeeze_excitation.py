"""Squeeze-and-excitation channel attention, and the width rounding X3D and SE share.

From "Squeeze-and-Excitation Networks", Hu et al., arXiv:1709.01507, in the 3D form X3D uses
("X3D: Expanding Architectures for Efficient Video Recognition", Feichtenhofer,
arXiv:2004.04730). Widths are rounded as PySlowFast's ``round_width`` (Apache-2.0) so parameter
counts and checkpoints match; the code here is written anew.
"""

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["SqueezeExcitation", "round_width"]


def round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """``width * multiplier`` rounded to the nearest multiple of ``divisor``.

    Rounding never goes below ``min_width`` nor more than 10% below the exact product.

    Args:
        width: the base channel count.
        multiplier: scale factor; 0 returns ``width`` unchanged (PySlowFast's convention).
        min_width: smallest width returned.
        divisor: the result is a multiple of this.

    Returns:
        The rounded channel count.
    """
    if not multiplier:
        return int(width)
    width *= multiplier
    rounded = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * width:
        rounded += divisor
    return int(rounded)


class SqueezeExcitation(nn.Module):
    """Rescales each channel by a gate computed from the globally pooled features.

    ::

        x (B, C, T, H, W)
          -> global average pool (B, C, 1, 1, 1)
          -> conv 1x1x1 C -> C_r (bias) -> act -> conv 1x1x1 C_r -> C (bias) -> sigmoid
          * x
        y (B, C, T, H, W)

    Args:
        dim_in: channels C.
        ratio: C_r / C before rounding to a multiple of 8 (X3D uses 1/16).
        activation: builds the activation between the two convolutions.
        gate: builds the gating non-linearity (a hard sigmoid is cheaper on mobile CPUs).
    """

    def __init__(
        self,
        dim_in: int,
        ratio: float = 0.0625,
        activation: Callable[[], nn.Module] = nn.ReLU,
        gate: Callable[[], nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        self.dim_fc = round_width(dim_in, ratio)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc1 = nn.Conv3d(dim_in, self.dim_fc, kernel_size=1, bias=True)
        self.act = activation()
        self.fc2 = nn.Conv3d(self.dim_fc, dim_in, kernel_size=1, bias=True)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, T, H, W). Returns: (B, C, T, H, W), x with each channel rescaled."""
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
