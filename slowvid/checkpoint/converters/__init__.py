"""Foreign checkpoints converted to slowvid names and shapes, the format detected from the keys.

Formats are :class:`~.rules.CheckpointFormat` subclasses registered in
``slowvid.registry.CHECKPOINT_FORMATS``, tried by priority after slowvid's own names:

=====================  ===================================================================
ssl-pretraining        slowvid's, VideoMAE's and PySlowFast's self-supervised pre-training
                       checkpoints (the backbone taken, decoder / momentum encoder dropped);
                       ``transformers``' ``VideoMAEForPreTraining``
caffe2                 PySlowFast's Caffe2 ``.pkl`` blobs (ResNet / SlowFast family)
mmaction2              MMAction2 ``state_dict`` (``backbone.*``, ``cls_head.*``)
ptv-wrapped            PySlowFast's PTV* models (PyTorchVideo's under ``model.``)
pytorchvideo           PyTorchVideo hub models (``blocks.N.res_blocks``, detectors, mobile X3D,
                       MViT, ``cls_positional_encoding``)
transformers-videomae  Hugging Face ``VideoMAEForVideoClassification`` (``videomae.encoder``)
transformers-          Hugging Face ``TimesformerForVideoClassification``
timesformer            (``timesformer.encoder``)
timesformer            the TimeSformer release (``model.blocks.N.temporal_attn``)
videomae               the VideoMAE release (``blocks.N.attn.q_bias``, ``fc_norm``, ``encoder.``)
pyslowfast             PySlowFast ``.pyth`` (``s2.pathway0_res0.branch2.a``, ``patch_embed.proj``)
imagenet               torchvision 2D ResNets, inflated to 3D
=====================  ===================================================================

Into an ``ActionDetector`` every format (and a slowvid classifier's own names) maps its network
under ``backbone.``: PySlowFast's AVA checkpoints and Kinetics checkpoints to fine-tune from.

A project adds a format by registering a subclass from its own package. Each core format is one
file holding its rename table as data; :mod:`.rules` is the engine. The result is checked against
the model by the loader (``slowvid.checkpoint.io``), which names every unmatched or mis-shaped
tensor in one error.
"""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from ..model_state import extract_model_state, is_head_key
from . import (  # noqa: F401  (registration)
    caffe2,
    imagenet,
    mmaction2,
    ptv_wrapped,
    pyslowfast,
    pytorchvideo,
    ssl,
    timesformer,
    videomae,
)
from .caffe2 import blobs_to_tensors, read_caffe2_pickle
from .rules import BACKBONE, CheckpointFormat, Conversion

__all__ = [
    "CheckpointFormat",
    "Conversion",
    "checkpoint_format",
    "checkpoint_formats",
    "convert_checkpoint",
    "read_caffe2_pickle",
]

logger = logging.getLogger(__name__)


def checkpoint_formats() -> list[CheckpointFormat]:
    """Every registered format, in the order they are tried."""
    return sorted((cls() for _, cls in CHECKPOINT_FORMATS), key=lambda fmt: fmt.priority)


def checkpoint_format(name: str) -> CheckpointFormat:
    """The registered format called ``name`` (its ``name`` attribute, e.g. "caffe2").

    Raises:
        ValueError: no registered format has that name; the message lists them.
    """
    formats = {fmt.name: fmt for fmt in checkpoint_formats()}
    if name not in formats:
        raise ValueError(f"unknown checkpoint format {name!r}; registered: {sorted(formats)}")
    return formats[name]


def _classifier_into_detector(
    state: Mapping[str, Any], model_keys: Iterable[str]
) -> dict[str, Any] | None:
    """A slowvid classifier's state under a detector's names (its network under ``backbone.``,
    its head on the detector's head, where the loader reports it as skipped), or None when
    ``state`` is not that."""
    model_keys = set(model_keys)
    if not any(k.startswith(BACKBONE) for k in model_keys):
        return None
    renamed = {(BACKBONE + k if BACKBONE + k in model_keys else k): v for k, v in state.items()}
    outside = [k for k in renamed if k not in model_keys and not is_head_key(k)]
    return None if outside or renamed.keys() == state.keys() else renamed


def convert_checkpoint(
    checkpoint: Mapping[str, Any], model: nn.Module, *, path: str = "", source: str | None = None
) -> Conversion:
    """The weights of a loaded checkpoint of any known format, under ``model``'s names.

    Args:
        checkpoint: as loaded: a slowvid / PySlowFast / MMAction2 dict, a plain state dict,
            or a Caffe2 ``{"blobs": ...}`` dict.
        model: the (unwrapped) slowvid model the weights are for.
        path: where the checkpoint came from, for messages.
        source: the format's name, to convert with it instead of detecting one.

    Returns:
        The converted tensors; a checkpoint whose keys all belong to ``model``, or that no
        format recognises, comes back unchanged with source "slowvid".
    """
    if isinstance(checkpoint.get("blobs"), Mapping):
        state = blobs_to_tensors(checkpoint["blobs"])
    else:
        state = extract_model_state(checkpoint, path=path)
    if source is not None:
        logger.info("Checkpoint %s: converting from the %s format", path, source)
        return checkpoint_format(source).convert(state, model)
    model_keys = model.state_dict().keys()
    if state.keys() <= model_keys:
        return Conversion(state=dict(state), source="slowvid")
    into_backbone = _classifier_into_detector(state, model_keys)
    if into_backbone is not None:
        logger.info("Checkpoint %s: a classifier's weights, into the detector's backbone", path)
        return Conversion(state=into_backbone, source="slowvid")
    for fmt in checkpoint_formats():
        if fmt.detect(state):
            logger.info("Checkpoint %s: converting from the %s format", path, fmt.name)
            return fmt.convert(state, model)
    return Conversion(state=dict(state), source="slowvid")
