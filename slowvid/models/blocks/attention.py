"""Pooling attention and the multiscale transformer block of MViT.

Paper: "Multiscale Vision Transformers", Fan et al., arXiv:2104.11227 (MViT v1).

The structure (linear q/k/v, then a per-head pooling of each, then attention; a max-pooled skip
path when queries are strided; the width change in the MLP of the block before a new scale) follows
PySlowFast's ``models/attention.py`` (Apache-2.0) so parameter names map one-to-one onto its
checkpoints; the code is written anew.

MViTv2 ("MViTv2: Improved Multiscale Vision Transformers", Li et al., arXiv:2112.01526) adds a
decomposed relative-position bias to the attention logits and a residual ``+ q`` after pooling
attention. Both hook in at :meth:`MultiScaleAttention.attention_logits` and
:meth:`MultiScaleAttention.forward`; they would be new keyword options defaulting to off.

Tokens are ``(B, N, C)`` with ``N = [1 +] T*H*W``: an optional class token first, then the
space-time grid in ``(t, h, w)`` raster order. Every module takes the grid size ``thw`` with the
tokens and returns the pooled one.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "AttentionPool",
    "DropPath",
    "Mlp",
    "MultiScaleAttention",
    "MultiScaleBlock",
    "PoolSpec",
    "check_size3",
    "pool_tokens",
]

Size3 = tuple[int, int, int]


@dataclass(frozen=True)
class PoolSpec:
    """Pooling of the query and key/value tokens of one attention layer.

    Attributes:
        kernel_q: (t, h, w) pooling kernel of the queries; all ones with stride ones = no pooling.
        stride_q: (t, h, w) query stride; it sets the block's output resolution.
        kernel_kv: (t, h, w) pooling kernel of keys and values.
        stride_kv: (t, h, w) key/value stride; it only sets the attention's cost.
        mode: "conv" (depthwise 3D conv + norm, MViT-B), "avg" or "max".
    """

    kernel_q: Size3 = (1, 1, 1)
    stride_q: Size3 = (1, 1, 1)
    kernel_kv: Size3 = (1, 1, 1)
    stride_kv: Size3 = (1, 1, 1)
    mode: str = "conv"


def pool_tokens(
    x: torch.Tensor,
    pool: Callable[[torch.Tensor], torch.Tensor],
    thw: Size3,
    has_cls: bool,
) -> tuple[torch.Tensor, Size3]:
    """Pools the space-time tokens of ``x`` with a 3D operator; the class token passes through.

    Args:
        x: (B, heads, N, C) tokens, ``N = [1 +] T*H*W``.
        pool: maps (B', C, T, H, W) to (B', C, T', H', W').
        thw: the grid (T, H, W) of the tokens.
        has_cls: the first token is a class token.

    Returns:
        (B, heads, N', C) tokens and the pooled grid (T', H', W').
    """
    b, heads, _, c = x.shape
    cls, grid = (x[:, :, :1], x[:, :, 1:]) if has_cls else (None, x)
    grid = grid.reshape(b * heads, *thw, c).permute(0, 4, 1, 2, 3)
    grid = pool(grid)
    thw_out = tuple(grid.shape[2:])
    grid = grid.reshape(b, heads, c, -1).transpose(2, 3)
    return (torch.cat([cls, grid], dim=2) if has_cls else grid), thw_out


class AttentionPool(nn.Module):
    """Pools the tokens of each head, sharing the operator over heads, then normalises them.

    Args:
        head_dim: channels per head.
        kernel: (t, h, w) pooling kernel; padding is ``kernel // 2``.
        stride: (t, h, w) stride.
        mode: "conv" (depthwise Conv3d without bias, then ``norm``), "avg" or "max" (no norm).
        norm: builds a normalisation layer over the last (channel) axis.
        has_cls: the first token is a class token and is not pooled.
    """

    def __init__(
        self,
        head_dim: int,
        kernel: Size3,
        stride: Size3,
        mode: str = "conv",
        norm: Callable[[int], nn.Module] = nn.LayerNorm,
        has_cls: bool = True,
    ):
        super().__init__()
        padding = tuple(k // 2 for k in kernel)
        if mode == "conv":
            self.pool = nn.Conv3d(
                head_dim, head_dim, kernel, stride, padding, groups=head_dim, bias=False
            )
            self.norm = norm(head_dim)
        elif mode in ("avg", "max"):
            op = nn.AvgPool3d if mode == "avg" else nn.MaxPool3d
            self.pool = op(kernel, stride, padding)
            self.norm = nn.Identity()
        else:
            raise ValueError(f"pooling mode must be 'conv', 'avg' or 'max', got {mode!r}")
        self.has_cls = has_cls

    def forward(self, x: torch.Tensor, thw: Size3) -> tuple[torch.Tensor, Size3]:
        """Args: x: (B, heads, N, head_dim); thw: its grid. Returns: pooled tokens and grid."""
        x, thw = pool_tokens(x, self.pool, thw, self.has_cls)
        return self.norm(x), thw


def _is_identity(kernel: Size3, stride: Size3) -> bool:
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride)


class MultiScaleAttention(nn.Module):
    """Multi-head pooling attention (MHPA, MViT §3.1).

    ::

        x (B, N, C) -> q, k, v linear -> split heads (B, h, N, C/h)
          -> pool q by stride_q, k and v by stride_kv (AttentionPool, shared over heads)
          -> softmax(q k^T / sqrt(C/h)) v  (B, h, N_q, C/h) -> merge heads -> proj
        (B, N_q, C), N_q = [1 +] T*H*W / prod(stride_q)

    Args:
        dim: token channels C.
        num_heads: attention heads h; must divide ``dim``.
        qkv_bias: bias on the q, k, v projections.
        pool: pooling kernels, strides and mode.
        norm: builds the norm applied after conv pooling.
        has_cls: the first token is a class token.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        pool: PoolSpec = PoolSpec(),
        norm: Callable[[int], nn.Module] = nn.LayerNorm,
        has_cls: bool = True,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{num_heads} heads do not divide {dim} channels")
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        # Separate projections (not one fused qkv) so PySlowFast MViT v1 checkpoints load as is.
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

        def make_pool(kernel: Size3, stride: Size3) -> AttentionPool | None:
            if _is_identity(kernel, stride):
                return None
            return AttentionPool(head_dim, kernel, stride, pool.mode, norm, has_cls)

        self.pool_q = make_pool(pool.kernel_q, pool.stride_q)
        self.pool_k = make_pool(pool.kernel_kv, pool.stride_kv)
        self.pool_v = make_pool(pool.kernel_kv, pool.stride_kv)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def attention_logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Scaled dot products (B, h, N_q, N_kv); MViTv2 would add its relative bias here."""
        return (q * self.scale) @ k.transpose(-2, -1)

    def forward(self, x: torch.Tensor, thw: Size3) -> tuple[torch.Tensor, Size3]:
        """Args: x: (B, N, C) tokens on grid ``thw``.

        Returns: (B, N_q, C) tokens and their grid (T/s_t, H/s_h, W/s_w) for stride_q s.
        """
        b, _, c = x.shape
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        thw_q = thw
        if self.pool_q is not None:
            q, thw_q = self.pool_q(q, thw)
        if self.pool_k is not None:
            k, _ = self.pool_k(k, thw)
            v, _ = self.pool_v(v, thw)
        attn = self.attention_logits(q, k).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, -1, c)
        return self.proj(x), thw_q


class DropPath(nn.Module):
    """Zeroes a whole residual branch per sample with probability ``rate`` (stochastic depth)."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, ...). Returns: x, each sample zeroed or scaled by 1 / (1 - rate)."""
        if self.rate == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.rate)
        return x * keep / (1 - self.rate)


