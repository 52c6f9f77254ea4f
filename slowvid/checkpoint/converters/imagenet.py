"""ImageNet 2D ResNet weights (torchvision layout) inflated to 3D for C2D, I3D, Slow, SlowFast.

torchvision names (``conv1``, ``bn1``, ``layer{n}.{i}.conv{1,2,3}``, ``bn{1,2,3}``,
``downsample.{0,1}``, ``fc``) map onto the slow (or only) pathway. Each 2D kernel is repeated
over the temporal kernel and divided by its size ("SlowFast", §4; "Quo Vadis", §2.4), so a clip
of identical frames gives the 2D network's features away from the temporal borders.

Where a slow stage also takes the fast pathway's lateral channels, the 2D kernel fills the first
input channels and the lateral ones start at zero, so the inflated slow pathway initially
computes what the 2D network does. The fast pathway (widths divided by beta_inv) and the
lateral convolutions have no 2D counterpart: they keep their initialisation, with a warning
naming them.
"""

import logging
from collections.abc import Mapping

import torch
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from .rules import PARAM, CheckpointFormat, Conversion, make_table, minus, rename_state

__all__ = ["ImageNet", "convert", "inflate"]

logger = logging.getLogger(__name__)

_RES = r"layer(?P<s>\d)\.(?P<i>\d+)\."
_BLOCK = "slow_stages.{s}.{i}."

TABLE = make_table(
    [
        (r"conv1\.weight", "slow_stem.conv.weight"),
        (rf"bn1\.{PARAM}", "slow_stem.norm.{param}"),
        (rf"{_RES}conv(?P<x>[123])\.weight", _BLOCK + "conv_{x}.weight"),
        (rf"{_RES}bn(?P<x>[123])\.{PARAM}", _BLOCK + "norm_{x}.{param}"),
        (rf"{_RES}downsample\.0\.weight", _BLOCK + "shortcut.0.weight"),
        (rf"{_RES}downsample\.1\.{PARAM}", _BLOCK + "shortcut.1.{param}"),
        (rf"fc\.{PARAM}", "head.proj.{param}"),
    ],
    groups={"s": minus(1), "x": {"1": "a", "2": "b", "3": "c"}.get},
)

# Model parameters with no 2D counterpart: the fast pathway and the laterals.
_NO_2D = ("fast_", "fusions.")


def inflate(weight: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A 2D kernel (C_out, C_in, h, w) as a 3D one of ``shape`` (C_out, C_in', t, h, w).

    The kernel is repeated t times and divided by t; extra input channels (C_in' > C_in,
    SlowFast's lateral channels) are zero. Other shapes are returned unchanged for the loader
    to report.
    """
    c_out, c_in, t = shape[0], shape[1], shape[2]
    if weight.dim() != 4 or weight.shape[0] != c_out or weight.shape[1] > c_in:
        return weight
    kernel = weight.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    out = kernel.new_zeros((c_out, c_in, t, *weight.shape[2:]))
    out[:, : weight.shape[1]] = kernel
    return out


def convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """Renames and inflates a torchvision ResNet state dict for ``model``.

    Args:
        state: torchvision parameter names -> 2D tensors.
        model: a C2D, I3D, Slow or SlowFast slowvid model.
    """
    model_state = model.state_dict()
    conversion = rename_state(state, TABLE, model_state)
    conversion.source = "imagenet"
    for key, value in conversion.state.items():
        target = model_state.get(key)
        if target is not None and target.dim() == 5:
            conversion.state[key] = inflate(value, target.shape)
    conversion.skipped = [
        k for k in model_state if k.startswith(_NO_2D) and not k.endswith("num_batches_tracked")
    ]
    if conversion.skipped:
        logger.warning(
            "ImageNet weights cover the slow pathway only; the fast pathway's narrower channels "
            "and the laterals cannot be inflated from them and keep their initialisation: %s",
            sorted({k.rsplit(".", 1)[0] for k in conversion.skipped}),
        )
    return conversion


@CHECKPOINT_FORMATS.register()
class ImageNet(CheckpointFormat):
    """torchvision 2D ImageNet ResNets, inflated to 3D."""

    name = "imagenet"
    signature = r"layer\d+\.\d+\.conv\d\.weight$"
    priority = 50

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return convert(state, model)
