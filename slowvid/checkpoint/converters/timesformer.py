"""TimeSformer checkpoints into :class:`~slowvid.models.timesformer.TimeSformer`.

``transformers-timesformer``  Hugging Face ``TimesformerForVideoClassification``
                              (``timesformer.encoder.layer.N.temporal_attention...``).
``timesformer``               the original release (facebookresearch/TimeSformer ``.pyth``:
                              ``model.blocks.N.temporal_attn.qkv``, ``model.time_embed``).

slowvid's module names are the original release's, so that layout only loses its ``model.``
prefix. Names follow ``transformers/models/timesformer/modeling_timesformer.py`` (Apache-2.0)
and ``timesformer/models/vit.py`` (CC-BY-NC 4.0; names only).
"""

from collections.abc import Mapping

import torch
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from .rules import PARAM, CheckpointFormat, Conversion, make_table, rename_state

__all__ = ["TimeSformerRelease", "TransformersTimeSformer"]

_LAYER = r"timesformer\.encoder\.layer\.(?P<b>\d+)\."
_EMBED = r"timesformer\.embeddings\."

TRANSFORMERS_TABLE = make_table(
    [
        (rf"{_EMBED}patch_embeddings\.projection\.{PARAM}", "patch_embed.{param}"),
        (rf"{_EMBED}cls_token", "cls_token"),
        (rf"{_EMBED}position_embeddings", "pos_embed"),
        (rf"{_EMBED}time_embeddings", "time_embed"),
        (rf"{_LAYER}attention\.attention\.qkv\.{PARAM}", "blocks.{b}.attn.qkv.{param}"),
        (rf"{_LAYER}attention\.output\.dense\.{PARAM}", "blocks.{b}.attn.proj.{param}"),
        (
            rf"{_LAYER}temporal_attention\.attention\.qkv\.{PARAM}",
            "blocks.{b}.temporal_attn.qkv.{param}",
        ),
        (
            rf"{_LAYER}temporal_attention\.output\.dense\.{PARAM}",
            "blocks.{b}.temporal_attn.proj.{param}",
        ),
        (rf"{_LAYER}temporal_dense\.{PARAM}", "blocks.{b}.temporal_fc.{param}"),
        (rf"{_LAYER}temporal_layernorm\.{PARAM}", "blocks.{b}.temporal_norm1.{param}"),
        (rf"{_LAYER}layernorm_before\.{PARAM}", "blocks.{b}.norm1.{param}"),
        (rf"{_LAYER}layernorm_after\.{PARAM}", "blocks.{b}.norm2.{param}"),
        (rf"{_LAYER}intermediate\.dense\.{PARAM}", "blocks.{b}.mlp.fc1.{param}"),
        (rf"{_LAYER}output\.dense\.{PARAM}", "blocks.{b}.mlp.fc2.{param}"),
        (rf"timesformer\.layernorm\.{PARAM}", "norm.{param}"),
        (rf"classifier\.{PARAM}", "head.proj.{param}"),
    ]
)

ORIGINAL_TABLE = make_table(
    [
        (rf"model\.patch_embed\.proj\.{PARAM}", "patch_embed.{param}"),
        (rf"model\.head\.{PARAM}", "head.proj.{param}"),
        (r"model\.(?P<rest>.+)", "{rest}"),
    ]
)


@CHECKPOINT_FORMATS.register()
class TransformersTimeSformer(CheckpointFormat):
    """Hugging Face ``TimesformerForVideoClassification`` state dicts."""

    name = "transformers-timesformer"
    signature = r"timesformer\.(embeddings|encoder)\."
    priority = 34

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        conversion = rename_state(state, TRANSFORMERS_TABLE, model.state_dict())
        conversion.source = self.name
        return conversion


@CHECKPOINT_FORMATS.register()
class TimeSformerRelease(CheckpointFormat):
    """The TimeSformer release's ``.pyth`` (``model.`` prefix)."""

    name = "timesformer"
    signature = r"model\.(time_embed$|blocks\.\d+\.temporal_attn\.)"
    priority = 35

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        conversion = rename_state(state, ORIGINAL_TABLE, model.state_dict())
        conversion.source = self.name
        return conversion
