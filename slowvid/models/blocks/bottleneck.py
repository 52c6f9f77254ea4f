"""Residual bottleneck block for 3D ResNets (C2D, I3D, Slow, SlowFast, ir-CSN; ResNeXt).

Layout follows PySlowFast's ``ResBlock`` + ``BottleneckTransform`` (Apache-2.0) so released
checkpoints map one to one; the code here is written anew.
"""

from collections.abc import Callable

import torch
from torch import nn

from .init import ResidualBlock

__all__ = ["Bottleneck"]


class Bottleneck(ResidualBlock):
    """Bottleneck residual block with the temporal kernel on its first convolution.

    ::

        x (B, C_in, T, H, W) ─────────────────────────────────── shortcut ──┐
          -> conv_a (t_kernel, 1, 1) -> norm -> act                          │ identity, or
          -> conv_b (t_b, 3, 3), stride (ts, s, s), groups g, dilation d     │ conv 1x1x1
             -> norm -> act                                                  │ stride (ts, s, s)
          -> conv_c (1, 1, 1) -> norm_c                                      │ + norm when the
          + ─────────────────────────────────────────────────────────────────┘ shape changes
          -> act
        y (B, C_out, T/ts, H/s, W/s)

    Args:
        dim_in: input channels.
        dim_out: output channels.
        dim_inner: channels of the two inner convolutions.
        t_kernel: temporal size of conv_a (1 keeps the block 2D; 3 inflates it).
        stride: spatial stride of the block.
        groups: groups of conv_b (1 for ResNet, 32 for ResNeXt, dim_inner for CSN).
        dilation: spatial dilation of conv_b.
        stride_1x1: put the stride on conv_a instead of conv_b (Caffe2 MSRA-style weights).
        t_kernel_b: temporal size of conv_b (3 with groups = dim_inner gives ir-CSN's depthwise
            3x3x3 conv).
        temporal_stride: temporal stride of conv_b and of the projection shortcut.
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        dim_inner: int,
        t_kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        stride_1x1: bool = False,
        t_kernel_b: int = 1,
        temporal_stride: int = 1,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        stride_a, stride_b = (stride, 1) if stride_1x1 else (1, stride)
        # Convs feed a norm, so none carries a bias.
        self.conv_a = nn.Conv3d(
            dim_in,
            dim_inner,
            kernel_size=(t_kernel, 1, 1),
            stride=(1, stride_a, stride_a),
            padding=(t_kernel // 2, 0, 0),
            bias=False,
        )
        self.norm_a = norm(dim_inner)
        self.act_a = activation()
        self.conv_b = self._make_conv_b(
            dim_inner,
            t_kernel_b,
            (temporal_stride, stride_b, stride_b),
            groups,
            dilation,
            norm,
            activation,
        )
        self.norm_b = norm(dim_inner)
        self.act_b = activation()
        self.conv_c = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
        self.norm_c = norm(dim_out)
        if dim_in != dim_out or stride != 1 or temporal_stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv3d(
                    dim_in,
                    dim_out,
                    kernel_size=1,
                    stride=(temporal_stride, stride, stride),
                    bias=False,
                ),
                norm(dim_out),
            )
        else:
            self.shortcut = nn.Identity()
        self.act = activation()

    def _make_conv_b(
        self,
        dim: int,
        t_kernel: int,
        stride: tuple[int, int, int],
        groups: int,
        dilation: int,
        norm: Callable[[int], nn.Module],
        activation: Callable[[], nn.Module],
    ) -> nn.Module:
        """The middle convolution, (t_kernel, 3, 3); subclasses factorise it (R(2+1)D).

        ``norm`` and ``activation`` are unused here; a factorised conv_b needs them inside.
        """
        return nn.Conv3d(
            dim,
            dim,
            kernel_size=(t_kernel, 3, 3),
            stride=stride,
            padding=(t_kernel // 2, dilation, dilation),
            dilation=(1, dilation, dilation),
            groups=groups,
            bias=False,
        )

    def zero_init_final_norm(self) -> None:
        """Zero the last norm's scale so the block starts as an identity (Goyal et al., 2017)."""
        nn.init.zeros_(self.norm_c.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C_in, T, H, W). Returns: (B, C_out, T/ts, H/stride, W/stride)."""
        y = self.act_a(self.norm_a(self.conv_a(x)))
        y = self.act_b(self.norm_b(self.conv_b(y)))
        y = self.norm_c(self.conv_c(y))
        return self.act(self.shortcut(x) + y)
