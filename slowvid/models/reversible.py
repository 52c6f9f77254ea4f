"""Reversible transformer layers: Rev-ViT and Rev-MViT (PySlowFast's ``MVIT.REV``).

Paper: "Reversible Vision Transformers", Mangalam et al., CVPR 2022.

Two streams ``(X1, X2)`` pass through each reversible block as

    Y1 = X1 + F(X2)      F = LayerNorm -> attention
    Y2 = X2 + G(Y1)      G = LayerNorm -> MLP

which can be inverted, ``X2 = Y2 - G(Y1)``, ``X1 = Y1 - F(X2)``. So a run of reversible blocks
keeps only its output for the backward pass and recomputes every block's input from it, one block
at a time, instead of storing all activations: activation memory no longer grows with depth.
MViT's resolution changes (query pooling, width growth) are not invertible; those layers are
ordinary "stage transition" blocks (``MVIT.REV.BUFFER_LAYERS``) that fuse the two streams into
one (``PRE_Q_FUSION``) and start a new reversible run after them.

The layer layout, the fusion modes and the parameter names (``F.attn``, ``G.mlp``,
``pre_q_fuse``, ``res_proj``) follow PySlowFast's ``models/reversible_mvit.py`` and
``models/common.py`` ``TwoStreamFusion`` (Apache-2.0); the code is written anew. Unlike
PySlowFast, which re-seeds the global RNG in every block, the one random choice a block makes
(its drop-path mask) is kept on the block between forward and backward.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .blocks.attention import (
    Mlp,
    MultiScaleAttention,
    PoolSpec,
    Size3,
    pool_tokens,
)

__all__ = [
    "FUSIONS",
    "RevOptions",
    "ReversibleBlock",
    "StageTransitionBlock",
    "TwoStreamFusion",
    "fusion_out_dim",
    "make_reversible_layers",
    "run_reversible",
]

# Ways of merging the two streams (concatenated on channels): "concat" keeps both, "add" /
# "max" / "min" / "avg" reduce the halves, "concat_linear_{mult}_{drop}" applies an MLP of
# hidden width mult x (default 1, dropout default 0), "ln+concat_linear..." a LayerNorm first.
FUSIONS = ("concat", "add", "max", "min", "avg", "concat_linear", "ln+concat_linear")


@dataclass(frozen=True)
class RevOptions:
    """PySlowFast's ``MVIT.REV`` settings.

    Attributes:
        respath_fuse: fusion of the two output streams before the head (see :data:`FUSIONS`).
        buffer_layers: indices of the stage-transition (non-reversible) layers; every layer that
            strides its queries or changes width must be one.
        res_path: how a transition pools its skip path: "conv" (the query's pooling, weights
            shared) or "max".
        pre_q_fusion: fusion of the two streams entering a transition layer.
    """

    respath_fuse: str = "concat"
    buffer_layers: tuple[int, ...] = ()
    res_path: str = "conv"
    pre_q_fusion: str = "avg"


def fusion_out_dim(mode: str, dim: int) -> int:
    """Channels out of a fusion of ``mode`` (see :data:`FUSIONS`) for ``dim`` channels in."""
    return dim // 2 if mode in ("add", "max", "min", "avg") else dim


class TwoStreamFusion(nn.Module):
    """Merges two equal streams concatenated on the channel axis.

    Args:
        mode: one of :data:`FUSIONS` (``concat_linear`` takes ``_{mult}[_{drop}]`` suffixes).
        dim: channels of the concatenated input (both streams).
    """

    def __init__(self, mode: str, dim: int):
        super().__init__()
        self.mode = mode
        self.fuse_fn = None
        if "concat_linear" in mode:
            parts = mode.split("+")[-1].split("_")[2:]
            if len(parts) > 2 or not mode.split("+")[-1].startswith("concat_linear"):
                raise ValueError(f"fusion {mode!r}: expected concat_linear[_mult[_drop]]")
            mult = float(parts[0]) if parts else 1.0
            drop = float(parts[1]) if len(parts) > 1 else 0.0
            mlp = Mlp(dim, int(dim * mult), dim, nn.GELU)
            layers = [nn.LayerNorm(dim), mlp] if mode.startswith("ln+") else [mlp]
            if drop > 0:
                layers.append(nn.Dropout(drop))
            self.fuse_fn = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
        elif mode not in FUSIONS:
            raise ValueError(f"unknown fusion {mode!r}; choices: {', '.join(FUSIONS)}")

    def out_dim(self, dim: int) -> int:
        """Channels out of the fusion for ``dim`` channels in."""
        return fusion_out_dim(self.mode, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (..., 2C) both streams. Returns: (..., C) or (..., 2C) for concat modes."""
        if self.fuse_fn is not None:
            return self.fuse_fn(x)
        if self.mode == "concat":
            return x
        a, b = x.chunk(2, dim=-1)
        if self.mode == "add":
            return a + b
        if self.mode == "avg":
            return (a + b) / 2
        return torch.maximum(a, b) if self.mode == "max" else torch.minimum(a, b)


