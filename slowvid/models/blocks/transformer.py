"""Plain transformer pieces shared by the video ViT and TimeSformer.

Papers: "An Image is Worth 16x16 Words", Dosovitskiy et al., arXiv:2010.11929 (the pre-norm
block); "VideoMAE", Tong et al., arXiv:2203.12602 (q/v-only attention bias, the fixed 1-D
sin-cos table); "Going deeper with Image Transformers", Touvron et al., arXiv:2103.17239 (layer
scale). The token head is ``slowvid.models.heads.TokenHead``. Parameter names follow the
original VideoMAE / PySlowFast / TimeSformer releases (``attn.qkv``, ``attn.q_bias``,
``gamma_1``, ``mlp.fc1``) so their checkpoints load by renaming alone; the code is written anew.

Tokens are ``(B, N, C)``. Attention runs through ``F.scaled_dot_product_attention``, which picks
a fused kernel where the device has one; the FLOP counters count it as its two matmuls.
"""

import functools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .attention import DropPath, Mlp

__all__ = [
    "LAYER_NORM",
    "SelfAttention",
    "TransformerBlock",
    "fit_grid_embeddings",
    "resize_grid_embedding",
    "sincos_table",
]

Size3 = tuple[int, int, int]

# eps 1e-6 as in the original ViT, VideoMAE, TimeSformer and PySlowFast releases.
LAYER_NORM = functools.partial(nn.LayerNorm, eps=1e-6)


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused q/k/v projection.

    Args:
        dim: token channels.
        num_heads: attention heads; must divide ``dim``.
        qkv_bias: bias on the q, k, v projections.
        k_bias: with ``qkv_bias``, whether the keys get one too. VideoMAE leaves it out (a key
            bias adds the same logit to every key of a query, which softmax ignores); its
            checkpoints then store ``q_bias`` and ``v_bias`` beside a bias-free ``qkv``.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, k_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{num_heads} heads do not divide {dim} channels")
        self.num_heads = num_heads
        full_bias = qkv_bias and k_bias
        self.qkv = nn.Linear(dim, 3 * dim, bias=full_bias)
        if qkv_bias and not k_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, N, C). Returns: (B, N, C)."""
        b, n, c = x.shape
        if self.q_bias is None:
            qkv = self.qkv(x)
        else:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
            qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block with optional layer scale::

        x -> x + drop_path(gamma_1 * attn(norm1(x))) -> x + drop_path(gamma_2 * mlp(norm2(x)))

    Args:
        dim: token channels.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``dim``.
        qkv_bias: bias on the q, k, v projections.
        k_bias: with ``qkv_bias``, a bias on the keys too (see :class:`SelfAttention`).
        drop_path: stochastic-depth rate of both residual branches.
        layer_scale_init: initial value of the per-channel scales ``gamma``; 0 leaves them out.
        norm: builds the normalisation over channels.
        activation: builds the MLP activation.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        k_bias: bool = True,
        drop_path: float = 0.0,
        layer_scale_init: float = 0.0,
        norm: Callable[[int], nn.Module] = LAYER_NORM,
        activation: Callable[[], nn.Module] = nn.GELU,
    ):
        super().__init__()
        self.norm1 = norm(dim)
        self.attn = SelfAttention(dim, num_heads, qkv_bias, k_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim, activation)
        if layer_scale_init > 0:
            self.gamma_1 = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
            self.gamma_2 = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, N, C). Returns: (B, N, C)."""
        y = self.attn(self.norm1(x))
        x = x + self.drop_path(y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.mlp(self.norm2(x))
        return x + self.drop_path(y if self.gamma_2 is None else self.gamma_2 * y)


def sincos_table(num_positions: int, dim: int) -> torch.Tensor:
    """The fixed 1-D sin-cos position table of "Attention is all you need" (VideoMAE's).

    Position p, channel j: angle ``p / 10000 ** (2 * (j // 2) / dim)``, sine on even channels
    and cosine on odd ones; computed in float64 like the reference, returned as (1, P, dim)
    float32.
    """
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]
    exponent = 2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim
    angle = position / torch.pow(10000.0, exponent)
    table = torch.where(torch.arange(dim) % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float().unsqueeze(0)


def resize_grid_embedding(
    embedding: torch.Tensor, grid: Sequence[int], new_grid: Sequence[int], mode: str
) -> torch.Tensor:
    """A per-token embedding laid out on a grid, interpolated to another grid.

    Args:
        embedding: (1, prod(grid), C), tokens in raster order of ``grid``.
        grid: its grid, 1 to 3 axes ((T,), (H, W) or (T, H, W)).
        new_grid: the grid wanted, same number of axes.
        mode: ``F.interpolate`` mode ("linear", "bicubic", "trilinear", "nearest").

    Returns:
        (1, prod(new_grid), C); ``embedding`` itself when the grids agree.
    """
    grid, new_grid = tuple(grid), tuple(new_grid)
    if grid == new_grid:
        return embedding
    if embedding.shape[1] != math.prod(grid):
        raise ValueError(f"embedding of {embedding.shape[1]} tokens does not fill grid {grid}")
    channels = embedding.shape[-1]
    x = embedding.reshape(1, *grid, channels).movedim(-1, 1)
    corners = None if mode in ("nearest", "area", "nearest-exact") else False
    x = F.interpolate(x.float(), size=new_grid, mode=mode, align_corners=corners)
    return x.movedim(1, -1).reshape(1, -1, channels).to(embedding.dtype)


def _checkpoint_grid(tokens: int, grid: Sequence[int]) -> tuple[int, ...]:
    """The grid a checkpoint's embedding of ``tokens`` positions was laid out on, given the
    model's ``grid``: square in space; in time the model's frame count, else whatever fills the
    model's spatial grid, else the split closest to the model's shape."""
    if len(grid) == 1:
        return (tokens,)
    side = math.isqrt(tokens)
    if len(grid) == 2:
        if side * side == tokens:
            return (side, side)
        raise ValueError(f"{tokens} positions do not form a square grid")
    t, h, w = grid
    splits = [(tokens // (s * s), s) for s in range(1, side + 1) if tokens % (s * s) == 0]
    for frames, s in splits:
        if frames == t:
            return (t, s, s)
    if tokens % (h * w) == 0:
        return (tokens // (h * w), h, w)
    if not splits:
        raise ValueError(f"cannot lay {tokens} positions on a grid like {tuple(grid)}")
    frames, s = min(splits, key=lambda f_s: abs(math.log(f_s[0] / f_s[1]) - math.log(t / h)))
    return (frames, s, s)


def fit_grid_embeddings(
    state: dict[str, torch.Tensor],
    model_state: dict[str, torch.Tensor],
    layouts: dict[str, tuple[Sequence[int], str, int]],
) -> list[str]:
    """Interpolates, in place, checkpoint position embeddings trained for another clip size.

    Args:
        state: checkpoint tensors under the model's names.
        model_state: the model's state dict (target shapes).
        layouts: key -> (the model's grid of that embedding, interpolation mode, leading
            non-grid tokens such as a class token's position).

    Returns:
        The keys that were resized.
    """
    resized = []
    for key, (grid, mode, lead) in layouts.items():
        if key not in state or key not in model_state:
            continue
        value, target = state[key], model_state[key]
        if value.shape == target.shape or value.shape[-1] != target.shape[-1]:
            continue
        old_grid = _checkpoint_grid(value.shape[1] - lead, grid)
        body = resize_grid_embedding(value[:, lead:], old_grid, grid, mode)
        state[key] = torch.cat([value[:, :lead], body], dim=1)
        resized.append(f"{key} {old_grid} -> {tuple(grid)}")
    return resized
