"""The backbones of masked pre-training, without their classifiers: a ViT and an MViT that run
on any subset of their tokens.

Both keep the parameter names of the fine-tuning model (``patch_embed``, ``blocks.N``,
``pos_embed*``, ``cls_token``, ``norm``), so a pre-training checkpoint's encoder loads into
:class:`~slowvid.models.vit.VisionTransformer` / :class:`~slowvid.models.mvit.MViT` once its
``encoder.`` prefix is stripped (``slowvid.checkpoint.converters.ssl``).

The contract the masked models rely on (:class:`TokenEncoder`)::

    embed(clip)   -> patch tokens (B, N, C) with their position embedding, and the grid
    encode(x)     -> class token (if any) + blocks + final norm over any subset of the tokens
"""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..mvit import MViT
from ..vit import VisionTransformer

__all__ = ["MViTEncoder", "TokenEncoder", "ViTEncoder"]

Size3 = tuple[int, int, int]


@runtime_checkable
class TokenEncoder(Protocol):
    """A transformer that encodes a subset of its patch tokens (masked autoencoding)."""

    num_cls_tokens: int
    embed_dim: int

    def embed(self, clip: torch.Tensor) -> tuple[torch.Tensor, Size3]:
        """(B, C, T, H, W) -> (B, N, D) positioned patch tokens and their grid."""
        ...

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, n, D) -> (B, num_cls_tokens + n, D_out)."""
        ...


class ViTEncoder(VisionTransformer):
    """:class:`VisionTransformer` as VideoMAE pre-trains it: no classifier, a LayerNorm after the
    blocks (the class token, if any, is kept but not decoded).

    Args:
        norm_eps: epsilon of the LayerNorms.
        **kwargs: the architecture arguments of :class:`VisionTransformer` (depth, embed_dim,
            num_heads, patch, input_size, qkv_bias, k_bias, pos_embed, cls_token, ...), not the
            classifier's.
    """

    def __init__(self, *, norm_eps: float = 1e-6, **kwargs):
        super().__init__(head=nn.Identity(), mean_pooling=True, norm_eps=norm_eps, **kwargs)
        del self.head
        self.embed_dim = self.feature_dims[0]
        self.norm = nn.LayerNorm(self.embed_dim, eps=norm_eps)


class MViTEncoder(MViT):
    """:class:`MViT` without its classifier, for MAE (a ViT schedule, on visible tokens) and
    MaskFeat (all tokens, masked ones replaced, outputs of chosen blocks).

    Args:
        final_norm: keep the LayerNorm after the blocks (MAE); MaskFeat normalises per head.
        **kwargs: the arguments of :class:`MViT` but ``head`` and ``mean_pooling``; ``blocks``
            may be a prefix of a schedule (PySlowFast cuts the encoder after the last block
            it decodes).
    """

    def __init__(self, *, final_norm: bool = True, **kwargs):
        super().__init__(head=nn.Identity(), mean_pooling=False, **kwargs)
        if kwargs.get("rev") is not None:
            raise ValueError("MVIT.REV.ENABLE: masked pre-training of reversible MViT is not built")
        del self.head
        if not final_norm:
            self.norm = nn.Identity()
        self.num_cls_tokens = int(self.cls_embed_on)
        self.embed_dim = self.feature_dims[0]
        self.patch_dim = self.patch_embed.out_channels
        strides = [b.attn.pool_q for b in self.blocks]
        self.pools_tokens = any(s is not None for s in strides) or any(
            b.attn.pool_k is not None for b in self.blocks
        )

    def patch_tokens(self, clip: torch.Tensor) -> tuple[torch.Tensor, Size3]:
        """(B, C, T, H, W) or an image (B, C, H, W) -> (B, N, D) tokens without positions."""
        clip = clip if clip.dim() == 5 else clip.unsqueeze(2)
        x = self.patch_embed(clip)
        return x.flatten(2).transpose(1, 2), tuple(x.shape[2:])

    def positions(self, grid: Size3) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Absolute position embeddings of the class token (1, 1, D) and of the patch tokens
        (1, N, D); (None, None) without absolute positions (MViTv2)."""
        if not self.use_abs_pos:
            return None, None
        pos = self.pos_embedding(grid)
        n = self.num_cls_tokens
        return (pos[:, :n] if n else None), pos[:, n:]

    def embed(self, clip: torch.Tensor) -> tuple[torch.Tensor, Size3]:
        x, grid = self.patch_tokens(clip)
        _, pos = self.positions(grid)
        return (x if pos is None else x + pos), grid

    def prepend_cls(self, tokens: torch.Tensor, grid: Size3) -> torch.Tensor:
        """The class token (with its position) in front of ``tokens``, if the model has one."""
        if self.cls_token is None:
            return tokens
        cls_pos, _ = self.positions(grid)
        cls = self.cls_token if cls_pos is None else self.cls_token + cls_pos
        return torch.cat([cls.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], 1)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Blocks over a subset of the tokens; only schedules without pooling can do that."""
        if self.pools_tokens:
            raise ValueError("encoding a subset of tokens needs MViT blocks without pooling")
        x = self.prepend_cls(tokens, self.pos_grid)
        grid = self.pos_grid  # unused without pooling
        for block in self.blocks:
            x, grid = block(x, grid)
        return self.norm(x)

    def run_blocks(
        self, tokens: torch.Tensor, grid: Size3, keep: Sequence[int]
    ) -> list[tuple[torch.Tensor, Size3]]:
        """All tokens (already positioned) through the blocks.

        Returns:
            The output tokens and grid of each block listed in ``keep``, in block order.
        """
        x = self.prepend_cls(tokens, grid)
        outputs = []
        for i, block in enumerate(self.blocks):
            x, grid = block(x, grid)
            if i in keep:
                outputs.append((x, grid))
        return outputs
