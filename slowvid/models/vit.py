"""Vision Transformer for video: VideoMAE and MAE-ST fine-tuning backbones (ViT-S/B/L/H).

Papers: "VideoMAE: Masked Autoencoders are Data-Efficient Learners for Self-Supervised Video
Pre-Training", Tong et al., arXiv:2203.12602; "Masked Autoencoders As Spatiotemporal Learners",
Feichtenhofer et al., arXiv:2205.09113 (MAE-ST).

A plain ViT over space-time tubelets: a Conv3d with kernel = stride (2x16x16) turns the clip into
a grid of tokens, every block attends jointly over all of them. The two recipes differ only in
details, each a constructor argument: VideoMAE adds a fixed 1-D sin-cos table, has no class
token, biases only queries and values, and classifies from the mean token after a LayerNorm;
MAE-ST (PySlowFast's ViT) learns separable space and time position embeddings, keeps a class
token (unused by its mean-pooling head) and biases q, k and v. Layouts follow the original
releases and ``transformers``' ``VideoMAEForVideoClassification`` (Apache-2.0), which
``tests/models/test_vit.py`` matches logit for logit; the code is written anew.

For masked pre-training the encoder also runs on a subset of the tokens: :meth:`embed` gives the
positioned patch tokens, :meth:`encode` runs class token, blocks and norm on any subset of them.
"""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import MODELS

from .base import InputSpec, VideoModel
from .blocks.attention import Size3, check_size3
from .blocks.transformer import (
    TransformerBlock,
    fit_grid_embeddings,
    resize_grid_embedding,
    sincos_table,
)
from .heads import TokenHead

__all__ = ["POS_EMBEDS", "VisionTransformer"]

# Position embeddings: fixed 1-D sin-cos table (VideoMAE), one learned vector per token, or
# learned spatial + temporal (+ class) vectors summed (MAE-ST, PySlowFast SEP_POS_EMBED).
POS_EMBEDS = ("sincos", "learned", "separate")


