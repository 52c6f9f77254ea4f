"""Pooling attention and the multiscale transformer block of MViT.

Paper: "Multiscale Vision Transformers", Fan et al., arXiv:2104.11227 (MViT v1).

The structure (linear q/k/v, then a per-head pooling of each, then attention; a max-pooled skip
path when queries are strided; the width change in the MLP of the block before a new scale) follows
PySlowFast's ``models/attention.py`` (Apache-2.0) so parameter names map one-to-one onto its
checkpoints; the code is written anew.

MViTv2 ("MViTv2: Improved Multiscale Vision Transformers", Li et al., arXiv:2112.01526) adds a
decomposed relative-position bias to the attention logits (``relative_position.py``), a residual
``+ q`` after pooling attention, and grows the width inside attention instead of in the MLP of the
block before; :class:`MViTv2Options` switches them on, all off giving MViT v1.

Tokens are ``(B, N, C)`` with ``N = [1 +] T*H*W``: an optional class token first, then the
space-time grid in ``(t, h, w)`` raster order. Every module takes the grid size ``thw`` with the
tokens and returns the pooled one.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .relative_position import relative_position_bias

__all__ = [
    "AttentionPool",
    "DropPath",
    "MViTv2Options",
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


@dataclass(frozen=True)
class MViTv2Options:
    """The MViTv2 changes to the MViT block; all off is MViT v1.

    Attributes:
        rel_pos_spatial: decomposed relative-position bias over height and width.
        rel_pos_temporal: decomposed relative-position bias over time.
        residual_pooling: add the pooled queries to the attention output.
        dim_mul_in_att: a block that changes width does so in its attention (q, k, v project to
            the new width) rather than in its MLP.
    """

    rel_pos_spatial: bool = False
    rel_pos_temporal: bool = False
    residual_pooling: bool = False
    dim_mul_in_att: bool = False


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
    # Contiguous NCTHW: on CUDA this picks ATen's depthwise-3D kernel, ~1.7x faster in training
    # than the cuDNN grouped kernel a permuted (channels-last) view gets.
    grid = grid.reshape(b * heads, *thw, c).permute(0, 4, 1, 2, 3).contiguous()
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
    """Multi-head pooling attention (MHPA, MViT §3.1), with MViTv2's options.

    ::

        x (B, N, C) -> q, k, v linear (C -> C_out) -> split heads (B, h, N, C_out/h)
          -> pool q by stride_q, k and v by stride_kv (AttentionPool, shared over heads)
          -> softmax(q k^T / sqrt(C_out/h) [+ rel. position bias]) v [+ q]
          -> merge heads -> proj
        (B, N_q, C_out), N_q = [1 +] T*H*W / prod(stride_q)

    Args:
        dim: token channels C.
        num_heads: attention heads h; must divide ``dim_out``.
        qkv_bias: bias on the q, k, v projections.
        pool: pooling kernels, strides and mode.
        norm: builds the norm applied after conv pooling.
        has_cls: the first token is a class token.
        dim_out: channels of q, k, v and of the output; ``dim`` when None.
        v2: MViTv2's relative positions and residual pooling (dim_mul_in_att is the block's).
        input_grid: (T, H, W) the block sees at construction; sizes the relative-position tables.
        separate_qkv: three q, k, v projections (PySlowFast ``SEPARATE_QKV``, PyTorchVideo's
            layout) instead of one fused ``qkv`` (one matmul, PySlowFast's default layout).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        pool: PoolSpec = PoolSpec(),
        norm: Callable[[int], nn.Module] = nn.LayerNorm,
        has_cls: bool = True,
        dim_out: int | None = None,
        v2: MViTv2Options = MViTv2Options(),
        input_grid: Size3 | None = None,
        separate_qkv: bool = True,
    ):
        super().__init__()
        dim_out = dim_out or dim
        if dim_out % num_heads:
            raise ValueError(f"{num_heads} heads do not divide {dim_out} channels")
        self.num_heads = num_heads
        head_dim = dim_out // num_heads
        self.scale = head_dim**-0.5
        self.has_cls = has_cls
        self.residual_pooling = v2.residual_pooling
        if separate_qkv:
            self.q = nn.Linear(dim, dim_out, bias=qkv_bias)
            self.k = nn.Linear(dim, dim_out, bias=qkv_bias)
            self.v = nn.Linear(dim, dim_out, bias=qkv_bias)
            self.qkv = None
        else:
            self.qkv = nn.Linear(dim, 3 * dim_out, bias=qkv_bias)
        self.proj = nn.Linear(dim_out, dim_out)
        self.rel_pos_h = self.rel_pos_w = self.rel_pos_t = None
        if v2.rel_pos_spatial or v2.rel_pos_temporal:
            if input_grid is None:
                raise ValueError("relative positions need the block's input_grid")
            t, h, w = input_grid
            if v2.rel_pos_spatial:
                # Rows for every offset between the query grid and the (pooled) key grid.
                q_side = h // pool.stride_q[1]
                kv_side = h // pool.stride_kv[1]
                rows = 2 * max(q_side, kv_side) - 1
                self.rel_pos_h = nn.Parameter(torch.zeros(rows, head_dim))
                self.rel_pos_w = nn.Parameter(torch.zeros(rows, head_dim))
            if v2.rel_pos_temporal:
                self.rel_pos_t = nn.Parameter(torch.zeros(2 * t - 1, head_dim))

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

    def position_bias(self, q: torch.Tensor, q_grid: Size3, k_grid: Size3) -> torch.Tensor | None:
        """MViTv2's relative-position bias (B, h, N_q, N_kv) for the logits, None when off."""
        tables = {
            name: table
            for name, table in (("t", self.rel_pos_t), ("h", self.rel_pos_h), ("w", self.rel_pos_w))
            if table is not None
        }
        if not tables:
            return None
        return relative_position_bias(q, q_grid, k_grid, tables, self.has_cls)

    def forward(self, x: torch.Tensor, thw: Size3) -> tuple[torch.Tensor, Size3]:
        """Args: x: (B, N, C) tokens on grid ``thw``.

        Returns: (B, N_q, C) tokens and their grid (T/s_t, H/s_h, W/s_w) for stride_q s.
        """
        b, n = x.shape[:2]
        if self.qkv is None:
            q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        else:
            qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        thw_q = thw_k = thw
        if self.pool_q is not None:
            q, thw_q = self.pool_q(q, thw)
        if self.pool_k is not None:
            k, thw_k = self.pool_k(k, thw)
            v, _ = self.pool_v(v, thw)
        # One fused kernel (flash / memory-efficient where the device has them) instead of
        # materialising softmax(q k^T) v step by step.
        bias = self.position_bias(q, thw_q, thw_k)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        if self.residual_pooling:
            # The class token attends but takes no residual (MViTv2 §4.1, as PySlowFast).
            skip = int(self.has_cls)
            x = torch.cat([x[:, :, :skip], x[:, :, skip:] + q[:, :, skip:]], dim=2)
        x = x.transpose(1, 2).reshape(b, x.shape[2], -1)
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
        return x * keep.div_(1 - self.rate)  # scale the (B, 1, ...) mask, not x: one pass over x


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
    """Pre-norm transformer block with pooling attention (MViT v1, or v2 with ``v2`` options).

    ::

        x (B, N, C) --norm1--> MHPA ----------------------------+
          \\--maxpool(stride_q)-------------------------------(+)-> y (B, N_q, C)
        y --norm2--> MLP (C -> mlp_ratio*C -> C_out) -----------+
          \\--[linear C -> C_out when C != C_out, on norm2(y)]-(+)-> (B, N_q, C_out)

    In v1 the width grows in the MLP of the block *before* a new scale, as in PySlowFast. With
    ``v2.dim_mul_in_att`` it grows in the attention of the block itself: MHPA maps C -> C_out,
    the skip path is ``linear(norm1(x))`` and the MLP keeps C_out.

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
        v2: the MViTv2 options.
        input_grid: (T, H, W) of this block's input at construction (for relative positions).
        layer_scale_init: initial value of per-channel scales ``gamma_1`` / ``gamma_2`` on the
            two residual branches (PySlowFast ``LAYER_SCALE_INIT_VALUE``); 0 leaves them out.
        separate_qkv: three q, k, v projections instead of one fused ``qkv``.
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
        v2: MViTv2Options = MViTv2Options(),
        input_grid: Size3 | None = None,
        layer_scale_init: float = 0.0,
        separate_qkv: bool = True,
    ):
        super().__init__()
        att_dim = dim_out if v2.dim_mul_in_att else dim
        self.norm1 = norm(dim)
        self.attn = MultiScaleAttention(
            dim, num_heads, qkv_bias, pool, norm, has_cls, att_dim, v2, input_grid, separate_qkv
        )
        if layer_scale_init > 0:
            self.gamma_1 = nn.Parameter(torch.full((att_dim,), float(layer_scale_init)))
            self.gamma_2 = nn.Parameter(torch.full((dim_out,), float(layer_scale_init)))
        else:
            self.gamma_1 = self.gamma_2 = None
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm(att_dim)
        self.mlp = Mlp(att_dim, int(att_dim * mlp_ratio), dim_out, activation)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        self.dim_mul_in_att = v2.dim_mul_in_att
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
        x_norm = self.norm1(x)
        y, thw_out = self.attn(x_norm, thw)
        if self.proj is not None and self.dim_mul_in_att:
            x = self.proj(x_norm)
        if self.pool_skip is not None:
            x = pool_tokens(x.unsqueeze(1), self.pool_skip, thw, self.has_cls)[0].squeeze(1)
        x = x + self.drop_path(y if self.gamma_1 is None else self.gamma_1 * y)
        x_norm = self.norm2(x)
        if self.proj is not None and not self.dim_mul_in_att:
            x = self.proj(x_norm)
        y = self.mlp(x_norm)
        return x + self.drop_path(y if self.gamma_2 is None else self.gamma_2 * y), thw_out


def check_size3(name: str, value: Sequence[int]) -> Size3:
    """``value`` as a (t, h, w) tuple; raises ValueError naming ``name`` otherwise."""
    if len(value) != 3:
        raise ValueError(f"{name} must have 3 entries (t, h, w), got {list(value)}")
    return tuple(int(v) for v in value)
