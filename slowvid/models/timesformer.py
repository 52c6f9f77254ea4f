"""TimeSformer: divided space-time attention (TimeSformer, -HR, -L).

Paper: "Is Space-Time Attention All You Need for Video Understanding?", Bertasius et al.,
arXiv:2102.05095.

A ViT-B over per-frame 16x16 patches. In each "divided" block every patch token first attends
to the same patch in the other frames (temporal attention, followed by a linear layer), then to
the other patches of its frame together with a copy of the class token (spatial attention; the
copies are averaged back into one), then an MLP. The embedding and block layout follow the
TimeSformer release (``timesformer/models/vit.py``, CC-BY-NC 4.0; names only) and ``transformers``'
``TimesformerForVideoClassification`` (Apache-2.0), which ``tests/models/test_timesformer.py``
matches logit for logit; the code is written anew.

Tokens are kept as ``[class] + T*S`` in (t, h, w) raster order. Position and time embeddings are
resized with nearest-neighbour interpolation for other clip sizes, as the reference does.
"""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import MODELS

from .base import InputSpec, VideoModel
from .blocks.attention import DropPath, Mlp
from .blocks.transformer import (
    LAYER_NORM,
    SelfAttention,
    TransformerBlock,
    fit_grid_embeddings,
    resize_grid_embedding,
)
from .heads import TokenHead

__all__ = ["ATTENTION_TYPES", "DividedSpaceTimeBlock", "TimeSformer"]

ATTENTION_TYPES = ("divided_space_time", "joint_space_time", "space_only")