class _AttentionSub(nn.Module):
    """F: LayerNorm -> (pooling) attention."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, attention_kwargs: dict, norm):
        super().__init__()
        self.norm = norm(dim)
        self.attn = MultiScaleAttention(
            dim, num_heads, dim_out=dim_out, norm=norm, **attention_kwargs
        )

    def forward(self, x: torch.Tensor, thw: Size3) -> tuple[torch.Tensor, Size3]:
        return self.attn(self.norm(x), thw)


class _MlpSub(nn.Module):
    """G: LayerNorm -> MLP."""

    def __init__(self, dim: int, mlp_ratio: float, norm):
        super().__init__()
        self.norm = norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim, nn.GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(x))


def _drop_path_mask(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor | None:
    """Per-sample keep mask scaled by 1 / (1 - rate), or None when nothing is dropped."""
    if rate == 0.0 or not training:
        return None
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - rate)
    return keep / (1 - rate)


class ReversibleBlock(nn.Module):
    """``Y1 = X1 + F(X2)``, ``Y2 = X2 + G(Y1)``; width and grid unchanged (keys may be pooled).

    Args:
        dim: channels of each stream.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``dim``.
        drop_path: stochastic-depth rate; one mask per sample serves both branches.
        attention_kwargs: further :class:`MultiScaleAttention` arguments (pooling, bias...).
        norm: builds the LayerNorms.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        drop_path: float,
        attention_kwargs: dict,
        norm: Callable[[int], nn.Module],
    ):
        super().__init__()
        self.F = _AttentionSub(dim, dim, num_heads, attention_kwargs, norm)
        self.G = _MlpSub(dim, mlp_ratio, norm)
        self.drop_path_rate = drop_path
        self._mask: torch.Tensor | None = None

    def _branch(self, y: torch.Tensor) -> torch.Tensor:
        return y if self._mask is None else y * self._mask

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, thw: Size3):
        """Args: the two streams (B, N, C) on grid ``thw``. Returns: (Y1, Y2)."""
        self._mask = _drop_path_mask(x1, self.drop_path_rate, self.training)
        y1 = x1 + self._branch(self.F(x2, thw)[0])
        y2 = x2 + self._branch(self.G(y1))
        return y1, y2

    def backward_pass(self, y1, y2, dy1, dy2, thw: Size3):
        """Recomputes this block's inputs from its outputs and back-propagates through it.

        Parameter gradients accumulate into ``.grad``; returns ``(X1, X2, dX1, dX2)``.
        """
        with torch.enable_grad():
            y1 = y1.detach().requires_grad_()
            g = self._branch(self.G(y1))
            g.backward(dy2)
        with torch.no_grad():
            x2 = y2 - g
            dy1 = dy1 + y1.grad
        with torch.enable_grad():
            x2 = x2.detach().requires_grad_()
            f = self._branch(self.F(x2, thw)[0])
            f.backward(dy1)
        with torch.no_grad():
            x1 = y1 - f
            dx2 = dy2 + x2.grad
        return x1.detach(), x2.detach(), dy1, dx2


