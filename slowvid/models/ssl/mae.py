"""Masked autoencoding of video: VideoMAE and MAE-ST pre-training of a ViT.

Papers: "VideoMAE: Masked Autoencoders are Data-Efficient Learners for Self-Supervised Video
Pre-Training", Tong et al., arXiv:2203.12602; "Masked Autoencoders As Spatiotemporal Learners",
Feichtenhofer et al., arXiv:2205.09113.

::

    clip (B, 3, T, H, W) -> patch tokens + positions (B, N, C)      [encoder.embed]
      -> keep the visible 10%  (B, N/10, C)                           [random or tube mask]
      -> encoder blocks + norm (only those tokens)                    [encoder.encode]
      -> linear to the decoder width, mask tokens put back in place, decoder positions added
      -> light decoder blocks -> norm -> linear                       [MAEDecoder]
      -> predictions of the masked tokens' pixels (B, N_masked, pt*ph*pw*3)
    loss: mean squared error against the normalised pixels of those tokens (PixelTarget)

The encoder never sees a masked token, which is where the speed comes from; the decoder sees all
of them but is narrow and shallow. :class:`MaskedAutoencoder` is the VideoMAE recipe over
slowvid's :class:`~slowvid.models.vit.VisionTransformer` (its loss equals ``transformers``'
``VideoMAEForPreTraining`` given the same weights, clip and mask: ``tests/models/ssl``);
``MaskMViT`` (``maskmvit.py``) is PySlowFast's MAE-ST over its MViT and shares the pieces here.
The layouts follow VideoMAE's ``modeling_pretrain.py``, ``transformers``' ``modeling_videomae.py``
and PySlowFast's ``models/masked.py`` (CC-BY-NC 4.0 / Apache-2.0; read, not copied).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from slowvid.registry import MODELS

from ..blocks.transformer import TransformerBlock, sincos_table
from ..vit import VisionTransformer
from .base import SelfSupervisedModel
from .encoders import TokenEncoder, ViTEncoder
from .masking import random_token_mask, visible_indices
from .targets import PixelTarget

__all__ = ["DecoderSpec", "MAEDecoder", "MaskedAutoencoder", "check_masked_config"]

Size3 = tuple[int, int, int]
DECODER_POS_EMBEDS = ("sincos", "learned", "separate", "none")


@dataclass(frozen=True)
class DecoderSpec:
    """The light decoder of a masked autoencoder.

    Attributes:
        dim: token channels (VideoMAE ViT-B: 384; MAE-ST: 512).
        depth: transformer blocks.
        num_heads: attention heads (both references: ``dim // 64``).
        mlp_ratio: MLP hidden width over ``dim``.
        qkv_bias: bias on q, k, v.
        k_bias: with ``qkv_bias``, on the keys too (VideoMAE: no; PySlowFast: yes).
        pos_embed: "sincos" (fixed 1-D table, VideoMAE), "learned" (one per token, PySlowFast),
            "separate" (learned space + time (+ class), PySlowFast's DECODER_SEP_POS_EMBED) or
            "none".
        embed_bias: bias of the linear map from the encoder width (VideoMAE: none).
        norm_eps: epsilon of the blocks' LayerNorms.
        final_norm_eps: epsilon of the LayerNorm before the prediction layer.
    """

    dim: int = 384
    depth: int = 4
    num_heads: int = 6
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    k_bias: bool = False
    pos_embed: str = "sincos"
    embed_bias: bool = False
    norm_eps: float = 1e-6
    final_norm_eps: float = 1e-6


class MAEDecoder(nn.Module):
    """Puts mask tokens back among the encoded visible tokens and predicts the masked ones.

    Args:
        dim_in: channels of the encoder's output.
        num_outputs: width of one token's prediction.
        grid: (T, H, W) token grid.
        spec: widths, depth, positions.
        num_cls_tokens: leading class tokens of the encoder output, decoded along (PySlowFast)
            and dropped before the prediction layer.
    """

    def __init__(
        self, dim_in: int, num_outputs: int, grid: Size3, spec: DecoderSpec, num_cls_tokens=0
    ):
        super().__init__()
        if spec.pos_embed not in DECODER_POS_EMBEDS:
            raise ValueError(f"pos_embed must be one of {DECODER_POS_EMBEDS}: {spec.pos_embed!r}")
        self.grid = tuple(grid)
        self.num_cls_tokens = num_cls_tokens
        self.pos_embed_type = spec.pos_embed
        dim = spec.dim
        t, h, w = self.grid
        self.embed = nn.Linear(dim_in, dim, bias=spec.embed_bias)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        if spec.pos_embed == "sincos":
            self.register_buffer("pos_embed", sincos_table(t * h * w, dim), persistent=False)
        elif spec.pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, num_cls_tokens + t * h * w, dim))
        elif spec.pos_embed == "separate":
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, dim))
            self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, dim)) if num_cls_tokens else None
        norm = lambda d: nn.LayerNorm(d, eps=spec.norm_eps)  # noqa: E731
        self.blocks = nn.ModuleList(
            TransformerBlock(
                dim, spec.num_heads, spec.mlp_ratio, spec.qkv_bias, spec.k_bias, norm=norm
            )
            for _ in range(spec.depth)
        )
        self.norm = nn.LayerNorm(dim, eps=spec.final_norm_eps)
        self.head = nn.Linear(dim, num_outputs)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in self.parameters(recurse=False):
            nn.init.trunc_normal_(p, std=0.02)  # mask token and learned positions
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def positions(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(class-token positions (1, n_cls, D) or None, patch positions (1, N, D) or None)."""
        kind, n = self.pos_embed_type, self.num_cls_tokens
        if kind == "none":
            return None, None
        if kind == "separate":
            t, h, w = self.grid
            pos = self.pos_embed_temporal.unsqueeze(2) + self.pos_embed_spatial.unsqueeze(1)
            return self.pos_embed_class, pos.flatten(1, 2)
        if kind == "sincos":
            return None, self.pos_embed
        return (self.pos_embed[:, :n] if n else None), self.pos_embed[:, n:]

    def forward(
        self, latent: torch.Tensor, visible: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Args:
            latent: (B, n_cls + n_visible, C_in) encoder output.
            visible: (B, n_visible) indices of the visible tokens in the grid.
            mask: bool (B, N), True where masked.

        Returns:
            (B, n_masked, num_outputs) predictions of the masked tokens, in raster order.
        """
        x = self.embed(latent)
        n_cls = self.num_cls_tokens
        cls, x = x[:, :n_cls], x[:, n_cls:]
        b, _, d = x.shape
        full = x.new_zeros(b, mask.shape[1], d)
        full = full.scatter(1, visible.unsqueeze(-1).expand(-1, -1, d), x)
        full = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype), full)
        cls_pos, pos = self.positions()
        if pos is not None:
            full = full + pos.to(x.dtype)
        if n_cls:
            full = torch.cat([cls if cls_pos is None else cls + cls_pos.to(x.dtype), full], 1)
        for block in self.blocks:
            full = block(full)
        full = self.norm(full[:, n_cls:])
        masked = full[mask].reshape(b, -1, d)
        return self.head(masked)


def check_masked_config(cfg, model_name: str) -> None:
    """The keys every masked model needs set together (MASK.ENABLE, LOSS_FUNC, TASK)."""
    problems = []
    if not cfg.MASK.ENABLE:
        problems.append("MASK.ENABLE must be True")
    if cfg.MODEL.LOSS_FUNC != "multi_mse":
        problems.append(
            f"MODEL.LOSS_FUNC must be 'multi_mse' (its own squared-error loss), "
            f"got {cfg.MODEL.LOSS_FUNC!r}"
        )
    if problems:
        raise ValueError(f"{model_name}: " + "; ".join(problems))


@MODELS.register()
class MaskedAutoencoder(SelfSupervisedModel):
    """Masked autoencoder pre-training of a video transformer (VideoMAE's recipe).

    In training and evaluation alike, ``forward`` draws masks, reconstructs and returns
    ``{"loss": mse}`` (see :class:`~.base.SelfSupervisedModel`).

    Args:
        encoder: a :class:`~.encoders.TokenEncoder` (``ViTEncoder``: VideoMAE, MAE-ST).
        decoder: the decoder, sized for the encoder's grid.
        target: how pixel targets are made (VideoMAE: all frames, per-channel normalisation of
            un-normalised pixels).
        mask_ratio: fraction of tokens masked (AUG.MASK_RATIO).
        tube: tube masking (VideoMAE) instead of random space-time masking (MAE-ST).
    """

    def __init__(
        self,
        *,
        encoder: TokenEncoder,
        decoder: MAEDecoder,
        target: PixelTarget,
        mask_ratio: float = 0.9,
        tube: bool = True,
    ):
        super().__init__()
        if not isinstance(encoder, TokenEncoder):
            raise TypeError(f"{type(encoder).__name__} does not implement TokenEncoder")
        self.encoder = encoder
        self.decoder = decoder
        self.target = target
        self.mask_ratio = mask_ratio
        self.tube = tube
        self.declare_backbone(encoder, "encoder")

    archs = ("vit",)
    block_types: tuple[type[nn.Module], ...] = (TransformerBlock,)  # encoder's and decoder's

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads VIT.* and DATA.* (the encoder, as :class:`VisionTransformer` reads them),
        MASK.DECODER_EMBED_DIM / DECODER_DEPTH / PRETRAIN_DEPTH / NORM_PRED_PIXEL /
        TIME_STRIDE_LOSS, AUG.MASK_RATIO / MASK_TUBE, DATA.MEAN / STD."""
        check_masked_config(cfg, "MaskedAutoencoder")
        vit = VisionTransformer.from_config(cfg)
        for key in ("head", "mean_pooling"):
            vit.pop(key)
        encoder = ViTEncoder(**vit)
        _cut_blocks(encoder, cfg.MASK.PRETRAIN_DEPTH)
        m = cfg.MASK
        target = PixelTarget(
            patch=encoder.patch,
            time_stride=m.TIME_STRIDE_LOSS,
            norm="channel" if m.NORM_PRED_PIXEL else "none",
            mean=tuple(cfg.DATA.MEAN),
            std=tuple(cfg.DATA.STD),
        )
        spec = DecoderSpec(
            dim=m.DECODER_EMBED_DIM,
            depth=m.DECODER_DEPTH,
            num_heads=max(m.DECODER_EMBED_DIM // 64, 1),
            qkv_bias=cfg.VIT.QKV_BIAS,
            k_bias=cfg.VIT.K_BIAS,
        )
        decoder = MAEDecoder(encoder.embed_dim, target.num_outputs(), encoder.pos_grid, spec)
        return {
            "encoder": encoder,
            "decoder": decoder,
            "target": target,
            "mask_ratio": cfg.AUG.MASK_RATIO,
            "tube": cfg.AUG.MASK_TUBE,
        }

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The encoder's output tokens over the whole clip, nothing masked."""
        tokens, _ = self.encoder.embed(inputs[0])
        return [self.encoder.encode(tokens)]

    def no_weight_decay(self) -> set[str]:
        """The encoder's exempt names (position embeddings, class token), prefixed."""
        return {f"encoder.{n}" for n in self.encoder.no_weight_decay()}

    def reconstruct(
        self, clip: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predictions and targets of the masked tokens.

        Args:
            clip: (B, C, T, H, W).
            mask: bool (B, N), True where masked; drawn at random when None.

        Returns:
            ``(predictions, targets, mask)``; the first two (B, n_masked, D).
        """
        tokens, grid = self.encoder.embed(clip)
        if mask is None:
            mask = random_token_mask(
                tokens.shape[0], grid, self.mask_ratio, self.tube, tokens.device
            )
        visible = visible_indices(mask)
        kept = tokens.gather(1, visible.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        # Class tokens go to the decoder only if it decodes them (PySlowFast's MAE-ST does).
        skip = self.encoder.num_cls_tokens - self.decoder.num_cls_tokens
        latent = self.encoder.encode(kept)[:, skip:]
        predictions = self.decoder(latent, visible, mask)
        targets = self.target(clip)
        targets = targets[mask].reshape(predictions.shape[0], -1, targets.shape[-1])
        return predictions, targets, mask

    def forward(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Args: inputs: ``[clip]``, clip (B, C, T, H, W). Returns: ``{"loss": mse}``."""
        predictions, targets, _ = self.reconstruct(inputs[0])
        return {"loss": F.mse_loss(predictions.float(), targets)}


def _cut_blocks(encoder: nn.Module, pretrain_depth: Sequence[int]) -> None:
    """Drops the blocks after the last of MASK.PRETRAIN_DEPTH, as PySlowFast does."""
    if len(pretrain_depth) != 1:
        raise ValueError(
            f"MASK.PRETRAIN_DEPTH {list(pretrain_depth)}: masked autoencoders decode one depth"
        )
    last = pretrain_depth[0]
    if last + 1 < len(encoder.blocks):
        del encoder.blocks[last + 1 :]
