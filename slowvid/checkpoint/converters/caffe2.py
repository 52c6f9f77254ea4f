"""PySlowFast's Caffe2 ``.pkl`` checkpoints: ``{"blobs": {name: numpy array}}``.

Blob names (``res2_0_branch2a_w``, ``res_conv1_bn_s``, ``t_res3_0_branch1_bn_riv``,
``t_pool1_subsample_w``, ``pred_b``; ``t_`` marks the fast pathway) are first renamed to
PySlowFast's module names, following the facts in PySlowFast's ``utils/c2_model_loading.py``,
then converted as a PySlowFast checkpoint. Optimizer blobs (``*_momentum``, ``lr``,
``model_iter``) are dropped; non-local blobs are reported as unexpected.

The file is a Python 2 pickle, loaded with an unpickler that only builds numpy arrays and plain
containers, so a malicious file cannot run code.
"""

import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from iopath.common.file_io import g_pathmgr
from torch import nn

from slowvid.registry import CHECKPOINT_FORMATS

from . import pyslowfast
from .rules import CheckpointFormat, Conversion, make_table, rename_state

__all__ = ["Caffe2", "blobs_to_tensors", "convert", "read_caffe2_pickle"]

# Caffe2 parameter suffix -> PyTorch name. ``riv`` is stored as the running variance.
_SUFFIX = {"w": "weight", "b": "bias", "s": "weight", "rm": "running_mean", "riv": "running_var"}
_BN = r"(?P<param>s|b|rm|riv)"
_WB = r"(?P<param>w|b)"
_RES = r"(?P<p>t_)?res(?P<s>\d)_(?P<i>\d+)_"
_PT = "s{s}.pathway{p}_res{i}."

TABLE = make_table(
    [
        (rf"(?P<p>t_)?res_conv1_bn_{_BN}", "s1.pathway{p}_stem.bn.{param}"),
        (rf"(?P<p>t_)?(?:res_)?conv1_{_WB}", "s1.pathway{p}_stem.conv.{param}"),
        (rf"{_RES}branch2(?P<x>[abc])_bn_{_BN}", _PT + "branch2.{x}_bn.{param}"),
        (rf"{_RES}branch2(?P<x>[abc])_{_WB}", _PT + "branch2.{x}.{param}"),
        (rf"{_RES}branch1_bn_{_BN}", _PT + "branch1_bn.{param}"),
        (rf"{_RES}branch1_{_WB}", _PT + "branch1.{param}"),
        # Laterals: after the stem (pool1) and after res2..res4's last block.
        (rf"t_pool1_subsample_bn_{_BN}", "s1_fuse.bn.{param}"),
        (rf"t_pool1_subsample_{_WB}", "s1_fuse.conv_f2s.{param}"),
        (rf"t_res(?P<s>\d)_\d+_branch2c_bn_subsample_bn_{_BN}", "s{s}_fuse.bn.{param}"),
        (rf"t_res(?P<s>\d)_\d+_branch2c_bn_subsample_{_WB}", "s{s}_fuse.conv_f2s.{param}"),
        (rf"pred_{_WB}", "head.projection.{param}"),
    ],
    groups={"p": lambda t: "1" if t else "0", "param": _SUFFIX.get},
)

_OPTIMIZER_BLOBS = ("momentum", "lr", "model_iter")
# Globals a Caffe2 blob pickle needs: numpy arrays, dtypes and scalars (numpy 1 and 2 paths).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    # Protocol-2 pickles written by Python 3 wrap bytes in _codecs.encode (a pure function).
    ("_codecs", "encode"),
}


class _BlobUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a Caffe2 blob file")
        return super().find_class(module, name)


def read_caffe2_pickle(path: str) -> dict[str, Any]:
    """Loads a Caffe2 ``.pkl`` (Python 2 pickle, latin1 strings) without running its code."""
    with g_pathmgr.open(path, "rb") as f:
        return _BlobUnpickler(f, encoding="latin1").load()


def blobs_to_tensors(blobs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Numpy blobs as tensors, without the optimizer's blobs."""
    return {
        name: torch.from_numpy(np.ascontiguousarray(value))
        for name, value in blobs.items()
        if isinstance(value, np.ndarray) and not any(s in name for s in _OPTIMIZER_BLOBS)
    }


def convert(state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
    """Renames Caffe2 blobs to PySlowFast names, then converts those for ``model``.

    Args:
        state: blob name -> tensor (see :func:`blobs_to_tensors`).
        model: the slowvid model to load into.
    """
    renamed = rename_state(state, TABLE, ())
    conversion = pyslowfast.convert(renamed.state, model)
    # Error messages name the original blob, not the intermediate PySlowFast name.
    conversion.origin = {k: renamed.origin.get(v, v) for k, v in conversion.origin.items()}
    conversion.source = "caffe2"
    return conversion


@CHECKPOINT_FORMATS.register()
class Caffe2(CheckpointFormat):
    """PySlowFast's Caffe2 ``.pkl`` blobs (``TRAIN.CHECKPOINT_TYPE caffe2``)."""

    name = "caffe2"
    signature = r"(t_)?res\d+_\d+_branch|(t_)?res_conv1_|pred_[wb]$"
    priority = 10

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        return convert(state, model)
