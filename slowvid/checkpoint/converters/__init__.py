"""Foreign checkpoints converted to slowvid names and shapes, the format detected from the keys.

Formats, tried in this order after slowvid's own names:

=====================  ===================================================================
ssl-pretraining        slowvid's, VideoMAE's and PySlowFast's self-supervised pre-training
                       checkpoints (the backbone taken, decoder / momentum encoder dropped);
                       ``transformers``' ``VideoMAEForPreTraining``
caffe2                 PySlowFast's Caffe2 ``.pkl`` blobs (ResNet / SlowFast family)
mmaction2              MMAction2 ``state_dict`` (``backbone.*``, ``cls_head.*``)
pytorchvideo           PyTorchVideo hub models (``blocks.N.res_blocks...``,
                       ``cls_positional_encoding``)
transformers-videomae  Hugging Face ``VideoMAEForVideoClassification`` (``videomae.encoder``)
transformers-          Hugging Face ``TimesformerForVideoClassification``
timesformer            (``timesformer.encoder``)
timesformer            the TimeSformer release (``model.blocks.N.temporal_attn``)
videomae               the VideoMAE release (``blocks.N.attn.q_bias``, ``fc_norm``, ``encoder.``)
pyslowfast             PySlowFast ``.pyth`` (``s2.pathway0_res0.branch2.a``, ``patch_embed.proj``)
imagenet               torchvision 2D ResNets, inflated to 3D
=====================  ===================================================================

Each format is one file holding its rename table as data; :mod:`.rules` is the engine. The
result is checked against the model by the loader (``slowvid.checkpoint.io``), which names
every unmatched or mis-shaped tensor in one error.
"""

import logging
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..model_state import extract_model_state
from . import caffe2, imagenet, mmaction2, pyslowfast, pytorchvideo, ssl, timesformer, videomae
from .caffe2 import read_caffe2_pickle
from .rules import Conversion, SourceFormat

__all__ = ["FORMATS", "Conversion", "SourceFormat", "convert_checkpoint", "read_caffe2_pickle"]

logger = logging.getLogger(__name__)

FORMATS: tuple[SourceFormat, ...] = (
    # First: it takes the backbone out of a pre-training checkpoint, then converts that by the
    # format it shows (it claims only keys no other format has).
    ssl.FORMAT,
    caffe2.FORMAT,
    mmaction2.FORMAT,
    pytorchvideo.FORMAT,
    videomae.TRANSFORMERS_FORMAT,
    timesformer.TRANSFORMERS_FORMAT,
    timesformer.FORMAT,
    # Before PySlowFast, whose ViT shares ``patch_embed.proj`` and ``blocks.N.attn.qkv``.
    videomae.FORMAT,
    pyslowfast.FORMAT,
    imagenet.FORMAT,
)


def convert_checkpoint(
    checkpoint: Mapping[str, Any], model: nn.Module, *, path: str = ""
) -> Conversion:
    """The weights of a loaded checkpoint of any known format, under ``model``'s names.

    Args:
        checkpoint: as loaded: a slowvid / PySlowFast / MMAction2 dict, a plain state dict,
            or a Caffe2 ``{"blobs": ...}`` dict.
        model: the (unwrapped) slowvid model the weights are for.
        path: where the checkpoint came from, for messages.

    Returns:
        The converted tensors; a checkpoint whose keys all belong to ``model``, or that no
        format recognises, comes back unchanged with source "slowvid".
    """
    if isinstance(checkpoint.get("blobs"), Mapping):
        state = caffe2.blobs_to_tensors(checkpoint["blobs"])
    else:
        state = extract_model_state(checkpoint, path=path)
    model_keys = model.state_dict().keys()
    if state.keys() <= model_keys:
        return Conversion(state=dict(state), source="slowvid")
    for fmt in FORMATS:
        if fmt.detect(state):
            logger.info("Checkpoint %s: converting from the %s format", path, fmt.name)
            return fmt.convert(state, model)
    return Conversion(state=dict(state), source="slowvid")
