"""PySlowFast's masked pre-training of MViT and of its plain-ViT schedule: MAE-ST and MaskFeat.

Papers: "Masked Autoencoders As Spatiotemporal Learners", Feichtenhofer et al., arXiv:2205.09113
(MAE-ST); "Masked Feature Prediction for Self-Supervised Visual Pre-Training", Wei et al.,
arXiv:2112.09133 (MaskFeat).

``MODEL.MODEL_NAME MaskMViT`` with ``MODEL.ARCH maskmvit`` builds what PySlowFast's
``models/masked.py`` builds from the same keys (``configs/masked_ssl``; the parameter counts are
tested against PySlowFast's own), written anew on slowvid's :class:`~slowvid.models.mvit.MViT`:

MAE-ST (``MASK.MAE_ON``)::

    MViT with a ViT schedule -> visible tokens (random, AUG.MASK_RATIO) -> blocks -> norm
      -> decoder (MASK.DECODER_EMBED_DIM, DECODER_DEPTH blocks; the class token decoded along,
         learned positions) -> pixels of one frame per tubelet (MASK.TIME_STRIDE_LOSS),
         normalised per patch (MASK.NORM_PRED_PIXEL)

MaskFeat::

    MViT(v2) patch tokens, masked ones replaced by a learned mask token (block-wise cube masks
    from the loader, AUG.GEN_MASK_LOADER, or random ones, MASK.MAE_RND_MASK)
      -> positions -> blocks up to the last MASK.PRETRAIN_DEPTH
      -> per listed block: norm -> linear -> HOG (MASK.PRED_HOG: 9 bins x 3 channels per 8x8
         cell of the token's region, of one frame per tubelet) or pixels of the masked tokens

The loss is the mean squared error (``MODEL.LOSS_FUNC multi_mse``): pixel terms are averaged
over the listed blocks, HOG terms summed, as PySlowFast weighs them.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from slowvid.registry import MODELS

from ..blocks.attention import MultiScaleBlock
from ..blocks.transformer import TransformerBlock
from ..mvit import MViT
from .encoders import MViTEncoder
from .mae import DecoderSpec, MAEDecoder, MaskedAutoencoder, check_masked_config
from .masking import random_token_mask
from .targets import HOG, PixelTarget, hog_token_targets

__all__ = ["MaskFeatSpec", "MaskMViT"]

Size3 = tuple[int, int, int]
HOG_BINS, HOG_CELL = 9, 8  # PySlowFast's MaskFeat descriptor


@dataclass(frozen=True)
class MaskFeatSpec:
    """What MaskFeat predicts.

    Attributes:
        depths: blocks whose outputs predict (MASK.PRETRAIN_DEPTH).
        hog: HOG targets (MASK.PRED_HOG), else pixels.
        time_stride: pixel targets of one frame per tubelet (MASK.TIME_STRIDE_LOSS).
        norm_pixels: pixel targets normalised per patch (MASK.NORM_PRED_PIXEL).
    """

    depths: tuple[int, ...] = (15,)
    hog: bool = True
    time_stride: bool = True
    norm_pixels: bool = True


def _block_geometry(encoder: MViTEncoder) -> list[tuple[Size3, int]]:
    """Per block: its output token grid and its spatial stride in pixels."""
    grid, stride = list(encoder.pos_grid), encoder.patch_embed.stride[-1]
    out = []
    for block in encoder.blocks:
        pool = block.pool_skip
        step = tuple(pool.stride) if pool is not None else (1, 1, 1)
        grid = [g // s for g, s in zip(grid, step, strict=True)]
        stride *= step[-1]
        out.append((tuple(grid), stride))
    return out


@MODELS.register()
class MaskMViT(MaskedAutoencoder):
    """Masked pre-training of MViT, PySlowFast's ``MaskMViT``: MAE-ST when built with a
    ``decoder``, MaskFeat when built with ``maskfeat``.

    ``forward(inputs)`` returns ``{"loss": ...}``; ``inputs`` is ``[clip]`` or, with loader masks,
    ``[clip, mask]`` (mask (B, [1,] t, h, w), 1 = masked, on a grid whose ``t`` is the token
    grid's; space is resized to the tokens' nearest neighbour).

    Args:
        encoder: the MViT, cut after the last block it predicts from.
        decoder: MAE-ST's decoder; None for MaskFeat.
        target: MAE-ST's pixel targets.
        maskfeat: MaskFeat's targets; None for MAE-ST.
        mask_ratio: fraction of tokens masked when the model draws masks.
        tube: the drawn masks are tubes.
        random_mask: draw random masks here (MASK.MAE_RND_MASK) instead of reading the loader's.
    """

    def __init__(
        self,
        *,
        encoder: MViTEncoder,
        decoder: MAEDecoder | None = None,
        target: PixelTarget | None = None,
        maskfeat: MaskFeatSpec | None = None,
        mask_ratio: float = 0.9,
        tube: bool = False,
        random_mask: bool = True,
    ):
        if (decoder is None) == (maskfeat is None):
            raise ValueError("MaskMViT takes a decoder (MAE-ST) or a MaskFeat spec, not both")
        super().__init__(
            encoder=encoder,
            decoder=decoder if decoder is not None else nn.Identity(),
            target=target or PixelTarget(),
            mask_ratio=mask_ratio,
            tube=tube,
        )
        self.random_mask = random_mask
        self.maskfeat = maskfeat
        if maskfeat is None:
            return
        del self.decoder
        geometry = _block_geometry(encoder)
        patch_t = encoder.patch_embed.stride[0]
        self.mask_token = nn.Parameter(torch.zeros(1, 1, encoder.patch_dim))
        self.heads = nn.ModuleList()
        self.grids, self.targets = [], []
        for depth in maskfeat.depths:
            grid, stride = geometry[depth]
            if maskfeat.hog:
                outputs = HOG_BINS * 3 * (stride // HOG_CELL) ** 2
                self.targets.append(None)
            else:
                norm = "patch" if maskfeat.norm_pixels else "none"
                pixels = PixelTarget((patch_t, stride, stride), maskfeat.time_stride, norm)
                self.targets.append(pixels)
                outputs = pixels.num_outputs()
            dim = encoder.blocks[depth].mlp.fc2.out_features
            head = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, outputs))
            nn.init.trunc_normal_(head[1].weight, std=0.02)
            nn.init.zeros_(head[1].bias)
            self.heads.append(head)
            self.grids.append(grid)
        self.hog = HOG(HOG_BINS, HOG_CELL) if maskfeat.hog else None
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    archs = ("maskmvit",)
    block_types: tuple[type[nn.Module], ...] = (MultiScaleBlock, TransformerBlock)

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH (``maskmvit``), the MVIT.* keys as :class:`MViT` reads them, MASK.*,
        AUG.MASK_RATIO / MASK_TUBE."""
        check_masked_config(cfg, "MaskMViT")
        if cfg.MODEL.ARCH != "maskmvit":
            raise ValueError(f"MODEL.ARCH {cfg.MODEL.ARCH!r}: MaskMViT is built as 'maskmvit'")
        mvit_cfg = cfg.clone()
        mvit_cfg.defrost()
        mvit_cfg.MODEL.ARCH = "mvit"
        kwargs = MViT.from_config(mvit_cfg)
        specs = kwargs.pop("blocks")
        for key in ("head", "mean_pooling"):
            kwargs.pop(key)
        m = cfg.MASK
        depths = tuple(m.PRETRAIN_DEPTH)
        bad = [d for d in depths if not 0 <= d < len(specs)]
        if not depths or bad or list(depths) != sorted(set(depths)):
            raise ValueError(
                f"MASK.PRETRAIN_DEPTH {list(depths)}: increasing block indices below "
                f"MVIT.DEPTH={len(specs)}"
            )
        head_type = m.HEAD_TYPE.split("_")
        if head_type[0] != "separate" or head_type[1:] not in ([], ["xformer"]):
            raise ValueError(f"MASK.HEAD_TYPE {m.HEAD_TYPE!r}: 'separate' or 'separate_xformer'")
        encoder = MViTEncoder(blocks=specs[: depths[-1] + 1], final_norm=m.MAE_ON, **kwargs)
        common = {
            "encoder": encoder,
            "mask_ratio": cfg.AUG.MASK_RATIO,
            "tube": cfg.AUG.MASK_TUBE,
            "random_mask": m.MAE_RND_MASK,
        }
        if not m.MAE_ON:
            if head_type[1:]:
                raise ValueError("MASK.HEAD_TYPE separate_xformer needs MASK.MAE_ON")
            spec = MaskFeatSpec(depths, m.PRED_HOG, m.TIME_STRIDE_LOSS, m.NORM_PRED_PIXEL)
            return {**common, "maskfeat": spec}
        problems = []
        if m.PRED_HOG:
            problems.append(
                "MASK.PRED_HOG with MASK.MAE_ON is not built (PySlowFast pairs HOG with MaskFeat)"
            )
        if len(depths) != 1:
            problems.append(f"MASK.PRETRAIN_DEPTH {list(depths)}: MAE decodes one depth")
        if not m.MAE_RND_MASK:
            problems.append("MASK.MAE_ON draws its masks: set MASK.MAE_RND_MASK True")
        if head_type[1:] and m.DECODER_DEPTH < 1:
            problems.append("MASK.HEAD_TYPE separate_xformer needs MASK.DECODER_DEPTH >= 1")
        if problems:
            raise ValueError("MaskMViT: " + "; ".join(problems))
        target = PixelTarget(
            patch=tuple(encoder.patch_embed.stride),
            time_stride=m.TIME_STRIDE_LOSS,
            norm="patch" if m.NORM_PRED_PIXEL else "none",
        )
        if not encoder.use_abs_pos:
            pos = "none"
        else:
            pos = "separate" if m.DECODER_SEP_POS_EMBED else "learned"
        spec = DecoderSpec(
            dim=m.DECODER_EMBED_DIM,
            depth=m.DECODER_DEPTH if head_type[1:] else 0,
            num_heads=max(m.DECODER_EMBED_DIM // 64, 1),
            mlp_ratio=cfg.MVIT.MLP_RATIO,
            qkv_bias=cfg.MVIT.QKV_BIAS,
            k_bias=True,
            pos_embed=pos,
            embed_bias=True,
        )
        decoder = MAEDecoder(
            encoder.embed_dim,
            target.num_outputs(cfg.DATA.INPUT_CHANNEL_NUM[0]),
            encoder.pos_grid,
            spec,
            num_cls_tokens=encoder.num_cls_tokens,
        )
        return {**common, "decoder": decoder, "target": target}

    def no_weight_decay(self) -> set[str]:
        """The encoder's exempt names and, with MVIT.ZERO_DECAY_POS_CLS, the decoder's learned
        position embeddings."""
        names = {f"encoder.{n}" for n in self.encoder.no_weight_decay()}
        if self.encoder.zero_decay_pos_cls and self.maskfeat is None:
            names |= {
                f"decoder.{n}"
                for n, _ in self.decoder.named_parameters()
                if n.startswith("pos_embed")
            }
        return names

    def _token_mask(self, inputs: Sequence[torch.Tensor], grid: Size3, batch: int):
        """(B, T, H, W) float mask on the token grid: the loader's or a random one."""
        if self.random_mask:
            mask = random_token_mask(batch, grid, self.mask_ratio, self.tube, inputs[0].device)
            return mask.view(batch, *grid).float()
        if len(inputs) < 2:
            raise ValueError(
                "MaskMViT without MASK.MAE_RND_MASK reads the loader's masks: set "
                "AUG.GEN_MASK_LOADER True"
            )
        return _resize_mask(inputs[-1], grid)

    def forward(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Args: inputs: ``[clip]`` or ``[clip, mask]``. Returns: ``{"loss": ...}``."""
        if self.maskfeat is None:
            return super().forward(inputs[:1])
        clip = inputs[0] if inputs[0].dim() == 5 else inputs[0].unsqueeze(2)
        x, grid = self.encoder.patch_tokens(clip)
        mask = self._token_mask(inputs, grid, x.shape[0])
        weight = mask.flatten(1).unsqueeze(-1).to(x.dtype)
        x = x * (1 - weight) + self.mask_token.to(x.dtype) * weight
        _, pos = self.encoder.positions(grid)
        if pos is not None:
            x = x + pos.to(x.dtype)
        outputs = self.encoder.run_blocks(x, grid, self.maskfeat.depths)
        loss = x.new_zeros((), dtype=torch.float32)
        patch_t = self.encoder.patch_embed.stride[0]
        for (tokens, out_grid), head, pixels in zip(outputs, self.heads, self.targets):
            selected = _resize_mask(mask, out_grid).flatten(1).bool()
            predictions = head(tokens[:, self.encoder.num_cls_tokens :])[selected]
            if pixels is None:
                targets = hog_token_targets(self.hog, clip, patch_t, out_grid)
                weight = 1.0
            else:
                targets = pixels(clip)
                weight = 1.0 / len(self.heads)
            loss = loss + weight * F.mse_loss(predictions.float(), targets[selected])
        return {"loss": loss}


def _resize_mask(mask: torch.Tensor, grid: Size3) -> torch.Tensor:
    """A (B, t, h, w) mask brought to (B, T, H, W) by nearest-neighbour resizing in space (the
    mask's frames must match the grid's, as PySlowFast requires)."""
    mask = mask.float()
    if mask.dim() == 5:  # the loader's (B, 1, t, h, w)
        mask = mask.squeeze(1)
    if mask.dim() == 3:  # one image grid per sample
        mask = mask.unsqueeze(1)
    if mask.shape[1] != grid[0]:
        raise ValueError(
            f"a mask of {mask.shape[1]} frames for a {grid[0]}-frame token grid: set "
            f"AUG.MASK_WINDOW_SIZE[0] to {grid[0]}"
        )
    return F.interpolate(mask, size=tuple(grid[1:]), mode="nearest")
