"""X3D residual block: an inverted bottleneck around a channelwise 3x3x3 convolution.

From "X3D: Expanding Architectures for Efficient Video Recognition", Feichtenhofer,
arXiv:2004.04730 (§3.1, Table 1). Layout follows PySlowFast's ``ResBlock`` + ``X3DTransform``
(Apache-2.0) so released checkpoints map one to one; the code here is written anew.
"""

from collections.abc import Callable

import torch
from torch import nn

from .init import ResidualBlock
from .squeeze_excitation import SqueezeExcitation

__all__ = ["X3DBottleneck"]


class X3DBottleneck(ResidualBlock):
    """Expand 1x1x1, channelwise (t, 3, 3) with optional SE and swish, project 1x1x1.

    ::

        x (B, C_in, T, H, W) ─────────────────────────────────── shortcut ──┐
          -> conv_a (1, 1, 1) C_in -> C_inner -> norm -> act                   │ identity, or
          -> conv_b (t, 3, 3), stride s, groups g -> norm                      │ conv 1x1x1
          -> [SE] -> inner act (swish)                                         │ stride s + norm
          -> conv_c (1, 1, 1) C_inner -> C_out -> norm_c                       │ when the shape
          + ───────────────────────────────────────────────────────────────────┘ changes
          -> act
        y (B, C_out, T, H/s, W/s)

    Args:
        dim_in: input channels.
        dim_out: output channels.
        dim_inner: channels of the expanded middle convolution (X3D's bottleneck factor 2.25
            makes it wider than ``dim_out``).
        t_kernel: temporal size of conv_b.
        stride: spatial stride of conv_b and of the shortcut.
        groups: groups of conv_b; ``dim_inner`` makes it channelwise (depthwise).
        se_ratio: squeeze-excitation bottleneck ratio; 0 disables SE for this block.
        norm: builds a normalisation layer from a channel count.
        activation: builds the activation after conv_a and after the residual sum.
        inner_activation: builds the activation after conv_b (swish in X3D).
        se_activation: builds the activation inside squeeze-excitation.
        se_gate: builds the squeeze-excitation gate.
        shortcut_norm_same_width: a strided shortcut that keeps the width gets a norm after
            its conv; PyTorchVideo's X3D has none there (the first block of res2).
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        dim_inner: int,
        t_kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        se_ratio: float = 0.0,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
        inner_activation: Callable[[], nn.Module] = nn.SiLU,
        se_activation: Callable[[], nn.Module] = nn.ReLU,
        se_gate: Callable[[], nn.Module] = nn.Sigmoid,
        shortcut_norm_same_width: bool = True,
    ):
        super().__init__()
        # Convs feed a norm, so none carries a bias.
        self.conv_a = nn.Conv3d(dim_in, dim_inner, kernel_size=1, bias=False)
        self.norm_a = norm(dim_inner)
        self.act_a = activation()
        self.conv_b = nn.Conv3d(
            dim_inner,
            dim_inner,
            kernel_size=(t_kernel, 3, 3),
            stride=(1, stride, stride),
            padding=(t_kernel // 2, 1, 1),
            groups=groups,
            bias=False,
        )
        self.norm_b = norm(dim_inner)
        # SE sits between the norm and the swish, as in the released X3D weights.
        self.se = (
            SqueezeExcitation(dim_inner, se_ratio, se_activation, se_gate)
            if se_ratio > 0
            else nn.Identity()
        )
        self.act_b = inner_activation()
        self.conv_c = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
        self.norm_c = norm(dim_out)
        if dim_in != dim_out or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv3d(
                    dim_in,
                    dim_out,
                    kernel_size=1,
                    stride=(1, stride, stride),
                    bias=False,
                ),
                norm(dim_out) if dim_in != dim_out or shortcut_norm_same_width else nn.Identity(),
            )
        else:
            self.shortcut = nn.Identity()
        self.act = activation()

    def zero_init_final_norm(self) -> None:
        """Zero the last norm's scale so the block starts as an identity (Goyal et al., 2017)."""
        nn.init.zeros_(self.norm_c.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C_in, T, H, W). Returns: (B, C_out, T, H/stride, W/stride)."""
        y = self.act_a(self.norm_a(self.conv_a(x)))
        y = self.act_b(self.se(self.norm_b(self.conv_b(y))))
        y = self.norm_c(self.conv_c(y))
        return self.act(self.shortcut(x) + y)
