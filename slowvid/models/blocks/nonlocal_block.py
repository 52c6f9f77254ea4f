"""Non-local block: self-attention over every space-time position of a feature map.

Paper: "Non-local Neural Networks", Wang et al., arXiv:1711.07971 (embedded Gaussian version).
Layer names (conv_theta, conv_phi, conv_g, conv_out, bn) follow PySlowFast's ``nonlocal_helper``
(Apache-2.0) so its NLN checkpoints map by name; the code is written anew.
"""

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .init import ResidualBlock

__all__ = ["NonLocal"]


class NonLocal(ResidualBlock):
    """Residual non-local block (embedded Gaussian, or dot product).

    ::

        x (B, C, T, H, W) -> theta = 1x1x1 conv (C -> C/2)                  (B, C/2, THW)
          [-> max-pool (pool_size)] -> phi, g = 1x1x1 convs (C -> C/2)      (B, C/2, T'H'W')
          -> softmax(theta^T phi / sqrt(C/2)) g -> 1x1x1 conv (C/2 -> C) -> norm
          -> + x                                                           (B, C, T, H, W)

    Args:
        dim: channels C in and out.
        dim_inner: channels of theta, phi and g (C/2 in the paper).
        pool_size: (t, h, w) max-pool of the keys and values; None or all ones for none.
        instantiation: "softmax" (embedded Gaussian) or "dot_product" (divides by the number of
            positions instead of normalising with a softmax).
        norm: builds the norm after the output convolution.
        group: attend within this many equal chunks of time (PySlowFast's NONLOCAL.GROUP); the
            frame count must be divisible by it.
    """

    def __init__(
        self,
        dim: int,
        dim_inner: int,
        pool_size: Sequence[int] | None = (1, 2, 2),
        instantiation: str = "softmax",
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        group: int = 1,
    ):
        super().__init__()
        if group < 1:
            raise ValueError(f"NONLOCAL.GROUP must be >= 1, got {group}")
        self.group = group
        if instantiation not in ("softmax", "dot_product"):
            raise ValueError(
                f"NONLOCAL.INSTANTIATION must be 'softmax' or 'dot_product', got {instantiation!r}"
            )
        self.instantiation = instantiation
        self.conv_theta = nn.Conv3d(dim, dim_inner, 1)
        self.conv_phi = nn.Conv3d(dim, dim_inner, 1)
        self.conv_g = nn.Conv3d(dim, dim_inner, 1)
        self.conv_out = nn.Conv3d(dim_inner, dim, 1)
        self.bn = norm(dim)
        use_pool = pool_size is not None and any(p > 1 for p in pool_size)
        self.pool = nn.MaxPool3d(tuple(pool_size), tuple(pool_size)) if use_pool else None

    def zero_init_final_norm(self) -> None:
        """Start as the identity: the residual branch's norm outputs zero."""
        nn.init.zeros_(self.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, T, H, W). Returns: (B, C, T, H, W)."""
        if self.group == 1:
            return self._attend(x)
        b, c, t, h, w = x.shape
        if t % self.group:
            raise ValueError(f"NONLOCAL.GROUP {self.group} does not divide {t} frames")
        # Each chunk of T / group frames becomes its own batch element.
        chunks = x.transpose(1, 2).reshape(b * self.group, t // self.group, c, h, w)
        y = self._attend(chunks.transpose(1, 2))
        return y.transpose(1, 2).reshape(b, t, c, h, w).transpose(1, 2)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        theta = self.conv_theta(x).flatten(2).transpose(1, 2)  # (B, THW, C')
        pooled = self.pool(x) if self.pool is not None else x
        phi = self.conv_phi(pooled).flatten(2).transpose(1, 2)  # (B, T'H'W', C')
        g = self.conv_g(pooled).flatten(2).transpose(1, 2)
        if self.instantiation == "softmax":
            y = F.scaled_dot_product_attention(theta.unsqueeze(1), phi.unsqueeze(1), g.unsqueeze(1))
            y = y.squeeze(1)
        else:
            y = (theta @ phi.transpose(1, 2)) / phi.shape[1] @ g
        y = y.transpose(1, 2).reshape(b, -1, t, h, w)
        return x + self.bn(self.conv_out(y))