class Mlp(nn.Module):
    """Two linear layers with an activation between (the transformer feed-forward layer).

    Args:
        dim_in: input channels.
        dim_inner: hidden channels.
        dim_out: output channels.
        activation: builds the activation.
    """

    def __init__(
        self,
        dim_in: int,
        dim_inner: int,
        dim_out: int,
        activation: Callable[[], nn.Module],
    ):
        super().__init__()
        self.fc1 = nn.Linear(dim_in, dim_inner)
        self.act = activation()
        self.fc2 = nn.Linear(dim_inner, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (..., dim_in). Returns: (..., dim_out)."""
        return self.fc2(self.act(self.fc1(x)))


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block with pooling attention (MViT v1 block).

    ::

        x (B, N, C) --norm1--> MHPA ----------------------------+
          \\--maxpool(stride_q)-------------------------------(+)-> y (B, N_q, C)
        y --norm2--> MLP (C -> mlp_ratio*C -> C_out) -----------+
          \\--[linear C -> C_out when C != C_out, on norm2(y)]-(+)-> (B, N_q, C_out)

    The width grows in the MLP of the block *before* a new scale, as in MViT v1 and PySlowFast.

    Args:
        dim: input channels C.
        dim_out: output channels C_out.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``dim``.
        qkv_bias: bias on the q, k, v projections.
        drop_path: stochastic-depth rate of both residual branches.
        pool: attention pooling; its query stride also strides the skip path.
        norm: builds a normalisation layer over the channel axis.
        activation: builds the MLP activation.
        has_cls: the first token is a class token.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        pool: PoolSpec = PoolSpec(),
        norm: Callable[[int], nn.Module] = nn.LayerNorm,
        activation: Callable[[], nn.Module] = nn.GELU,
        has_cls: bool = True,
    ):
        super().__init__()
        self.norm1 = norm(dim)
        self.attn = MultiScaleAttention(dim, num_heads, qkv_bias, pool, norm, has_cls)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim_out, activation)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        self.has_cls = has_cls
        # The skip path must shrink like the queries; kernel s + 1 covers each strided window.
        if any(s > 1 for s in pool.stride_q):
            kernel = tuple(s + 1 if s > 1 else s for s in pool.stride_q)
            padding = tuple(k // 2 for k in kernel)
            self.pool_skip = nn.MaxPool3d(kernel, pool.stride_q, padding)
        else:
            self.pool_skip = None

    def forward(self, x: torch.Tensor, thw: Size3) -> tuple[torch.Tensor, Size3]:
        """Args: x: (B, N, dim) tokens on grid ``thw``. Returns: (B, N_q, dim_out) and its grid."""
        y, thw_out = self.attn(self.norm1(x), thw)
        if self.pool_skip is not None:
            x = pool_tokens(x.unsqueeze(1), self.pool_skip, thw, self.has_cls)[0].squeeze(1)
        x = x + self.drop_path(y)
        x_norm = self.norm2(x)
        if self.proj is not None:
            x = self.proj(x_norm)
        return x + self.drop_path(self.mlp(x_norm)), thw_out


def check_size3(name: str, value: Sequence[int]) -> Size3:
    """``value`` as a (t, h, w) tuple; raises ValueError naming ``name`` otherwise."""
    if len(value) != 3:
        raise ValueError(f"{name} must have 3 entries (t, h, w), got {list(value)}")
    return tuple(int(v) for v in value)