class _RevBackProp(torch.autograd.Function):
    """Runs reversible blocks keeping only the last output; the backward recomputes the rest."""

    @staticmethod
    def forward(ctx, x, blocks, thw, autocast):
        x1, x2 = x.chunk(2, dim=-1)
        with torch.no_grad(), torch.autocast(x.device.type, dtype=autocast[1], enabled=autocast[0]):
            for block in blocks:
                x1, x2 = block(x1, x2, thw)
        ctx.save_for_backward(x1, x2)
        ctx.blocks, ctx.thw, ctx.autocast = blocks, thw, autocast
        return torch.cat([x1, x2], dim=-1)

    @staticmethod
    def backward(ctx, dy):
        y1, y2 = ctx.saved_tensors
        dy1, dy2 = dy.chunk(2, dim=-1)
        enabled, dtype = ctx.autocast
        # The recomputation must see the precision the forward ran at.
        with torch.autocast(dy.device.type, dtype=dtype, enabled=enabled):
            for block in reversed(ctx.blocks):
                y1, y2, dy1, dy2 = block.backward_pass(y1, y2, dy1, dy2, ctx.thw)
        return torch.cat([dy1, dy2], dim=-1), None, None, None


class StageTransitionBlock(nn.Module):
    """A non-reversible block that fuses the streams, pools queries and widens (Rev-MViT §3.3.1).

    ::

        x (B, N, 2C_in) -> pre_q_fuse -> (B, N, D)
          skip: [res_proj D -> C_out] -> pooled like the queries (conv, shared) or max-pooled
          x = skip + F(x)        F: LayerNorm -> pooling attention D -> C_out
          x = x + G(x)           G: LayerNorm -> MLP
          drop_path(x)           (B, N', C_out), one stream

    Args:
        dim: channels after ``pre_q_fuse`` (2 x the stream width for concat fusions).
        dim_out: output channels.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``dim_out``.
        drop_path: stochastic-depth rate (applied to the whole output, as PySlowFast does).
        pool: attention pooling; its query stride sets the output grid.
        attention_kwargs: further :class:`MultiScaleAttention` arguments.
        norm: builds the LayerNorms.
        pre_q_fusion: fusion of the incoming streams; ``dim`` is its output width.
        res_path: "conv" or "max" (see :class:`RevOptions`).
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float,
        drop_path: float,
        pool: PoolSpec,
        attention_kwargs: dict,
        norm: Callable[[int], nn.Module],
        pre_q_fusion: str,
        res_path: str,
    ):
        super().__init__()
        in_dim = dim if "concat" in pre_q_fusion else 2 * dim
        self.pre_q_fuse = TwoStreamFusion(pre_q_fusion, dim=in_dim)
        self.F = _AttentionSub(dim, dim_out, num_heads, {**attention_kwargs, "pool": pool}, norm)
        self.G = _MlpSub(dim_out, mlp_ratio, norm)
        self.res_proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        if res_path == "conv":
            if self.F.attn.pool_q is None:
                raise ValueError("MVIT.REV.RES_PATH conv: a transition layer needs query pooling")
            self.pool_skip = None
        elif res_path == "max":
            kernel = tuple(s + 1 if s > 1 else s for s in pool.stride_q)
            self.pool_skip = nn.MaxPool3d(kernel, pool.stride_q, tuple(k // 2 for k in kernel))
        else:
            raise ValueError(f"MVIT.REV.RES_PATH must be 'conv' or 'max', got {res_path!r}")
        self.num_heads = num_heads
        self.drop_path_rate = drop_path

    def forward(self, x: torch.Tensor, thw: Size3) -> tuple[torch.Tensor, Size3]:
        """Args: x: (B, N, 2C_in) both streams on ``thw``. Returns: (B, N', C_out), new grid."""
        x = self.pre_q_fuse(x)
        skip = self.res_proj(x) if self.res_proj is not None else x
        if self.pool_skip is None:
            # The skip path goes through the queries' own pooling (shared weights), per head.
            b, n, c = skip.shape
            heads = skip.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)
            heads, _ = self.F.attn.pool_q(heads, thw)
            skip = heads.transpose(1, 2).reshape(b, heads.shape[2], c)
        else:
            skip = pool_tokens(skip.unsqueeze(1), self.pool_skip, thw, False)[0].squeeze(1)
        y, thw_out = self.F(x, thw)
        x = skip + y
        x = x + self.G(x)
        mask = _drop_path_mask(x, self.drop_path_rate, self.training)
        return (x if mask is None else x * mask), thw_out