class DividedSpaceTimeBlock(nn.Module):
    """Temporal attention, then spatial attention, then MLP (TimeSformer Fig. 1, "T+S")::

        patches (B, T, S, C): + temporal_fc(drop_path(temporal_attn(temporal_norm1(.))))
                              along T, for each of the S positions
        [cls x T] + patches of each frame: spatial attention (norm1, attn), drop_path;
                              patches += result, cls += mean over frames of its T results
        all tokens: + drop_path(mlp(norm2(.)))

    Drop path acts on the tensors as the reference shapes them (per position and sample in the
    temporal branch, per frame and sample in the spatial one), so training noise matches too.

    Args:
        dim: token channels.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``dim``.
        qkv_bias: bias on the q, k, v projections.
        drop_path: stochastic-depth rate.
        norm: builds the normalisation over channels.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        norm=LAYER_NORM,
    ):
        super().__init__()
        self.temporal_norm1 = norm(dim)
        self.temporal_attn = SelfAttention(dim, num_heads, qkv_bias)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = norm(dim)
        self.attn = SelfAttention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim, nn.GELU)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """Args: x: (B, 1 + T*S, C); frames: T. Returns: (B, 1 + T*S, C)."""
        b, n, c = x.shape
        cls, patches = x[:, :1], x[:, 1:].reshape(b, frames, (n - 1) // frames, c)
        s = patches.shape[2]
        xt = patches.transpose(1, 2).reshape(b * s, frames, c)
        xt = self.drop_path(self.temporal_attn(self.temporal_norm1(xt)))
        patches = patches + self.temporal_fc(xt.reshape(b, s, frames, c).transpose(1, 2))
        xs = torch.cat([cls.repeat_interleave(frames, 0), patches.reshape(b * frames, s, c)], 1)
        xs = self.drop_path(self.attn(self.norm1(xs)))
        cls = cls + xs[:, :1].reshape(b, frames, c).mean(1, keepdim=True)
        patches = patches + xs[:, 1:].reshape(b, frames, s, c)
        x = torch.cat([cls, patches.reshape(b, frames * s, c)], 1)
        return x + self.drop_path(self.mlp(self.norm2(x)))


@MODELS.register()
class TimeSformer(VideoModel):
    """TimeSformer with divided (default), joint or space-only attention.

    ::

        clip (B, 3, T, H, W) -> per frame Conv2d 16x16/16 -> (B*T, S, C), S = H*W/256
          -> [cls] + tokens + pos_embed (space) ; + time_embed (per frame, patches only)
          -> depth x block -> norm -> class token -> dropout -> linear
        (B, num_classes)

    Args:
        head: maps ``[(B, 1 + N, C)]`` normalised tokens to logits from the class token (a
            :class:`TokenHead`; the reference has no dropout before its classifier).
        depth: blocks.
        embed_dim: token channels.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``embed_dim``.
        patch_size: side of the square per-frame patches.
        input_size: (T, H, W) of the training clip; sizes the position and time embeddings.
        dim_in: input channels.
        qkv_bias: bias on the q, k, v projections.
        attention_type: one of :data:`ATTENTION_TYPES`.
        droppath_rate: stochastic depth of the last block, rising linearly from 0.
        zero_decay_pos_cls: :meth:`no_weight_decay` names the position and time embeddings and
            the class token (the reference's choice).
    """

    archs = ("vit",)

    # The repeated blocks: units of activation checkpointing and of FSDP sharding.
    block_types: tuple[type[nn.Module], ...] = (DividedSpaceTimeBlock,)

    def __init__(
        self,
        *,
        head: nn.Module,
        depth: int = 12,
        embed_dim: int = 768,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        patch_size: int = 16,
        input_size: tuple[int, int, int] = (8, 224, 224),
        dim_in: int = 3,
        qkv_bias: bool = True,
        attention_type: str = "divided_space_time",
        droppath_rate: float = 0.1,
        zero_decay_pos_cls: bool = True,
    ):
        super().__init__()
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(
                f"attention_type must be one of {ATTENTION_TYPES}, got {attention_type!r}"
            )
        frames, height, width = input_size
        if height % patch_size or width % patch_size:
            raise ValueError(
                f"input_size {tuple(input_size)} does not divide into {patch_size}-px patches"
            )
        self.attention_type = attention_type
        self.zero_decay_pos_cls = zero_decay_pos_cls
        self.pos_grid = (height // patch_size, width // patch_size)
        self.num_frames = frames
        self.patch_embed = nn.Conv2d(dim_in, embed_dim, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, 1 + self.pos_grid[0] * self.pos_grid[1], embed_dim)
        )
        if attention_type != "space_only":
            self.time_embed = nn.Parameter(torch.zeros(1, frames, embed_dim))
        rates = [droppath_rate * i / max(depth - 1, 1) for i in range(depth)]
        if attention_type == "divided_space_time":
            blocks = (
                DividedSpaceTimeBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, r) for r in rates
            )
        else:
            blocks = (
                TransformerBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_path=r)
                for r in rates
            )
        self.blocks = nn.ModuleList(blocks)
        self.norm = LAYER_NORM(embed_dim)
        self.head = head
        self.input_spec = InputSpec((1,), (dim_in,))
        self.feature_dims = (embed_dim,)
        self.feature_stride = None  # tokens, not a feature map
        self.feature_layers = ("norm",)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        if self.attention_type == "divided_space_time":
            # Every block but the first starts as pure spatial attention (the reference's init,
            # so that ImageNet ViT weights are a sensible start).
            for block in list(self.blocks)[1:]:
                nn.init.zeros_(block.temporal_fc.weight)
                nn.init.zeros_(block.temporal_fc.bias)

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH / NUM_CLASSES / DROPOUT_RATE, TIMESFORMER.ATTENTION_TYPE, VIT widths
        and patch, DATA.INPUT_CHANNEL_NUM / NUM_FRAMES / TRAIN_CROP_SIZE."""
        cls.arch_of(cfg)
        spec = cls.input_spec_from_config(cfg)
        v = cfg.VIT
        # TimeSformer's embedding and head are fixed; say so rather than ignore other values.
        fixed = {
            "VIT.PATCH_SIZE[0]": (v.PATCH_SIZE[0], 1),
            "VIT.POS_EMBED": (v.POS_EMBED, "separate"),
            "VIT.CLS_EMBED_ON": (v.CLS_EMBED_ON, True),
            "VIT.USE_MEAN_POOLING": (v.USE_MEAN_POOLING, False),
            "VIT.K_BIAS": (v.K_BIAS, True),
            "VIT.LAYER_SCALE_INIT_VALUE": (v.LAYER_SCALE_INIT_VALUE, 0.0),
            "VIT.HEAD_INIT_SCALE": (v.HEAD_INIT_SCALE, 1.0),
        }
        wrong = [
            f"{k} is {got!r}, needs {want!r}" for k, (got, want) in fixed.items() if got != want
        ]
        if len(v.PATCH_SIZE) != 3 or v.PATCH_SIZE[1] != v.PATCH_SIZE[2]:
            wrong.append(f"VIT.PATCH_SIZE {list(v.PATCH_SIZE)} must be [1, p, p]")
        if wrong:
            raise ValueError(
                "TimeSformer has per-frame square patches, separate space and time embeddings "
                "with a class token it classifies from, and full q/k/v biases: " + "; ".join(wrong)
            )
        crop = cfg.DATA.TRAIN_CROP_SIZE
        return {
            "head": TokenHead(**TokenHead.from_config(cfg, [v.EMBED_DIM], use_cls=True)),
            "depth": v.DEPTH,
            "embed_dim": v.EMBED_DIM,
            "num_heads": v.NUM_HEADS,
            "mlp_ratio": v.MLP_RATIO,
            "patch_size": v.PATCH_SIZE[1],
            "input_size": (cfg.DATA.NUM_FRAMES, crop, crop),
            "dim_in": spec.channels[0],
            "qkv_bias": v.QKV_BIAS,
            "attention_type": cfg.TIMESFORMER.ATTENTION_TYPE,
            "droppath_rate": v.DROPPATH_RATE,
            "zero_decay_pos_cls": cfg.VIT.ZERO_DECAY_POS_CLS,
        }

    def no_weight_decay(self) -> set[str]:
        """Parameters to train without weight decay: position and time embeddings and class
        token when ``zero_decay_pos_cls`` (VIT.ZERO_DECAY_POS_CLS), else none."""
        if not self.zero_decay_pos_cls:
            return set()
        return {
            n for n, _ in self.named_parameters() if n in ("cls_token", "pos_embed", "time_embed")
        }

    def fit_position_embeddings(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Interpolates, in place, a checkpoint's position (space) and time embeddings trained
        on another clip size to this model's (nearest, as the reference does at run time).
        Returns the keys resized."""
        layouts = {
            "pos_embed": (self.pos_grid, "nearest", 1),
            "time_embed": ((self.num_frames,), "nearest", 0),
        }
        return fit_grid_embeddings(state, self.state_dict(), layouts)

    def embed(self, clip: torch.Tensor) -> torch.Tensor:
        """Args: clip (B, C, T, H, W). Returns: (B, 1 + T*S, C), or (B*T, 1 + S, C) for
        space-only attention, with position (and time) embeddings added."""
        b, _, frames = clip.shape[:3]
        x = self.patch_embed(clip.transpose(1, 2).flatten(0, 1))
        grid = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)  # (B*T, S, C)
        pos = resize_grid_embedding(self.pos_embed[:, 1:], self.pos_grid, grid, "nearest")
        cls = (self.cls_token + self.pos_embed[:, :1]).to(x.dtype)
        x = x + pos.to(x.dtype)
        if self.attention_type == "space_only":
            return torch.cat([cls.expand(x.shape[0], -1, -1), x], 1)
        time = resize_grid_embedding(self.time_embed, (self.num_frames,), (frames,), "nearest")
        x = x.reshape(b, frames, -1, x.shape[-1]) + time.to(x.dtype).unsqueeze(2)
        return torch.cat([cls.expand(b, -1, -1), x.flatten(1, 2)], 1)

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Args: inputs: ``[clip]``, clip (B, C, T, H, W).

        Returns: ``[(B, 1 + T*S, C)]`` normalised tokens (space-only: ``(B, 1 + S, C)``, the
        frames averaged); TimeSformer 8x224: 1 + 8*196.
        """
        if len(inputs) != 1:
            raise ValueError(f"TimeSformer takes one pathway, got {len(inputs)} tensors")
        b, frames = inputs[0].shape[0], inputs[0].shape[2]
        x = self.embed(inputs[0])
        for block in self.blocks:
            x = block(x, frames) if self.attention_type == "divided_space_time" else block(x)
        if self.attention_type == "space_only":
            x = x.reshape(b, frames, *x.shape[1:]).mean(1)
        return [self.norm(x)]
