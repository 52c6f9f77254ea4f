"""Multiscale Vision Transformers: MViT v1 (B 16x4, B 32x3) and MViTv2 (S, B).

Papers: "Multiscale Vision Transformers", Fan et al., arXiv:2104.11227; "MViTv2: Improved
Multiscale Vision Transformers", Li et al., arXiv:2112.01526 (relative positions, residual
pooling, width grown in attention; see :class:`~slowvid.models.blocks.attention.MViTv2Options`).

The layout (cube patch embedding, separable space/time positional embedding, class token,
per-block width / head / query-stride schedule, adaptive key/value stride) and the MViT-B
settings follow PySlowFast's ``models/video_model_builder.py`` ``MViT`` and
``configs/Kinetics/MVIT_B_*_CONV.yaml`` and PyTorchVideo's ``create_multiscale_vision_transformers``
/ hub ``mvit_base_16x4`` (both Apache-2.0); the code is written anew.

Assumptions: one pathway; the clip size given at construction (DATA.NUM_FRAMES x
DATA.TRAIN_CROP_SIZE^2) sizes the positional embedding, which is interpolated when a clip of
another size (e.g. a 256 test crop) arrives.
"""

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from slowvid.registry import MODELS

from .base import InputSpec, VideoModel
from .blocks.attention import MultiScaleBlock, MViTv2Options, PoolSpec, Size3, check_size3
from .blocks.transformer import fit_grid_embeddings, resize_grid_embedding
from .heads import TokenHead
from .reversible import (
    RevOptions,
    TwoStreamFusion,
    fusion_out_dim,
    make_reversible_layers,
    run_reversible,
)

__all__ = [
    "LAYER_NORM",
    "MViT",
    "MViTBlockSpec",
    "PatchSpec",
    "make_mvit_blocks",
]

# The norm of every MViT block; eps 1e-6 as in PySlowFast, so released weights behave the same.
LAYER_NORM = functools.partial(nn.LayerNorm, eps=1e-6)


@dataclass(frozen=True)
class PatchSpec:
    """The cube patch embedding: one Conv3d from pixels to tokens.

    Attributes:
        kernel: (t, h, w) kernel.
        stride: (t, h, w) stride; the token grid is the clip size divided by it.
        padding: (t, h, w) padding.
    """

    kernel: Size3 = (3, 7, 7)
    stride: Size3 = (2, 4, 4)
    padding: Size3 = (1, 3, 3)


@dataclass(frozen=True)
class MViTBlockSpec:
    """One transformer block of MViT.

    Attributes:
        dim: input channels.
        dim_out: output channels (the next block's ``dim``).
        num_heads: attention heads.
        pool: attention pooling (query stride, key/value stride, kernels).
        drop_path: stochastic-depth rate.
    """

    dim: int
    dim_out: int
    num_heads: int
    pool: PoolSpec
    drop_path: float = 0.0