def run_reversible(
    layers: Sequence[nn.Module], x: torch.Tensor, thw: Size3, custom_backward: bool = True
) -> torch.Tensor:
    """Tokens through Rev-ViT / Rev-MViT layers.

    Each run of reversible blocks starts from its input duplicated into two streams; a
    transition layer fuses them into one. In training with gradients, runs use the memory-saving
    backward unless ``custom_backward`` is off (plain autograd through the same blocks: same
    results, all activations kept).

    Args:
        layers: :class:`ReversibleBlock` and :class:`StageTransitionBlock` in order, the first
            and the last reversible.
        x: (B, N, C) tokens on grid ``thw``.
        thw: the token grid.
        custom_backward: recompute activations in the backward pass.

    Returns:
        (B, N', 2C') both streams of the last run.
    """
    run: list[ReversibleBlock] = []

    def flush(x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, x], dim=-1)
        if custom_backward and torch.is_grad_enabled() and run[0].training:
            device = x.device.type
            autocast = (torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
            return _RevBackProp.apply(x, tuple(run), thw, autocast)
        x1, x2 = x.chunk(2, dim=-1)
        for block in run:
            x1, x2 = block(x1, x2, thw)
        return torch.cat([x1, x2], dim=-1)

    for layer in layers:
        if isinstance(layer, StageTransitionBlock):
            x = flush(x)
            run = []
            x, thw = layer(x, thw)
        else:
            run.append(layer)
    return flush(x)


def make_reversible_layers(
    specs: Sequence,
    rev: RevOptions,
    mlp_ratio: float,
    norm: Callable[[int], nn.Module],
    attention_kwargs: dict,
    grids: Sequence[Size3],
) -> nn.ModuleList:
    """Rev-ViT / Rev-MViT layers from MViT block specs (widths grown in attention).

    Args:
        specs: :class:`~slowvid.models.mvit.MViTBlockSpec` per layer (``dim``, ``dim_out``,
            ``num_heads``, ``pool``, ``drop_path``), built with ``dim_mul_in_att``.
        rev: the reversible options; ``buffer_layers`` become transitions.
        mlp_ratio: MLP hidden width over the block width.
        norm: builds the LayerNorms.
        attention_kwargs: :class:`MultiScaleAttention` bias / layout arguments.
        grids: each layer's input token grid.

    Raises:
        ValueError: naming MVIT.REV.BUFFER_LAYERS when a layer that pools queries or widens is
            not a transition, or transitions sit first, last or side by side.
    """
    buffer = set(rev.buffer_layers)
    problems = []
    for i, s in enumerate(specs):
        changes = s.dim != s.dim_out or s.pool.stride_q != (1, 1, 1) or s.pool.kernel_q != (1, 1, 1)
        if changes and i not in buffer:
            problems.append(f"layer {i} pools queries or widens, so it must be a buffer layer")
    if any(not 0 <= i < len(specs) for i in buffer):
        problems.append(f"indices must lie in [0, {len(specs)})")
    if buffer & {0, len(specs) - 1}:
        problems.append("the first and last layers must be reversible")
    if any(i + 1 in buffer for i in buffer):
        problems.append("two buffer layers may not be adjacent")
    if problems:
        raise ValueError(f"MVIT.REV.BUFFER_LAYERS {sorted(buffer)}: " + "; ".join(problems))
    concat = "concat" in rev.pre_q_fusion
    layers = []
    for i, (s, grid) in enumerate(zip(specs, grids, strict=True)):
        kwargs = {**attention_kwargs, "has_cls": False, "input_grid": grid}
        if i in buffer:
            layer = StageTransitionBlock(
                s.dim * (2 if concat else 1),
                s.dim_out,
                s.num_heads,
                mlp_ratio,
                s.drop_path,
                s.pool,
                kwargs,
                norm,
                rev.pre_q_fusion,
                rev.res_path,
            )
        else:
            kwargs["pool"] = s.pool
            layer = ReversibleBlock(s.dim, s.num_heads, mlp_ratio, s.drop_path, kwargs, norm)
        layers.append(layer)
    return nn.ModuleList(layers)
