"""PyTorchVideo state dicts (its hub models): SlowFast, Slow, C2D/I3D, X3D, CSN, R(2+1)D, MViT.

PyTorchVideo's ``Net`` is a flat ``blocks`` list: block 0 is the stem, blocks 1..4 the residual
stages (``res_blocks.{i}.branch2.conv_a``...), then the head (``blocks.{k}.proj``); two-pathway
models wrap each in ``multipathway_blocks.{p}`` and add ``multipathway_fusion``. MViT uses
``patch_embed.patch_model``, ``cls_positional_encoding.*`` and ``norm_embed``. The detectors
(``create_*_with_roi_head``) put the backbone under ``model.`` and the box head under
``detection_head.``. The mobile-CPU X3D (``efficient_x3d_*``, "original form") names its stages
``s{2..5}.pathway0_res{i}.layers.conv_{0,1,2}.kernel.{conv,bn}``. Module names follow
PyTorchVideo 0.1.5 (Apache-2.0).
"""

import logging
import re
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
_MOBILE_RES = r"s(?P<ms>\d)\.pathway0_res(?P<i>\d+)\."
_MOBILE_BLOCK = "stages.{ms}.{i}."

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
        # Mobile-CPU X3D: every conv sits in ``kernel.conv`` with its norm in ``kernel.bn``.
        (rf"s1\.pathway0_stem_conv_xy\.kernel\.conv\.{PARAM}", "stem.conv_xy.{param}"),
        (rf"s1\.pathway0_stem_conv\.kernel\.conv\.{PARAM}", "stem.conv_t.{param}"),
        (rf"s1\.pathway0_stem_conv\.kernel\.bn\.{PARAM}", "stem.norm.{param}"),
        (rf"{_MOBILE_RES}_res_proj\.kernel\.conv\.{PARAM}", _MOBILE_BLOCK + "shortcut.0.{param}"),
        (rf"{_MOBILE_RES}_res_proj\.kernel\.bn\.{PARAM}", _MOBILE_BLOCK + "shortcut.1.{param}"),
        (
            rf"{_MOBILE_RES}layers\.conv_(?P<abc>[012])\.kernel\.conv\.{PARAM}",
            _MOBILE_BLOCK + "conv_{abc}.{param}",
        ),
        (
            rf"{_MOBILE_RES}layers\.conv_(?P<abc>[012])\.kernel\.bn\.{PARAM}",
            _MOBILE_BLOCK + "norm_{abc}.{param}",
        ),
        (rf"{_MOBILE_RES}layers\.se\.se\.block\.0\.{PARAM}", _MOBILE_BLOCK + "se.fc1.{param}"),
        (rf"{_MOBILE_RES}layers\.se\.se\.block\.2\.{PARAM}", _MOBILE_BLOCK + "se.fc2.{param}"),
        (rf"head\.conv_5\.kernel\.conv\.{PARAM}", "head.conv_5.{param}"),
        (rf"head\.conv_5\.kernel\.bn\.{PARAM}", "head.norm_5.{param}"),
        (rf"head\.lin_5\.kernel\.conv\.{PARAM}", "head.lin_5.{param}"),
        (rf"projection\.model\.{PARAM}", "head.proj.{param}"),
    ],
    groups={"s": minus(1), "p": pathway, "ms": minus(2), "abc": lambda v: "abc"[int(v)]},
)

# The detectors' box head: PyTorchVideo's ``ResNetRoIHead`` holds only the projection.
_DETECTION_HEAD = make_table([(rf"detection_head\.proj\.{PARAM}", "head.proj.{param}")])


def convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """Renames a PyTorchVideo state dict for ``model`` (see the module docstring).

    PyTorchVideo's X3D gives a shortcut conv no norm when the width does not change (the
    first block of res2); slowvid's has one, which is filled with an exact identity. C2D and
    I3D have a weightless temporal pool after res2 that takes a block index of its own.

    Args:
        state: PyTorchVideo parameter names -> tensors.
        model: the slowvid model to load into.
    """
    if any(k.startswith("detection_head.") for k in state):
        return _convert_detector(state, model)
    model_state = model.state_dict()
    renumbered, source_key = _close_block_gaps(state)
    conversion = rename_state(renumbered, TABLE, model_state)
    conversion.origin = {k: source_key[v] for k, v in conversion.origin.items()}
    conversion.source = PyTorchVideo.name
    filled = fill_identity_norms(conversion.state, model, r".*\.shortcut\.1")
    if filled:
        logger.info("PyTorchVideo shortcuts without a norm, filled with identity: %s", filled)
    fit_qkv_layout(conversion, model_state)
    fit_shapes(conversion.state, model_state)
    return conversion


def _close_block_gaps(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Numbers a CNN's ``blocks.N`` consecutively, skipping blocks without weights (C2D and
    I3D's pool after res2 is ``blocks.2``, which moves res3 to ``blocks.3``).

    Returns:
        The renamed tensors and renamed key -> source key.
    """
    index = re.compile(r"blocks\.(\d+)\.")
    cnn = any(".res_blocks." in k for k in state)
    present = sorted({int(m[1]) for k in state if cnn and (m := index.match(k))})
    new_index = {old: new for new, old in enumerate(present)}
    out, source_key = {}, {}
    for key, value in state.items():
        m = index.match(key) if cnn else None
        name = f"blocks.{new_index[int(m[1])]}.{key[m.end() :]}" if m else key
        out[name] = value
        source_key[name] = key
    return out, source_key


def _convert_detector(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """A PyTorchVideo detector (``model.*`` backbone, ``detection_head.*``) for a slowvid
    :class:`~slowvid.models.detector.ActionDetector` (``backbone.*``, ``head.*``)."""
    from slowvid.models.detector import ActionDetector  # models import the converters' users

    if not isinstance(model, ActionDetector):
        raise ValueError(
            "a PyTorchVideo detection checkpoint (detection_head.*) loads into an "
            f"ActionDetector, not into {type(model).__name__}"
        )
    inner = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    conversion = convert(inner, model.backbone)
    out = Conversion(state={}, source=PyTorchVideo.name, skipped=list(conversion.skipped))
    for key, value in conversion.state.items():
        out.state[f"backbone.{key}"] = value
        if key in conversion.origin:
            out.origin[f"backbone.{key}"] = f"model.{conversion.origin[key]}"
    rest = {k: v for k, v in state.items() if not k.startswith("model.")}
    head = rename_state(rest, _DETECTION_HEAD, model.state_dict())
    out.state.update(head.state)
    out.origin.update(head.origin)
    return out


@CHECKPOINT_FORMATS.register()
class PyTorchVideo(CheckpointFormat):
    """PyTorchVideo hub models (``blocks.N...``), its detectors (``model.blocks.N...``) and its
    mobile-CPU X3D (``s1.pathway0_stem_conv_xy.kernel...``)."""

    name = "pytorchvideo"
    signature = (
        r"(model\.)?blocks\.\d+\."
        r"(multipathway_blocks|multipathway_fusion|res_blocks|conv\.conv_t)\."
        r"|cls_positional_encoding\.|patch_embed\.patch_model\."
        r"|s1\.pathway0_stem_conv_xy\.kernel\."
    )
    priority = 30

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return convert(state, model)
