"""VideoMAE checkpoints into :class:`~slowvid.models.vit.VisionTransformer`.

Two layouts, detected from their keys:

``transformers``  Hugging Face ``VideoMAEForVideoClassification`` / ``VideoMAEModel``
                  (``videomae.encoder.layer.N.attention.attention.query``...): separate q, k, v
                  projections, joined here into one ``qkv``; ``fc_norm``, ``classifier``.
``videomae``      the original release (MCG-NJU/VideoMAE ``modeling_finetune.py``):
                  ``blocks.N.attn.qkv`` with ``q_bias`` / ``v_bias``, ``fc_norm``, ``head``.
                  Pre-training checkpoints (``encoder.`` prefix) load too: the decoder,
                  ``encoder_to_decoder`` and ``mask_token`` are dropped with a log line.

Module names follow ``transformers/models/videomae/modeling_videomae.py`` and VideoMAE's
``modeling_finetune.py`` / ``modeling_pretrain.py`` (Apache-2.0 / CC-BY-NC 4.0; names only).
"""

import logging
import re
from collections.abc import Container, Mapping

import torch
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from .rules import PARAM, CheckpointFormat, Conversion, make_table, rename_state

__all__ = ["TransformersVideoMAE", "VideoMAE", "merge_qkv"]

logger = logging.getLogger(__name__)

_LAYER = r"videomae\.encoder\.layer\.(?P<b>\d+)\."

TRANSFORMERS_TABLE = make_table(
    [
        (
            rf"videomae\.embeddings\.patch_embeddings\.projection\.{PARAM}",
            "patch_embed.{param}",
        ),
        # q, k, v keep separate temporary names; merge_qkv joins them.
        (
            rf"{_LAYER}attention\.attention\.(?P<x>query|key|value)\.{PARAM}",
            "blocks.{b}.attn.{x}.{param}",
        ),
        (rf"{_LAYER}attention\.output\.dense\.{PARAM}", "blocks.{b}.attn.proj.{param}"),
        (rf"{_LAYER}layernorm_before\.{PARAM}", "blocks.{b}.norm1.{param}"),
        (rf"{_LAYER}layernorm_after\.{PARAM}", "blocks.{b}.norm2.{param}"),
        (rf"{_LAYER}intermediate\.dense\.{PARAM}", "blocks.{b}.mlp.fc1.{param}"),
        (rf"{_LAYER}output\.dense\.{PARAM}", "blocks.{b}.mlp.fc2.{param}"),
        (rf"videomae\.layernorm\.{PARAM}", "norm.{param}"),
        (rf"fc_norm\.{PARAM}", "head.norm.{param}"),
        (rf"classifier\.{PARAM}", "head.proj.{param}"),
    ]
)

ORIGINAL_TABLE = make_table(
    [
        (rf"patch_embed\.proj\.{PARAM}", "patch_embed.{param}"),
        (rf"fc_norm\.{PARAM}", "head.norm.{param}"),
        (rf"head\.{PARAM}", "head.proj.{param}"),
        (r"(?P<rest>blocks\.\d+\..+|norm\.\w+|cls_token)", "{rest}"),
    ]
)

_SPLIT = re.compile(r"(?P<pre>.+\.attn)\.(?P<x>query|key|value)\.(?P<param>weight|bias)")
_PRETRAIN_ONLY = re.compile(r"(decoder\.|encoder_to_decoder\.|mask_token|pos_embed$)")


def merge_qkv(state: dict[str, torch.Tensor], model_state: Container[str]) -> None:
    """Joins ``attn.{query,key,value}`` tensors into the model's fused ``attn.qkv``, in place.

    Biases become ``q_bias`` / ``v_bias`` when the model has those (``model_state``: its state
    dict or key names), else one ``qkv.bias`` with zeros where the source has no key bias.
    """
    parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key in [k for k in state if _SPLIT.fullmatch(k)]:
        m = _SPLIT.fullmatch(key)
        parts.setdefault((m["pre"], m["param"]), {})[m["x"]] = state.pop(key)
    for (pre, param), qkv in parts.items():
        if param == "weight":
            state[f"{pre}.qkv.weight"] = torch.cat([qkv["query"], qkv["key"], qkv["value"]])
        elif f"{pre}.q_bias" in model_state:
            state[f"{pre}.q_bias"], state[f"{pre}.v_bias"] = qkv["query"], qkv["value"]
        else:
            zeros = torch.zeros_like(qkv["query"])
            state[f"{pre}.qkv.bias"] = torch.cat(
                [qkv["query"], qkv.get("key", zeros), qkv["value"]]
            )


def _convert_transformers(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    model_state = model.state_dict()
    conversion = rename_state(state, TRANSFORMERS_TABLE, model_state)
    merge_qkv(conversion.state, model_state)
    for key in [k for k in conversion.state if "attn.qkv" in k or k.endswith("_bias")]:
        conversion.origin.setdefault(
            key, "videomae.encoder...attention.attention.{query,key,value}"
        )
    conversion.source = TransformersVideoMAE.name
    return conversion


def _convert_original(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    if any(k.startswith("encoder.") for k in state):
        dropped = sorted(k for k in state if not k.startswith("encoder."))
        state = {
            k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")
        }
        if dropped:
            logger.info(
                "VideoMAE pre-training checkpoint: dropped %d decoder tensors", len(dropped)
            )
    # The encoder's fixed sin-cos table is rebuilt by the model, never loaded.
    state = {k: v for k, v in state.items() if not _PRETRAIN_ONLY.match(k)}
    conversion = rename_state(state, ORIGINAL_TABLE, model.state_dict())
    conversion.source = VideoMAE.name
    return conversion


@CHECKPOINT_FORMATS.register()
class TransformersVideoMAE(CheckpointFormat):
    """Hugging Face ``VideoMAEForVideoClassification`` / ``VideoMAEModel`` state dicts."""

    name = "transformers-videomae"
    signature = r"videomae\.(embeddings|encoder)\."
    priority = 33

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return _convert_transformers(state, model)


@CHECKPOINT_FORMATS.register()
class VideoMAE(CheckpointFormat):
    """The original VideoMAE release; before PySlowFast (40), whose ViT shares
    ``patch_embed.proj`` and ``blocks.N.attn.qkv``."""

    name = "videomae"
    signature = r"(encoder\.)?(blocks\.\d+\.attn\.[qv]_bias|fc_norm\.)|encoder\.patch_embed\.proj\."
    priority = 36

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return _convert_original(state, model)
