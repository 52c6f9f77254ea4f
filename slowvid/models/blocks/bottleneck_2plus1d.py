"""The (2+1)D factorised convolution and the bottleneck block built on it (R(2+1)D).

From "A Closer Look at Spatiotemporal Convolutions for Action Recognition", Tran et al.,
arXiv:1711.11248. Layout and module names follow PyTorchVideo's ``Conv2plus1d`` and
``create_2plus1d_bottleneck_block`` (Apache-2.0) so its R(2+1)D checkpoints map one to one;
the code here is written anew.
"""

from collections.abc import Callable

import torch
from torch import nn

from .bottleneck import Bottleneck

__all__ = ["Bottleneck2Plus1D", "Conv2Plus1D"]


class Conv2Plus1D(nn.Module):
    """A (t, 3, 3) convolution factorised into a temporal and a spatial one.

    ::

        x (B, C, T, H, W)
          -> conv_t (t_kernel, 1, 1), stride (ts, 1, 1) -> norm -> act
          -> conv_xy (1, 3, 3), stride (1, s, s), groups g, dilation d
        y (B, C, T/ts, H/s, W/s)

    Temporal first, at the intermediate width ``dim``, as PyTorchVideo builds it; the paper's
    ``M_i`` width (matching a full 3D conv's parameters) is not used, so the block has fewer
    parameters than its 3D counterpart.

    Args:
        dim: input, intermediate and output channels.
        t_kernel: temporal size of conv_t.
        stride: (temporal, spatial, spatial) stride; the temporal part goes on conv_t.
        groups: groups of conv_xy.
        dilation: spatial dilation of conv_xy.
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
    """

    def __init__(
        self,
        dim: int,
        t_kernel: int = 3,
        stride: tuple[int, int, int] = (1, 1, 1),
        groups: int = 1,
        dilation: int = 1,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        t_stride, h_stride, w_stride = stride
        self.conv_t = nn.Conv3d(
            dim,
            dim,
            kernel_size=(t_kernel, 1, 1),
            stride=(t_stride, 1, 1),
            padding=(t_kernel // 2, 0, 0),
            bias=False,
        )
        self.norm = norm(dim)
        self.act = activation()
        self.conv_xy = nn.Conv3d(
            dim,
            dim,
            kernel_size=(1, 3, 3),
            stride=(1, h_stride, w_stride),
            padding=(0, dilation, dilation),
            dilation=(1, dilation, dilation),
            groups=groups,
            bias=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, T, H, W). Returns: (B, C, T/ts, H/s, W/s)."""
        return self.conv_xy(self.act(self.norm(self.conv_t(x))))


class Bottleneck2Plus1D(Bottleneck):
    """:class:`Bottleneck` whose conv_b is a :class:`Conv2Plus1D` (R(2+1)D).

    ::

        x -> conv_a 1x1x1 -> norm -> act
          -> conv_b: conv_t (t_b, 1, 1) -> norm -> act -> conv_xy (1, 3, 3)
          -> norm_b -> act_b -> conv_c 1x1x1 -> norm_c  (+ shortcut) -> act

    Takes the arguments of :class:`Bottleneck`; ``t_kernel_b`` is the size of conv_t.
    """

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
        return Conv2Plus1D(dim, t_kernel, stride, groups, dilation, norm, activation)
