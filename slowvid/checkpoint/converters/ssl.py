"""Self-supervised pre-training checkpoints: their backbone for fine-tuning, and ``transformers``'
VideoMAE pre-training layout.

A pre-training checkpoint holds more than the network that is fine-tuned: slowvid's
``MaskedAutoencoder`` keeps its ViT under ``encoder.`` beside a decoder and mask token,
``ContrastiveModel`` its network under ``backbone.`` beside a momentum copy (``backbone_hist``), a
queue, predictors or prototypes and a projection MLP in place of the classifier, ``MaskMViT``
its MViT beside decoder or MaskFeat heads. Loaded into a fine-tuning model (any TASK; PySlowFast's
``ssl_eval``), the backbone is taken and the rest dropped, with one log line:

- the ``encoder.`` / ``backbone.`` prefix is stripped;
- decoder, mask token, prediction heads, momentum encoder, queue, predictors, prototypes,
  step counter and the contrastive projection (``head.proj``) are dropped;
- the encoder's final norm is dropped when the model has none (mean-pooling heads normalise
  after pooling, freshly initialised, as VideoMAE and MAE-ST fine-tune).

What is left is loaded as it is when it names the model's own parameters, else converted by the
format it then shows (VideoMAE's release, PySlowFast's ``.pyth``, ``transformers``' VideoMAE).

``transformers``' ``VideoMAEForPreTraining`` state dicts also load whole into slowvid's
``MaskedAutoencoder`` (encoder and decoder), e.g. to continue pre-training; key names follow
``transformers/models/videomae/modeling_videomae.py`` (Apache-2.0; names only).
"""

import logging
import re
from collections.abc import Mapping

import torch
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from .rules import PARAM, CheckpointFormat, Conversion, make_table, rename_state
from .videomae import merge_qkv

__all__ = ["SslPretraining", "backbone_state"]

logger = logging.getLogger(__name__)

# Parts that exist only for pre-training, by their names in slowvid's SSL models, VideoMAE's
# release, transformers' VideoMAEForPreTraining and PySlowFast's MaskMViT / ContrastiveModel.
_PRETRAIN_ONLY = re.compile(
    r"(mask_token|encoder_to_decoder\..+|decoder[._].+|dec_pos_embed_\w+|pred_head\..+"
    r"|heads\..+|backbone_hist\..+|predictor\..+|swav_prototypes\..+|queue_x|queue_full|ptr|iter"
    r"|head\.proj\..+|head\.projection\..+|head\.predictors\..+)"
)
_PREFIX = re.compile(r"^(encoder|backbone)\.")
_FINAL_NORM = re.compile(r"(norm|videomae\.layernorm)\.(weight|bias)")

_ENC = r"videomae\.encoder\.layer\.(?P<b>\d+)\."
_DEC = r"decoder\.decoder_layers\.(?P<b>\d+)\."
_LAYER = [
    (r"attention\.attention\.(?P<x>query|key|value)\.", "attn.{x}."),
    (r"attention\.output\.dense\.", "attn.proj."),
    (r"layernorm_before\.", "norm1."),
    (r"layernorm_after\.", "norm2."),
    (r"intermediate\.dense\.", "mlp.fc1."),
    (r"output\.dense\.", "mlp.fc2."),
]
TRANSFORMERS_PRETRAINING_TABLE = make_table(
    [(rf"{_ENC}{src}{PARAM}", f"encoder.blocks.{{b}}.{dst}{{param}}") for src, dst in _LAYER]
    + [(rf"{_DEC}{src}{PARAM}", f"decoder.blocks.{{b}}.{dst}{{param}}") for src, dst in _LAYER]
    + [
        (
            rf"videomae\.embeddings\.patch_embeddings\.projection\.{PARAM}",
            "encoder.patch_embed.{param}",
        ),
        (rf"videomae\.layernorm\.{PARAM}", "encoder.norm.{param}"),
        (rf"encoder_to_decoder\.{PARAM}", "decoder.embed.{param}"),
        (r"mask_token", "decoder.mask_token"),
        (rf"decoder\.norm\.{PARAM}", "decoder.norm.{param}"),
        (rf"decoder\.head\.{PARAM}", "decoder.head.{param}"),
    ]
)


def backbone_state(
    state: Mapping[str, torch.Tensor], model_keys: set[str]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The backbone of a pre-training state dict, for a model with ``model_keys``.

    Returns:
        ``(tensors, dropped key names)``.
    """
    out, dropped = {}, []
    for key, value in state.items():
        name = _PREFIX.sub("", key)
        if _PRETRAIN_ONLY.fullmatch(name) or (
            _FINAL_NORM.fullmatch(name) and "norm.weight" not in model_keys
        ):
            dropped.append(key)
        else:
            out[name] = value
    return out, dropped


def _convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    model_keys = set(model.state_dict())
    if any(k.startswith("videomae.") for k in state):
        converted = rename_state(state, TRANSFORMERS_PRETRAINING_TABLE, model_keys)
        # Named for a MaskedAutoencoder; a fine-tuning model has the encoder's names unprefixed.
        merge_qkv(converted.state, model_keys | {f"encoder.{k}" for k in model_keys})
        if converted.state.keys() <= model_keys:  # into a MaskedAutoencoder, whole
            converted.source = SslPretraining.name
            return converted
        state = converted.state
    backbone, dropped = backbone_state(state, model_keys)
    logger.info(
        "Pre-training checkpoint: took the backbone, dropped %d tensors (%s)",
        len(dropped),
        ", ".join(sorted({_PREFIX.sub("", k).split(".")[0] for k in dropped})),
    )
    unknown = [k for k in backbone if k not in model_keys and not k.startswith("head.")]
    if unknown:
        from . import convert_checkpoint  # the backbone may be in a foreign layout

        inner = convert_checkpoint(backbone, model)
        inner.source = f"{SslPretraining.name} + {inner.source}"
        return inner
    return Conversion(state=backbone, source=SslPretraining.name)


@CHECKPOINT_FORMATS.register()
class SslPretraining(CheckpointFormat):
    """Self-supervised pre-training checkpoints (see the module docstring)."""

    name = "ssl-pretraining"
    signature = (
        r"(mask_token$|encoder_to_decoder\.|decoder[._]|dec_pos_embed_|pred_head\.|heads\.\d"
        r"|backbone_hist\.|swav_prototypes\.|queue_x$|iter$|backbone\.s\d+\.pathway\d+_)"
    )
    # First: it takes the backbone out of a pre-training checkpoint, then converts that by the
    # format it shows (it claims only keys no other format has).
    priority = 5

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return _convert(state, model)
