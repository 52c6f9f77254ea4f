"""PyTorchVideo state dicts (its hub models): SlowFast, Slow, C2D/I3D, X3D, CSN, R(2+1)D, MViT.

PyTorchVideo's ``Net`` is a flat ``blocks`` list: block 0 is the stem, blocks 1..4 the residual
stages (``res_blocks.{i}.branch2.conv_a``...), then the head (``blocks.{k}.proj``); two-pathway
models wrap each in ``multipathway_blocks.{p}`` and add ``multipathway_fusion``. MViT uses
``patch_embed.patch_model``, ``cls_positional_encoding.*`` and ``norm_embed``. Module names
follow PyTorchVideo 0.1.5 (Apache-2.0).
"""

import logging
from collections.abc import Mapping

import torch
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from .rules import (
    PARAM,
    CheckpointFormat,
    Conversion,
    fill_identity_norms,
    fit_qkv_layout,
    fit_shapes,
    make_table,
    minus,
    pathway,
    rename_state,
)

__all__ = ["PyTorchVideo", "convert"]

logger = logging.getLogger(__name__)

_PATH = r"(?:multipathway_blocks\.(?P<p>\d)\.)?"
_RES = rf"blocks\.(?P<s>\d+)\.{_PATH}res_blocks\.(?P<i>\d+)\."
_BLOCK = "{p}stages.{s}.{i}."
_MVIT_BLOCK = r"blocks\.(?P<b>\d+)\."

TABLE = make_table(
    [
        # X3D's stem: PyTorchVideo calls its spatial conv conv_t and its temporal conv conv_xy.
        (rf"blocks\.0\.conv\.conv_t\.{PARAM}", "stem.conv_xy.{param}"),
        (rf"blocks\.0\.conv\.conv_xy\.{PARAM}", "stem.conv_t.{param}"),
        (rf"blocks\.0\.{_PATH}conv\.{PARAM}", "{p}stem.conv.{param}"),
        (rf"blocks\.0\.{_PATH}norm\.{PARAM}", "{p}stem.norm.{param}"),
        (rf"{_RES}branch1_conv\.{PARAM}", _BLOCK + "shortcut.0.{param}"),
        (rf"{_RES}branch1_norm\.{PARAM}", _BLOCK + "shortcut.1.{param}"),
        (rf"{_RES}branch2\.conv_(?P<x>[abc])\.{PARAM}", _BLOCK + "conv_{x}.{param}"),
        (rf"{_RES}branch2\.norm_(?P<x>[abc])\.{PARAM}", _BLOCK + "norm_{x}.{param}"),
        # X3D: norm_b is Sequential(BatchNorm, SqueezeExcitation(block=[conv, act, conv])).
        (rf"{_RES}branch2\.norm_b\.0\.{PARAM}", _BLOCK + "norm_b.{param}"),
        (rf"{_RES}branch2\.norm_b\.1\.block\.0\.{PARAM}", _BLOCK + "se.fc1.{param}"),
        (rf"{_RES}branch2\.norm_b\.1\.block\.2\.{PARAM}", _BLOCK + "se.fc2.{param}"),
        # R(2+1)D: conv_b is a Conv2plus1d with the same inner names as slowvid's.
        (
            rf"{_RES}branch2\.conv_b\.(?P<m>conv_t|conv_xy|norm)\.{PARAM}",
            _BLOCK + "conv_b.{m}.{param}",
        ),
        (
            rf"blocks\.(?P<f>\d+)\.multipathway_fusion\.conv_fast_to_slow\.{PARAM}",
            "fusions.{f}.conv.{param}",
        ),
        (rf"blocks\.(?P<f>\d+)\.multipathway_fusion\.norm\.{PARAM}", "fusions.{f}.norm.{param}"),
        (rf"blocks\.\d+\.pool\.pre_conv\.{PARAM}", "head.conv_5.{param}"),
        (rf"blocks\.\d+\.pool\.pre_norm\.{PARAM}", "head.norm_5.{param}"),
        (rf"blocks\.\d+\.pool\.post_conv\.{PARAM}", "head.lin_5.{param}"),
        (rf"blocks\.\d+\.pool\.post_norm\.{PARAM}", "head.lin_5_norm.{param}"),
        # MViT.
        (rf"patch_embed\.patch_model\.{PARAM}", "patch_embed.{param}"),
        (r"cls_positional_encoding\.(?P<n>\w+)", "{n}"),
        (
            rf"{_MVIT_BLOCK}attn\.pool_(?P<x>[qkv])\.{PARAM}",
            "blocks.{b}.attn.pool_{x}.pool.{param}",
        ),
        (
            rf"{_MVIT_BLOCK}attn\.norm_(?P<x>[qkv])\.{PARAM}",
            "blocks.{b}.attn.pool_{x}.norm.{param}",
        ),
        (
            rf"{_MVIT_BLOCK}(?P<m>norm1|norm2|attn\.[qkv]|attn\.proj|mlp\.fc[12])\.{PARAM}",
            "blocks.{b}.{m}.{param}",
        ),
        # An MViT block's width projection, else a CNN head's classifier (``blocks.5.proj``).
        (rf"{_MVIT_BLOCK}proj\.{PARAM}", ("blocks.{b}.proj.{param}", "head.proj.{param}")),
        (rf"norm_embed\.{PARAM}", "norm.{param}"),
        (rf"head\.proj\.{PARAM}", "head.proj.{param}"),
    ],
    groups={"s": minus(1), "p": pathway},
)


def convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """Renames a PyTorchVideo state dict for ``model`` (see the module docstring).

    PyTorchVideo's X3D gives a shortcut conv no norm when the width does not change (the
    first block of res2); slowvid's has one, which is filled with an exact identity.

    Args:
        state: PyTorchVideo parameter names -> tensors.
        model: the slowvid model to load into.
    """
    model_state = model.state_dict()
    conversion = rename_state(state, TABLE, model_state)
    conversion.source = "pytorchvideo"
    filled = fill_identity_norms(conversion.state, model, r".*\.shortcut\.1")
    if filled:
        logger.info("PyTorchVideo shortcuts without a norm, filled with identity: %s", filled)
    fit_qkv_layout(conversion, model_state)
    fit_shapes(conversion.state, model_state)
    return conversion


@CHECKPOINT_FORMATS.register()
class PyTorchVideo(CheckpointFormat):
    """PyTorchVideo hub models (``blocks.N...``)."""

    name = "pytorchvideo"
    signature = (
        r"blocks\.\d+\.(multipathway_blocks|multipathway_fusion|res_blocks|conv\.conv_t)\."
        r"|cls_positional_encoding\.|patch_embed\.patch_model\."
    )
    priority = 30

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return convert(state, model)
