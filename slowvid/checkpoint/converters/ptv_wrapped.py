"""PySlowFast's ``PTV*`` models (``PTVResNet``, ``PTVSlowFast``, ``PTVX3D``, ``PTVCSN``,
``PTVR2plus1D``, ``PTVMViT``): a PyTorchVideo network kept under ``model.``, and with
DETECTION.ENABLE a ``detection_head`` (PyTorchVideo's ROI head) beside it.

The prefix is dropped and the rest converted as a PyTorchVideo state dict; ``detection_head.``
becomes the detector's ``head.``.
"""

from collections.abc import Mapping

import torch
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from . import pytorchvideo
from .rules import CheckpointFormat, Conversion

__all__ = ["PTVWrapped", "convert"]

_PREFIX = "model."
_DETECTION_HEAD = "detection_head."


def _unwrap_name(key: str) -> str:
    if key.startswith(_PREFIX):
        return key[len(_PREFIX) :]
    if key.startswith(_DETECTION_HEAD):
        return "head." + key[len(_DETECTION_HEAD) :]
    return key


def convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """Renames a PySlowFast PTV* state dict for ``model`` (see the module docstring)."""
    unwrapped = {_unwrap_name(k): v for k, v in state.items()}
    original = {_unwrap_name(k): k for k in state}
    conversion = pytorchvideo.convert(unwrapped, model)
    conversion.origin = {k: original.get(v, v) for k, v in conversion.origin.items()}
    conversion.source = "ptv-wrapped"
    return conversion


@CHECKPOINT_FORMATS.register()
class PTVWrapped(CheckpointFormat):
    """PySlowFast's PTV* checkpoints (``model.blocks.N...``)."""

    name = "ptv-wrapped"
    # PyTorchVideo's own keys, one level down.
    signature = rf"model\.(?:{pytorchvideo.PyTorchVideo.signature})"
    priority = 25

    def detect(self, state: Mapping[str, torch.Tensor]) -> bool:
        # With a detection head the keys are PyTorchVideo's own detector layout; its format
        # converts them (the same result) and names them.
        if any(k.startswith(_DETECTION_HEAD) for k in state):
            return False
        return super().detect(state)

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return convert(state, model)
