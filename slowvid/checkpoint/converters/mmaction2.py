"""MMAction2 recognizer checkpoints (``state_dict``): SlowFast and Slow-only / I3D ResNet3d.

Names follow MMAction2's ``ResNet3d`` and ``ResNet3dSlowFast`` (Apache-2.0):
``backbone.{slow,fast}_path.layer{n}.{i}.conv{1,2,3}.{conv,bn}``, ``downsample.{conv,bn}``,
``backbone.slow_path.conv1_lateral`` and ``layer{n}_lateral``, ``cls_head.fc_cls``.

MMAction2's SlowFast laterals are a bare convolution, while slowvid's (as PySlowFast's) add a
norm and a ReLU. The norm is filled with an exact identity, but the ReLU cannot be removed: a
converted MMAction2 SlowFast is a good initialisation, not the same function (a warning says
so). Slow-only and I3D models convert exactly.
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
    fit_shapes,
    make_table,
    minus,
    pathway,
    rename_state,
)

__all__ = ["MMAction2", "convert"]

logger = logging.getLogger(__name__)

_PATH = r"backbone\.(?:(?P<p>slow|fast)_path\.)?"
_RES = rf"{_PATH}layer(?P<s>\d)\.(?P<i>\d+)\."
_BLOCK = "{p}stages.{s}.{i}."
_LATERAL = r"backbone\.slow_path\.(?:conv1|layer(?P<f>\d))_lateral\."

TABLE = make_table(
    [
        (rf"{_PATH}conv1\.conv\.{PARAM}", "{p}stem.conv.{param}"),
        (rf"{_PATH}conv1\.bn\.{PARAM}", "{p}stem.norm.{param}"),
        (rf"{_RES}conv(?P<x>[123])\.conv\.{PARAM}", _BLOCK + "conv_{x}.{param}"),
        (rf"{_RES}conv(?P<x>[123])\.bn\.{PARAM}", _BLOCK + "norm_{x}.{param}"),
        (rf"{_RES}downsample\.conv\.{PARAM}", _BLOCK + "shortcut.0.{param}"),
        (rf"{_RES}downsample\.bn\.{PARAM}", _BLOCK + "shortcut.1.{param}"),
        (rf"{_LATERAL}conv\.{PARAM}", "fusions.{f}.conv.{param}"),
        # Laterals with lateral_norm=True (a variant) carry a norm.
        (rf"{_LATERAL}bn\.{PARAM}", "fusions.{f}.norm.{param}"),
        (rf"cls_head\.fc_cls\.{PARAM}", "head.proj.{param}"),
    ],
    groups={
        "p": pathway,
        "s": minus(1),
        "x": {"1": "a", "2": "b", "3": "c"}.get,
        # conv1_lateral follows the stem: fusion 0; layer{n}_lateral follows res{n+1}: fusion n.
        "f": lambda f: f or "0",
    },
)


def convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """Renames an MMAction2 state dict for ``model`` (see the module docstring).

    Args:
        state: MMAction2 parameter names -> tensors.
        model: the slowvid model to load into.
    """
    model_state = model.state_dict()
    conversion = rename_state(state, TABLE, model_state)
    conversion.source = "mmaction2"
    filled = fill_identity_norms(conversion.state, model, r"fusions\.\d+\.norm")
    if filled:
        logger.warning(
            "MMAction2 SlowFast laterals have no norm and no ReLU; their norms %s are set to "
            "the identity, but slowvid's ReLU after each lateral stays, so outputs differ from "
            "MMAction2's: fine-tune before relying on the accuracy.",
            filled,
        )
    fit_shapes(conversion.state, model_state)
    return conversion


@CHECKPOINT_FORMATS.register()
class MMAction2(CheckpointFormat):
    """MMAction2 ``state_dict`` (``backbone.*``, ``cls_head.*``)."""

    name = "mmaction2"
    signature = r"backbone\.|cls_head\."
    priority = 20

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return convert(state, model)
