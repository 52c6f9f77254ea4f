"""PySlowFast ``.pyth`` checkpoints (``model_state``): ResNet family (non-local blocks included),
SlowFast, X3D, MViT v1 and MViTv2, ViT (its MViT without pooling; into MViT or
VisionTransformer) and Rev-ViT / Rev-MViT (``rev_backbone.layers.N``).

Module names follow PySlowFast's ``resnet_helper.py``, ``stem_helper.py``, ``head_helper.py``
and ``video_model_builder.py`` (Apache-2.0): ``s{stage}.pathway{p}_res{block}.branch2.{a,b,c}``,
``s{stage}_fuse.conv_f2s``, ``s{stage}.pathway{p}_nonlocal{block}``, ``head.projection``; MViT
``patch_embed.proj``, ``attn.qkv`` and MViTv2's ``attn.rel_pos_{h,w,t}``. Detection heads have no
counterpart yet; their keys are reported as unexpected.
"""

from collections.abc import Mapping

import torch
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from .rules import (
    PARAM,
    CheckpointFormat,
    Conversion,
    fit_qkv_layout,
    fit_shapes,
    make_table,
    minus,
    pathway,
    rename_state,
)

__all__ = ["PySlowFast", "convert"]

_RES = r"s(?P<s>\d)\.pathway(?P<p>\d)_res(?P<i>\d+)\."
_BLOCK = "{p}stages.{s}.{i}."
_MVIT_BLOCK = r"blocks\.(?P<b>\d+)\."
_REV_LAYER = r"rev_backbone\.layers\.(?P<b>\d+)\."

TABLE = make_table(
    [
        (rf"s1\.pathway(?P<p>\d)_stem\.conv_xy\.{PARAM}", "{p}stem.conv_xy.{param}"),
        # The ResNet stem conv, or X3D's channelwise temporal conv after conv_xy.
        (
            rf"s1\.pathway(?P<p>\d)_stem\.conv\.{PARAM}",
            ("{p}stem.conv.{param}", "{p}stem.conv_t.{param}"),
        ),
        (rf"s1\.pathway(?P<p>\d)_stem\.bn\.{PARAM}", "{p}stem.norm.{param}"),
        (rf"{_RES}branch1\.{PARAM}", _BLOCK + "shortcut.0.{param}"),
        (rf"{_RES}branch1_bn\.{PARAM}", _BLOCK + "shortcut.1.{param}"),
        (rf"{_RES}branch2\.(?P<x>[abc])\.{PARAM}", _BLOCK + "conv_{x}.{param}"),
        (rf"{_RES}branch2\.(?P<x>[abc])_bn\.{PARAM}", _BLOCK + "norm_{x}.{param}"),
        (rf"{_RES}branch2\.se\.(?P<fc>fc[12])\.{PARAM}", _BLOCK + "se.{fc}.{param}"),
        (
            rf"s(?P<s>\d)\.pathway(?P<p>\d)_nonlocal(?P<i>\d+)\."
            rf"(?P<m>conv_theta|conv_phi|conv_g|conv_out|bn)\.{PARAM}",
            "{p}stages.{s}.nonlocal{i}.{m}.{param}",
        ),
        (rf"s(?P<f>\d)_fuse\.conv_f2s\.{PARAM}", "fusions.{f}.conv.{param}"),
        (rf"s(?P<f>\d)_fuse\.bn\.{PARAM}", "fusions.{f}.norm.{param}"),
        (rf"head\.projection\.{PARAM}", "head.proj.{param}"),
        (rf"head\.(?P<m>conv_5|lin_5)\.{PARAM}", "head.{m}.{param}"),
        (rf"head\.conv_5_bn\.{PARAM}", "head.norm_5.{param}"),
        (rf"head\.lin_5_bn\.{PARAM}", "head.lin_5_norm.{param}"),
        # MViT v1.
        (rf"patch_embed\.proj\.{PARAM}", "patch_embed.{param}"),
        (r"(?P<n>cls_token|pos_embed|pos_embed_spatial|pos_embed_temporal|pos_embed_class)", "{n}"),
        (
            rf"{_MVIT_BLOCK}attn\.pool_(?P<x>[qkv])\.{PARAM}",
            "blocks.{b}.attn.pool_{x}.pool.{param}",
        ),
        (
            rf"{_MVIT_BLOCK}attn\.norm_(?P<x>[qkv])\.{PARAM}",
            "blocks.{b}.attn.pool_{x}.norm.{param}",
        ),
        (
            rf"{_MVIT_BLOCK}(?P<m>norm1|norm2|attn\.[qkv]|attn\.proj|mlp\.fc[12]|proj)\.{PARAM}",
            "blocks.{b}.{m}.{param}",
        ),
        (rf"{_MVIT_BLOCK}attn\.rel_pos_(?P<x>[hwt])", "blocks.{b}.attn.rel_pos_{x}"),
        (rf"{_MVIT_BLOCK}(?P<g>gamma_[12])", "blocks.{b}.{g}"),
        # Rev-ViT / Rev-MViT: the reversible layers are slowvid's blocks.
        (
            rf"{_REV_LAYER}F\.attn\.pool_(?P<x>[qkv])\.{PARAM}",
            "blocks.{b}.F.attn.pool_{x}.pool.{param}",
        ),
        (
            rf"{_REV_LAYER}F\.attn\.norm_(?P<x>[qkv])\.{PARAM}",
            "blocks.{b}.F.attn.pool_{x}.norm.{param}",
        ),
        (rf"{_REV_LAYER}(?P<rest>.+)", "blocks.{b}.{rest}"),
        (r"fuse\.(?P<rest>.+)", "fuse.{rest}"),
        # With USE_MEAN_POOLING slowvid's final norm belongs to the head (it follows pooling).
        (rf"norm\.{PARAM}", ("norm.{param}", "head.norm.{param}")),
    ],
    groups={"s": minus(2), "f": minus(1), "p": pathway},
)


def convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """Renames a PySlowFast state dict for ``model`` (see the module docstring).

    Args:
        state: PySlowFast parameter names -> tensors.
        model: the slowvid model to load into.
    """
    model_state = model.state_dict()
    conversion = rename_state(state, TABLE, model_state)
    fit_qkv_layout(conversion, model_state)
    conversion.source = "pyslowfast"
    fit_shapes(conversion.state, model_state)
    return conversion


@CHECKPOINT_FORMATS.register()
class PySlowFast(CheckpointFormat):
    """PySlowFast ``.pyth`` (``s2.pathway0_res0...``, ``patch_embed.proj``, ``rev_backbone``)."""

    name = "pyslowfast"
    signature = (
        r"s\d+\.pathway\d+_|s\d+_fuse\.|patch_embed\.proj\.|head\.projection\.|rev_backbone\."
    )
    priority = 40

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return convert(state, model)
