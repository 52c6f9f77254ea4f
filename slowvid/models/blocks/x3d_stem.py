"""The X3D stem: a spatial convolution followed by a channelwise temporal convolution.

From "X3D: Expanding Architectures for Efficient Video Recognition", Feichtenhofer,
arXiv:2004.04730 (Table 1, conv1). Layout follows PySlowFast's ``X3DStem`` (Apache-2.0) so
released checkpoints map one to one; the code here is written anew.
"""

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["X3DStem"]


class X3DStem(nn.Module):
    """Conv (1, 3, 3) stride (1, 2, 2) -> channelwise conv (t, 1, 1) -> norm -> activation.

    A (2+1)D factorisation: the spatial conv mixes channels, the temporal one is depthwise, so
    the stem stays cheap. There is no max-pool; the stem halves H and W only.

    ::

        x (B, C_in, T, H, W)
          -> conv_xy (1, 3, 3), stride (1, 2, 2)        C_in -> C_out
          -> conv_t (t_kernel, 1, 1), groups C_out      no temporal stride
          -> norm -> act
        y (B, C_out, T, H/2, W/2)

    Args:
        dim_in: input channels (3 for RGB).
        dim_out: output channels.
        t_kernel: temporal size of the channelwise convolution (5 in X3D).
        norm: builds the normalisation layer from a channel count.
        activation: builds the activation layer.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        t_kernel: int = 5,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        # Neither conv carries a bias: the norm follows.
        self.conv_xy = nn.Conv3d(
            dim_in,
            dim_out,
            kernel_size=(1, 3, 3),
            stride=(1, 2, 2),
            padding=(0, 1, 1),
            bias=False,
        )
        self.conv_t = nn.Conv3d(
            dim_out,
            dim_out,
            kernel_size=(t_kernel, 1, 1),
            padding=(t_kernel // 2, 0, 0),
            groups=dim_out,
            bias=False,
        )
        self.norm = norm(dim_out)
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C_in, T, H, W). Returns: (B, C_out, T, ceil(H/2), ceil(W/2))."""
        return self.act(self.norm(self.conv_t(self.conv_xy(x))))
