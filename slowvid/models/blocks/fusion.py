"""SlowFast lateral connection from the fast to the slow pathway.

From "SlowFast Networks for Video Recognition", Feichtenhofer et al., arXiv:1812.03982
(time-strided convolution variant). Layout follows PySlowFast's ``FuseFastToSlow`` (Apache-2.0)
so released checkpoints map one to one; the code here is written anew.
"""

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["FuseFastToSlow"]


class FuseFastToSlow(nn.Module):
    """Projects fast features to the slow frame rate and concatenates them to the slow features.

    ::

        fast (B, C_f, alpha*T, H, W)
          -> conv (kernel_t, 1, 1), stride (alpha, 1, 1) -> norm -> act   (B, ratio*C_f, T, H, W)
        slow (B, C_s, T, H, W) ── concat on channels ──> (B, C_s + ratio*C_f, T, H, W)

    Args:
        dim_in: channels of the fast pathway, C_f.
        channel_ratio: output channels of the lateral conv as a multiple of C_f.
        kernel_t: temporal size of the lateral conv.
        alpha: frame-rate ratio of the fast to the slow pathway (the conv's temporal stride).
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
    """

    def __init__(
        self,
        dim_in: int,
        channel_ratio: int,
        kernel_t: int,
        alpha: int,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        self.dim_out = dim_in * channel_ratio
        self.conv = nn.Conv3d(
            dim_in,
            self.dim_out,
            kernel_size=(kernel_t, 1, 1),
            stride=(alpha, 1, 1),
            padding=(kernel_t // 2, 0, 0),
            bias=False,
        )
        self.norm = norm(self.dim_out)
        self.act = activation()

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        """Args: slow: (B, C_s, T, H, W); fast: (B, C_f, alpha*T, H, W).

        Returns: (B, C_s + channel_ratio*C_f, T, H, W), the new slow features.
        """
        return torch.cat([slow, self.act(self.norm(self.conv(fast)))], dim=1)