def _round_width(width: float, divisor: int = 1) -> int:
    """``width`` rounded to a multiple of ``divisor``, never below 90% of it (PySlowFast rule)."""
    out = max(divisor, int(width + divisor / 2) // divisor * divisor)
    return int(out + divisor if out < 0.9 * width else out)


def _at_blocks(depth: int, entries: Sequence[Sequence[float]], name: str) -> dict[int, list]:
    """``[[block, v...], ...]`` as ``{block: [v...]}``, checking block indices."""
    table = {}
    for entry in entries:
        if not 0 <= int(entry[0]) < depth:
            raise ValueError(f"{name}: block index {entry[0]} is outside [0, DEPTH={depth})")
        table[int(entry[0])] = list(entry[1:])
    return table


def make_mvit_blocks(
    depth: int = 16,
    embed_dim: int = 96,
    num_heads: int = 1,
    dim_mul: Sequence[Sequence[float]] = ((1, 2.0), (3, 2.0), (14, 2.0)),
    head_mul: Sequence[Sequence[float]] = ((1, 2.0), (3, 2.0), (14, 2.0)),
    pool_q_stride: Sequence[Sequence[int]] = (
        (1, 1, 2, 2),
        (3, 1, 2, 2),
        (14, 1, 2, 2),
    ),
    pool_kvq_kernel: Sequence[int] = (3, 3, 3),
    pool_kv_stride_adaptive: Sequence[int] = (1, 8, 8),
    droppath_rate: float = 0.0,
    mode: str = "conv",
    dim_mul_in_att: bool = False,
    pool_kv_stride: Sequence[Sequence[int]] = (),
) -> tuple[MViTBlockSpec, ...]:
    """The block specs of an MViT (defaults: MViT-B).

    Args:
        depth: number of blocks.
        embed_dim: channels of the first block.
        num_heads: heads of the first block.
        dim_mul: ``[[block, factor], ...]``: the width is multiplied at these blocks.
        head_mul: ``[[block, factor], ...]``: the head count is multiplied at these blocks.
        pool_q_stride: ``[[block, s_t, s_h, s_w], ...]``: query (and resolution) strides.
        pool_kvq_kernel: (t, h, w) pooling kernel of q and kv; empty gives stride + 1 per axis
            (stride 1 keeps kernel 1).
        pool_kv_stride_adaptive: key/value stride of block 0; it is divided by each later query
            stride (floored at 1) so keys keep the same grid. Empty disables kv pooling.
        droppath_rate: stochastic depth of the last block; it rises linearly from 0 at block 0.
        mode: pooling operator, "conv", "avg" or "max".
        dim_mul_in_att: MViTv2: the block at a ``dim_mul`` index widens (in its attention);
            otherwise the block before it does (in its MLP), as MViT v1.
        pool_kv_stride: ``[[block, s_t, s_h, s_w], ...]``: key/value strides of the listed
            blocks, used when ``pool_kv_stride_adaptive`` is empty (as PySlowFast).
    """
    dim_at = _at_blocks(depth, dim_mul, "MVIT.DIM_MUL")
    head_at = _at_blocks(depth, head_mul, "MVIT.HEAD_MUL")
    stride_at = {
        i: check_size3("MVIT.POOL_Q_STRIDE", s)
        for i, s in _at_blocks(depth, pool_q_stride, "MVIT.POOL_Q_STRIDE").items()
    }
    kernel = check_size3("MVIT.POOL_KVQ_KERNEL", pool_kvq_kernel) if pool_kvq_kernel else None
    kv_stride = (
        check_size3("MVIT.POOL_KV_STRIDE_ADAPTIVE", pool_kv_stride_adaptive)
        if pool_kv_stride_adaptive
        else None
    )
    kv_at = {
        i: check_size3("MVIT.POOL_KV_STRIDE", s)
        for i, s in _at_blocks(depth, pool_kv_stride, "MVIT.POOL_KV_STRIDE").items()
    }

    def pool_kernel(stride: Size3) -> Size3:
        return kernel if kernel is not None else tuple(s + 1 if s > 1 else s for s in stride)

    # Widths and heads per block first, so each block's dim_out is the next block's width.
    dims, heads = [], []
    dim, nh = embed_dim, num_heads
    for i in range(depth):
        nh = _round_width(nh * head_at.get(i, [1.0])[0])
        dim = _round_width(dim * dim_at.get(i, [1.0])[0], divisor=nh)
        dims.append(dim)
        heads.append(nh)
    specs = []
    for i in range(depth):
        stride_q = stride_at.get(i, (1, 1, 1))
        kernel_q = pool_kernel(stride_q) if i in stride_at else (1, 1, 1)
        if kv_stride is not None:
            kv_stride = tuple(max(kv // q, 1) for kv, q in zip(kv_stride, stride_q, strict=True))
        kv = kv_stride or kv_at.get(i, (1, 1, 1))
        pooled_kv = kv_stride is not None or i in kv_at
        pool = PoolSpec(
            kernel_q=kernel_q,
            stride_q=stride_q,
            kernel_kv=pool_kernel(kv) if pooled_kv else (1, 1, 1),
            stride_kv=kv,
            mode=mode,
        )
        if dim_mul_in_att:
            dim_in, dim_out = (dims[i - 1] if i else embed_dim), dims[i]
        else:
            dim_in, dim_out = dims[i], (dims[i + 1] if i + 1 < depth else dims[i])
        specs.append(
            MViTBlockSpec(
                dim=dim_in,
                dim_out=dim_out,
                num_heads=heads[i],
                pool=pool,
                drop_path=droppath_rate * i / max(depth - 1, 1),
            )
        )
    return tuple(specs)


@MODELS.register()
class MViT(VideoModel):
    """Multiscale Vision Transformer (v1, or v2 with ``v2`` options and no absolute positions);
    with an empty schedule (no pooling, no widening) it is PySlowFast's plain ViT, and with
    ``rev`` its reversible form, Rev-ViT / Rev-MViT (:mod:`slowvid.models.reversible`).

    ::

        clip (B, 3, T, H, W)   (or an image (B, 3, H, W), a one-frame clip)
          -> patch embed Conv3d        (B, C0, T/2, H/4, W/4) -> tokens (B, N, C0)
          -> [cls token] + positional embedding (space + time + cls, or joint)
          -> blocks; query pooling shrinks H, W and widths grow (MViT-B: 96 -> 768, 56^2 -> 7^2)
          -> LayerNorm                  (B, 1 + N', C)
          -> head (TokenHead: cls token or mean, [norm], dropout, linear)  (B, num_classes)

    Args:
        blocks: one spec per transformer block.
        head: maps ``[(B, [1 +] N', C_out)]`` tokens to logits (a :class:`TokenHead`); with
            ``mean_pooling`` it normalises after pooling.
        dim_in: input channels.
        input_size: (T, H, W) of the training clip; sizes the positional embedding.
        patch: the cube patch embedding.
        mlp_ratio: MLP hidden width over the block width.
        qkv_bias: bias on the q, k, v projections.
        mean_pooling: the head averages the patch tokens and normalises after pooling
            (``MVIT.USE_MEAN_POOLING``), so the tokens leave unnormalised.
        sep_pos_embed: separate spatial + temporal (+ class) embeddings instead of one per token.
        cls_embed_on: prepend a class token.
        norm: builds the LayerNorm-style normalisation over channels.
        use_abs_pos: add an absolute positional embedding (v1; MViTv2 uses relative ones only).
        v2: the MViTv2 block options; None is MViT v1.
        layer_scale_init: initial per-channel scale of each residual branch (0: none).
        separate_qkv: three q, k, v projections per attention instead of one fused ``qkv``.
        zero_decay_pos_cls: :meth:`no_weight_decay` names the absolute/relative position
            embeddings and the class token.
        rev: build the reversible form (Rev-ViT / Rev-MViT) with these options.
    """

    archs = ("mvit",)

    # The repeated blocks: units of activation checkpointing and of FSDP sharding.
    block_types: tuple[type[nn.Module], ...] = (MultiScaleBlock,)

    def __init__(
        self,
        *,
        blocks: Sequence[MViTBlockSpec],
        head: nn.Module,
        dim_in: int = 3,
        input_size: Size3 = (16, 224, 224),
        patch: PatchSpec = PatchSpec(),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        mean_pooling: bool = False,
        sep_pos_embed: bool = True,
        cls_embed_on: bool = True,
        norm: Callable[[int], nn.Module] = LAYER_NORM,
        use_abs_pos: bool = True,
        v2: MViTv2Options | None = None,
        layer_scale_init: float = 0.0,
        separate_qkv: bool = True,
        zero_decay_pos_cls: bool = False,
        rev: RevOptions | None = None,
    ):
        super().__init__()
        v2 = v2 or MViTv2Options()
        embed_dim = blocks[0].dim
        self.patch_embed = nn.Conv3d(dim_in, embed_dim, patch.kernel, patch.stride, patch.padding)
        # Grid of the patch embedding for input_size (Conv3d output-size formula).
        self.pos_grid = tuple(
            (n + 2 * p - k) // s + 1
            for n, k, s, p in zip(
                input_size, patch.kernel, patch.stride, patch.padding, strict=True
            )
        )
        t, h, w = self.pos_grid
        self.cls_embed_on = cls_embed_on
        self.sep_pos_embed = sep_pos_embed
        self.zero_decay_pos_cls = zero_decay_pos_cls
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_embed_on else None
        self.use_abs_pos = use_abs_pos
        # Only the embeddings the layout uses become parameters; the others stay None.
        self.pos_embed = self.pos_embed_spatial = None
        self.pos_embed_temporal = self.pos_embed_class = None
        if use_abs_pos and sep_pos_embed:
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, embed_dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, embed_dim))
            self.pos_embed_class = (
                nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_embed_on else None
            )
        elif use_abs_pos:
            self.pos_embed = nn.Parameter(torch.zeros(1, int(cls_embed_on) + t * h * w, embed_dim))
        # Each block's input grid, which sizes its relative-position tables.
        grids = [self.pos_grid]
        for s in blocks[:-1]:
            grids.append(tuple(g // q for g, q in zip(grids[-1], s.pool.stride_q, strict=True)))
        attention = {"qkv_bias": qkv_bias, "separate_qkv": separate_qkv}
        self.rev = rev
        if rev is not None:
            if cls_embed_on:
                raise ValueError(
                    "MVIT.REV.ENABLE: reversible MViT has no class token; set "
                    "MVIT.CLS_EMBED_ON False"
                )
            self.blocks = make_reversible_layers(blocks, rev, mlp_ratio, norm, attention, grids)
            # None declared: the reversible blocks already recompute their activations, and
            # their hand-written backward pass bypasses the per-block hooks FSDP relies on.
            self.block_types = ()
            self.rev_custom_backward = True
            self.fuse = TwoStreamFusion(rev.respath_fuse, 2 * blocks[-1].dim_out)
            out_dim = self.fuse.out_dim(2 * blocks[-1].dim_out)
        else:
            self.blocks = nn.ModuleList(
                MultiScaleBlock(
                    s.dim,
                    s.dim_out,
                    s.num_heads,
                    mlp_ratio,
                    qkv_bias,
                    s.drop_path,
                    s.pool,
                    norm=norm,
                    has_cls=cls_embed_on,
                    v2=v2,
                    input_grid=grid,
                    layer_scale_init=layer_scale_init,
                    separate_qkv=separate_qkv,
                )
                for s, grid in zip(blocks, grids, strict=True)
            )
            out_dim = blocks[-1].dim_out
        # With mean pooling the head normalises after pooling, and the tokens go out as they are.
        self.norm = nn.Identity() if mean_pooling else norm(out_dim)
        self.head = head
        self.input_spec = InputSpec((1,), (dim_in,))
        self.feature_dims = (out_dim,)
        self.feature_stride = None  # tokens, not a feature map
        # The last module the features pass: the fusion follows the norm for "concat" fusions.
        fuse_last = rev is not None and "concat" in rev.respath_fuse
        self.feature_layers = ("fuse" if fuse_last else "norm",)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (
            self.cls_token,
            self.pos_embed,
            self.pos_embed_spatial,
            self.pos_embed_temporal,
            self.pos_embed_class,
        ):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)
        # The head initialises itself (HEAD_INIT_SCALE); the loop leaves it alone.
        for name, m in self.named_modules():
            if name.startswith("head"):
                continue
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for name, p in self.named_parameters():
            if name.split(".")[-1] in ("rel_pos_t", "rel_pos_h", "rel_pos_w"):
                nn.init.trunc_normal_(p, std=0.02)

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH, MVIT.*, DATA.INPUT_CHANNEL_NUM / NUM_FRAMES / TRAIN_CROP_SIZE and
        MODEL.NUM_CLASSES / DROPOUT_RATE. MODEL.HEAD_NAME is not used: the head reads tokens."""
        cls.arch_of(cfg)
        spec = cls.input_spec_from_config(cfg)
        m = cfg.MVIT
        if m.NORM != "layernorm":
            raise ValueError(f"MVIT.NORM {m.NORM!r}: only 'layernorm' exists (as in PySlowFast)")
        blocks = make_mvit_blocks(
            depth=m.DEPTH,
            embed_dim=m.EMBED_DIM,
            num_heads=m.NUM_HEADS,
            dim_mul=m.DIM_MUL,
            head_mul=m.HEAD_MUL,
            pool_q_stride=m.POOL_Q_STRIDE,
            pool_kvq_kernel=m.POOL_KVQ_KERNEL,
            pool_kv_stride_adaptive=m.POOL_KV_STRIDE_ADAPTIVE,
            droppath_rate=m.DROPPATH_RATE,
            mode=m.MODE,
            # Rev-MViT widens inside its transition layers, as MViTv2 does.
            dim_mul_in_att=m.DIM_MUL_IN_ATT or m.REV.ENABLE,
            pool_kv_stride=m.POOL_KV_STRIDE,
        )
        crop = cfg.DATA.TRAIN_CROP_SIZE
        # PATCH_2D: image models; a 2-D patch is the 3-D one with a one-frame kernel.
        lead = {"MVIT.PATCH_KERNEL": 1, "MVIT.PATCH_STRIDE": 1, "MVIT.PATCH_PADDING": 0}
        patch = {
            key: check_size3(key, ([lead[key]] if m.PATCH_2D else []) + list(m[key.split(".")[1]]))
            for key in lead
        }
        rev = m.REV
        # Tokens, whatever MODEL.HEAD_NAME says. The reversible form's two fused streams are
        # twice as wide with a "concat" fusion; mean pooling skips the class token and
        # normalises after pooling.
        dim_out = blocks[-1].dim_out
        if rev.ENABLE:
            dim_out = fusion_out_dim(rev.RESPATH_FUSE, 2 * dim_out)
        head = TokenHead(
            **TokenHead.from_config(
                cfg,
                [dim_out],
                use_cls=m.CLS_EMBED_ON and not m.USE_MEAN_POOLING,
                skip_tokens=int(m.CLS_EMBED_ON),
                norm=LAYER_NORM(dim_out) if m.USE_MEAN_POOLING else None,
                init_scale=m.HEAD_INIT_SCALE,
            )
        )
        return {
            "blocks": blocks,
            "head": head,
            "dim_in": spec.channels[0],
            "input_size": (cfg.DATA.NUM_FRAMES, crop, crop),
            "patch": PatchSpec(*patch.values()),
            "mlp_ratio": m.MLP_RATIO,
            "qkv_bias": m.QKV_BIAS,
            "mean_pooling": m.USE_MEAN_POOLING,
            "sep_pos_embed": m.SEP_POS_EMBED,
            "cls_embed_on": m.CLS_EMBED_ON,
            "use_abs_pos": m.USE_ABS_POS,
            "v2": MViTv2Options(
                rel_pos_spatial=m.REL_POS_SPATIAL,
                rel_pos_temporal=m.REL_POS_TEMPORAL,
                residual_pooling=m.RESIDUAL_POOLING,
                dim_mul_in_att=m.DIM_MUL_IN_ATT,
            ),
            "layer_scale_init": m.LAYER_SCALE_INIT_VALUE,
            "separate_qkv": m.SEPARATE_QKV,
            "zero_decay_pos_cls": m.ZERO_DECAY_POS_CLS,
            "rev": RevOptions(
                rev.RESPATH_FUSE, tuple(rev.BUFFER_LAYERS), rev.RES_PATH, rev.PRE_Q_FUSION
            )
            if rev.ENABLE
            else None,
        }

    def no_weight_decay(self) -> set[str]:
        """Parameters to train without weight decay: position embeddings (absolute and
        relative) and the class token when ``zero_decay_pos_cls`` (MVIT.ZERO_DECAY_POS_CLS)."""
        if not self.zero_decay_pos_cls:
            return set()
        leaves = ("cls_token", "pos_embed", "pos_embed_spatial", "pos_embed_temporal")
        leaves += ("pos_embed_class", "rel_pos_h", "rel_pos_w", "rel_pos_t")
        return {n for n, _ in self.named_parameters() if n.split(".")[-1] in leaves}

    def fit_position_embeddings(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Interpolates, in place, absolute position embeddings of a checkpoint trained on
        another clip size to this model's grid. Returns the keys resized."""
        t, h, w = self.pos_grid
        layouts = {
            "pos_embed": (self.pos_grid, "trilinear", int(self.cls_embed_on)),
            "pos_embed_spatial": ((h, w), "bicubic", 0),
            "pos_embed_temporal": ((t,), "linear", 0),
        }
        return fit_grid_embeddings(state, self.state_dict(), layouts)

    def pos_embedding(self, grid: Size3) -> torch.Tensor:
        """The positional embedding (1, [1 +] T*H*W, C) for a token grid, interpolated from the
        training grid when they differ (time linearly, space bicubically)."""
        if self.sep_pos_embed:
            t0, h0, w0 = self.pos_grid
            t, h, w = grid
            spatial = resize_grid_embedding(self.pos_embed_spatial, (h0, w0), (h, w), "bicubic")
            temporal = resize_grid_embedding(self.pos_embed_temporal, (t0,), (t,), "linear")
            pos = (spatial.unsqueeze(1) + temporal.unsqueeze(2)).flatten(1, 2)
            return torch.cat([self.pos_embed_class, pos], 1) if self.cls_embed_on else pos
        n_cls = int(self.cls_embed_on)
        cls_pos, pos = self.pos_embed[:, :n_cls], self.pos_embed[:, n_cls:]
        pos = resize_grid_embedding(pos, self.pos_grid, grid, "trilinear")
        return torch.cat([cls_pos, pos], 1)

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Args: inputs: ``[clip]``, clip (B, C, T, H, W), or an image (B, C, H, W).

        Returns: ``[(B, [1 +] N', C_out)]`` tokens (normalised unless the head mean-pools);
        MViT-B 16x4 at 224: N' = 8*7*7.
        """
        if len(inputs) != 1:
            raise ValueError(f"MViT takes one pathway, got {len(inputs)} input tensors")
        clip = inputs[0] if inputs[0].dim() == 5 else inputs[0].unsqueeze(2)
        x = self.patch_embed(clip)
        grid = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2).contiguous()  # tokens (B, N, C) in memory order
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        if self.use_abs_pos:
            x = x + self.pos_embedding(grid)
        if self.rev is not None:
            x = run_reversible(self.blocks, x, grid, self.rev_custom_backward)
            # PySlowFast normalises both streams, then fuses ("concat*" fusions keep the width);
            # a fusion that halves the width goes first here, which PySlowFast cannot build.
            if "concat" in self.rev.respath_fuse:
                return [self.fuse(self.norm(x))]
            return [self.norm(self.fuse(x))]
        for block in self.blocks:
            x, grid = block(x, grid)
        return [self.norm(x)]
