"""The ResNet stem of one video pathway: a large strided convolution and a max-pool.

Layout follows PySlowFast's ``ResNetBasicStem`` (Apache-2.0) so its checkpoints map one to one;
the code here is written anew.
"""

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["ResNetStem"]


class ResNetStem(nn.Module):
    """Conv (t, k, k) stride (1, s, s) -> norm -> activation -> optional max-pool.

    ::

        x (B, C_in, T, H, W)
          -> conv (t_kernel, 7, 7), stride (1, 2, 2)   no temporal stride: frames are few
          -> norm -> act
          -> max-pool (1, 3, 3), stride (1, 2, 2)
        y (B, C_out, T, H/4, W/4)

    Args:
        dim_in: input channels (3 for RGB).
        dim_out: output channels.
        t_kernel: temporal size of the convolution (1 for 2D-style, 5 for I3D / fast path).
        spatial_kernel: spatial size of the convolution.
        spatial_stride: spatial stride of the convolution.
        pool: whether to end with the (1, 3, 3) max-pool (R(2+1)D-style stems omit it).
        norm: builds the normalisation layer from a channel count.
        activation: builds the activation layer.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        t_kernel: int = 1,
        spatial_kernel: int = 7,
        spatial_stride: int = 2,
        pool: bool = True,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        self.conv = nn.Conv3d(
            dim_in,
            dim_out,
            kernel_size=(t_kernel, spatial_kernel, spatial_kernel),
            stride=(1, spatial_stride, spatial_stride),
            padding=(t_kernel // 2, spatial_kernel // 2, spatial_kernel // 2),
            bias=False,  # the norm right after makes a bias redundant
        )
        self.norm = norm(dim_out)
        self.act = activation()
        self.pool = (
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
            if pool
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C_in, T, H, W). Returns: (B, C_out, T, H', W'), H' = H/4 with the pool."""
        return self.pool(self.act(self.norm(self.conv(x))))