@MODELS.register()
class VisionTransformer(VideoModel):
    """ViT over space-time tubelets with joint attention.

    ::

        clip (B, 3, T, H, W)
          -> tubelet embed Conv3d (kernel = stride = patch)   (B, C, T/2, H/16, W/16)
          -> tokens (B, N, C) + position embedding            [embed]
          -> [class token] -> depth x TransformerBlock -> norm [encode]
          -> head: class token, or mean token -> [LayerNorm] -> dropout -> linear
        (B, num_classes)

    Args:
        head: maps ``[(B, [1 +] N, C)]`` tokens to logits (a :class:`TokenHead`: the class
            token, or with ``mean_pooling`` the mean patch token normalised after pooling).
        depth: transformer blocks.
        embed_dim: token channels.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``embed_dim``.
        patch: (t, h, w) tubelet size (kernel and stride of the embedding).
        input_size: (T, H, W) of the training clip; sizes the position embedding, which is
            interpolated for clips of another size.
        dim_in: input channels.
        qkv_bias: bias on the q, k, v projections.
        k_bias: with ``qkv_bias``, the keys get one too (VideoMAE: no).
        pos_embed: one of :data:`POS_EMBEDS`.
        cls_token: prepend a class token.
        mean_pooling: the head averages the patch tokens and normalises them after pooling, so
            the tokens leave unnormalised; otherwise they are normalised.
        droppath_rate: stochastic depth of the last block, rising linearly from 0.
        layer_scale_init: initial layer-scale value (0: none).
        norm_eps: epsilon of the LayerNorms in the blocks and after them.
        zero_decay_pos_cls: :meth:`no_weight_decay` names the position embeddings and the
            class token.
    """

    archs = ("vit",)

    # The repeated blocks: units of activation checkpointing and of FSDP sharding.
    block_types: tuple[type[nn.Module], ...] = (TransformerBlock,)

    def __init__(
        self,
        *,
        head: nn.Module,
        depth: int = 12,
        embed_dim: int = 768,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        patch: Size3 = (2, 16, 16),
        input_size: Size3 = (16, 224, 224),
        dim_in: int = 3,
        qkv_bias: bool = True,
        k_bias: bool = False,
        pos_embed: str = "sincos",
        cls_token: bool = False,
        mean_pooling: bool = True,
        droppath_rate: float = 0.0,
        layer_scale_init: float = 0.0,
        norm_eps: float = 1e-6,
        zero_decay_pos_cls: bool = True,
    ):
        super().__init__()
        if pos_embed not in POS_EMBEDS:
            raise ValueError(f"pos_embed must be one of {POS_EMBEDS}, got {pos_embed!r}")
        bad = [
            f"{n}={s} does not divide by {p}" for n, s, p in zip("THW", input_size, patch) if s % p
        ]
        if bad:
            raise ValueError(
                f"input_size {tuple(input_size)} vs patch {tuple(patch)}: " + "; ".join(bad)
            )
        self.patch = tuple(patch)
        self.pos_grid = tuple(s // p for s, p in zip(input_size, patch))
        self.pos_embed_type = pos_embed
        self.num_cls_tokens = int(cls_token)
        self.zero_decay_pos_cls = zero_decay_pos_cls
        self.patch_embed = nn.Conv3d(dim_in, embed_dim, self.patch, self.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        t, h, w = self.pos_grid
        if pos_embed == "sincos":
            # A buffer, not a parameter, and not saved: VideoMAE recomputes it too.
            self.register_buffer("pos_embed", sincos_table(t * h * w, embed_dim), persistent=False)
        elif pos_embed == "learned":
            self.pos_embed = nn.Parameter(
                torch.zeros(1, self.num_cls_tokens + t * h * w, embed_dim)
            )
        else:
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, embed_dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, embed_dim))
            self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        norm = lambda dim: nn.LayerNorm(dim, eps=norm_eps)  # noqa: E731
        self.blocks = nn.ModuleList(
            TransformerBlock(
                embed_dim,
                num_heads,
                mlp_ratio,
                qkv_bias,
                k_bias,
                droppath_rate * i / max(depth - 1, 1),
                layer_scale_init,
                norm,
            )
            for i in range(depth)
        )
        # Mean pooling normalises after pooling, in the head; otherwise the tokens are normalised.
        self.norm = nn.Identity() if mean_pooling else norm(embed_dim)
        self.head = head
        self.input_spec = InputSpec((1,), (dim_in,))
        self.feature_dims = (embed_dim,)
        self.feature_stride = None  # tokens, not a feature map
        self.feature_layers = ("norm",)
        self._init_weights()

    def _init_weights(self) -> None:
        for name in ("cls_token", "pos_embed_spatial", "pos_embed_temporal", "pos_embed_class"):
            if getattr(self, name, None) is not None:
                nn.init.trunc_normal_(getattr(self, name), std=0.02)
        if self.pos_embed_type == "learned":
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH / NUM_CLASSES / DROPOUT_RATE, VIT.*, DATA.INPUT_CHANNEL_NUM /
        NUM_FRAMES / TRAIN_CROP_SIZE. MODEL.HEAD_NAME is not used: the head reads tokens."""
        cls.arch_of(cfg)
        spec = cls.input_spec_from_config(cfg)
        v = cfg.VIT
        if not v.USE_MEAN_POOLING and not v.CLS_EMBED_ON:
            raise ValueError(
                "VIT.USE_MEAN_POOLING False reads the class token: set VIT.CLS_EMBED_ON True"
            )
        head = TokenHead.from_config(
            cfg,
            [v.EMBED_DIM],
            use_cls=not v.USE_MEAN_POOLING,
            skip_tokens=int(v.CLS_EMBED_ON),
            norm=nn.LayerNorm(v.EMBED_DIM, eps=1e-6) if v.USE_MEAN_POOLING else None,
            init_scale=v.HEAD_INIT_SCALE,
        )
        crop = cfg.DATA.TRAIN_CROP_SIZE
        return {
            "head": TokenHead(**head),
            "depth": v.DEPTH,
            "embed_dim": v.EMBED_DIM,
            "num_heads": v.NUM_HEADS,
            "mlp_ratio": v.MLP_RATIO,
            "patch": check_size3("VIT.PATCH_SIZE", v.PATCH_SIZE),
            "input_size": (cfg.DATA.NUM_FRAMES, crop, crop),
            "dim_in": spec.channels[0],
            "qkv_bias": v.QKV_BIAS,
            "k_bias": v.K_BIAS,
            "pos_embed": v.POS_EMBED,
            "cls_token": v.CLS_EMBED_ON,
            "mean_pooling": v.USE_MEAN_POOLING,
            "droppath_rate": v.DROPPATH_RATE,
            "layer_scale_init": v.LAYER_SCALE_INIT_VALUE,
            "zero_decay_pos_cls": v.ZERO_DECAY_POS_CLS,
        }

    def no_weight_decay(self) -> set[str]:
        """Parameters to train without weight decay: position embeddings and class token when
        ``zero_decay_pos_cls`` (VIT.ZERO_DECAY_POS_CLS), else none."""
        if not self.zero_decay_pos_cls:
            return set()
        return {n for n, _ in self.named_parameters() if n.startswith(("pos_embed", "cls_token"))}

    def fit_position_embeddings(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Interpolates, in place, learned position embeddings of a checkpoint trained on
        another clip size to this model's grid (fine-tuning at a new resolution or length).
        Returns the keys resized."""
        t, h, w = self.pos_grid
        layouts = {
            "pos_embed": (self.pos_grid, "trilinear", self.num_cls_tokens),
            "pos_embed_spatial": ((h, w), "bicubic", 0),
            "pos_embed_temporal": ((t,), "linear", 0),
        }
        return fit_grid_embeddings(state, self.state_dict(), layouts)

    def pos_embedding(self, grid: Size3) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Position embeddings of the patch tokens (1, T*H*W, C) on ``grid`` and of the class
        token (1, 1, C) or None, interpolated from the training grid when they differ."""
        t0, h0, w0 = self.pos_grid
        t, h, w = grid
        if self.pos_embed_type == "separate":
            spatial = resize_grid_embedding(self.pos_embed_spatial, (h0, w0), (h, w), "bicubic")
            temporal = resize_grid_embedding(self.pos_embed_temporal, (t0,), (t,), "linear")
            patches = (temporal.unsqueeze(2) + spatial.unsqueeze(1)).flatten(1, 2)
            return patches, self.pos_embed_class
        pos = self.pos_embed
        cls_pos = pos[:, : self.num_cls_tokens] if self.num_cls_tokens else None
        patches = resize_grid_embedding(
            pos[:, self.num_cls_tokens :], self.pos_grid, grid, "trilinear"
        )
        return patches, cls_pos

    def embed(self, clip: torch.Tensor) -> tuple[torch.Tensor, Size3]:
        """Tubelet tokens with their position embedding added.

        Args:
            clip: (B, C, T, H, W).

        Returns:
            (B, T'*H'*W', C) tokens in (t, h, w) raster order, and the grid (T', H', W').
        """
        x = self.patch_embed(clip)
        grid = tuple(x.shape[2:])
        pos, _ = self.pos_embedding(grid)
        # Contiguous (B, N, C): the transposed view would make every later add keep the
        # channel-major layout and every LayerNorm copy the tokens (10% of ViT-B inference).
        return x.flatten(2).transpose(1, 2).contiguous() + pos.to(x.dtype), grid

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Class token (if any), the blocks and the final norm over any subset of the tokens.

        Args:
            tokens: (B, n, C) from :meth:`embed`, possibly only the visible ones.

        Returns:
            (B, [1 +] n, C).
        """
        if self.cls_token is not None:
            cls = self.cls_token
            _, cls_pos = self.pos_embedding(self.pos_grid)
            if cls_pos is not None:
                cls = cls + cls_pos
            tokens = torch.cat([cls.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], 1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Args: inputs: ``[clip]``, clip (B, C, T, H, W).

        Returns: ``[(B, [1 +] N, C)]`` tokens; ViT-B at 16x224: N = 8*14*14 = 1568.
        """
        if len(inputs) != 1:
            raise ValueError(f"VisionTransformer takes one pathway, got {len(inputs)} tensors")
        tokens, _ = self.embed(inputs[0])
        return [self.encode(tokens)]
