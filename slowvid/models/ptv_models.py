"""PySlowFast's ``PTV*`` model names: its wrappers of PyTorchVideo's model builders.

PySlowFast's ``ptv_model_builder.py`` builds ``PTVResNet``, ``PTVSlowFast``, ``PTVX3D``,
``PTVCSN``, ``PTVR2plus1D`` and ``PTVMViT`` with PyTorchVideo's ``create_*`` functions and keeps
the network under ``model.``. These are the same networks as slowvid's own ResNet, SlowFast,
X3D, CSN, R(2+1)D and MViT, with one difference: PyTorchVideo's X3D has no norm on the shortcut
of res2's first block, so PTVX3D has 48 fewer parameters than X3D-M. Their checkpoints
(``model.blocks.N...``) load through the ``ptv-wrapped`` checkpoint format.

The wrappers read fewer keys than PySlowFast's own models (PTVResNet no NONLOCAL and no
RESNET.NUM_BLOCK_TEMP_KERNEL, every PTV model no RESNET.STRIDE_1X1 but False); a value those
keys would need to change the network is refused here rather than ignored.
"""

from __future__ import annotations

from slowvid.registry import MODELS

from .csn import CSN
from .mvit import MViT
from .r2plus1d import R2Plus1D
from .resnet3d import STAGE_DEPTHS, ResNet
from .slowfast import SlowFast
from .x3d import X3D

__all__ = ["PTVCSN", "PTVMViT", "PTVR2plus1D", "PTVResNet", "PTVSlowFast", "PTVX3D"]


def _check(cfg, name: str, trans_func: str | None) -> None:
    """PySlowFast's assertions of the PTV wrapper ``name``, as errors naming the key."""
    if cfg.RESNET.STRIDE_1X1:
        raise ValueError(f"RESNET.STRIDE_1X1 True: PySlowFast's {name} has stride on the 3x3")
    if trans_func and cfg.RESNET.TRANS_FUNC not in ("", trans_func):
        raise ValueError(
            f"RESNET.TRANS_FUNC {cfg.RESNET.TRANS_FUNC!r}: PySlowFast's {name} needs {trans_func!r}"
        )


def _all_blocks_temporal(cfg, pathway: int) -> bool:
    per_stage = cfg.RESNET.NUM_BLOCK_TEMP_KERNEL
    if len(per_stage) == 0:
        return True
    depths = STAGE_DEPTHS.get(cfg.RESNET.DEPTH, ())
    return all(
        (stage[min(pathway, len(stage) - 1)] if isinstance(stage, list | tuple) else stage) >= d
        for stage, d in zip(per_stage, depths)
    )


@MODELS.register()
class PTVResNet(ResNet):
    """PySlowFast's PTVResNet (c2d, slow, i3d): slowvid's :class:`ResNet`."""

    archs = ("slow", "c2d", "i3d")  # what PySlowFast's wrapper accepts

    @classmethod
    def from_config(cls, cfg) -> dict:
        _check(cfg, "PTVResNet", "bottleneck_transform")
        # PyTorchVideo's builder gives every block its stage's temporal kernel and has no
        # non-local blocks; a config asking otherwise would silently differ in PySlowFast.
        if not _all_blocks_temporal(cfg, 0):
            raise ValueError(
                "RESNET.NUM_BLOCK_TEMP_KERNEL: PySlowFast's PTVResNet ignores it (every block "
                f"keeps its temporal kernel); got {cfg.RESNET.NUM_BLOCK_TEMP_KERNEL}"
            )
        if any(blocks for stage in cfg.NONLOCAL.LOCATION for blocks in _flat(stage)):
            raise ValueError("NONLOCAL.LOCATION: PySlowFast's PTVResNet has no non-local blocks")
        return super().from_config(cfg)


def _flat(stage) -> list:
    return [p for p in stage if isinstance(p, list | tuple)] if stage else []


@MODELS.register()
class PTVSlowFast(SlowFast):
    """PySlowFast's PTVSlowFast: slowvid's :class:`SlowFast`."""

    @classmethod
    def from_config(cls, cfg) -> dict:
        _check(cfg, "PTVSlowFast", "bottleneck_transform")
        if any(blocks for stage in cfg.NONLOCAL.LOCATION for blocks in _flat(stage)):
            raise ValueError("NONLOCAL.LOCATION: PySlowFast's PTVSlowFast has no non-local blocks")
        return super().from_config(cfg)


@MODELS.register()
class PTVX3D(X3D):
    """PySlowFast's PTVX3D: slowvid's :class:`X3D` without the norm on res2's first shortcut,
    as PyTorchVideo builds it."""

    @classmethod
    def from_config(cls, cfg) -> dict:
        _check(cfg, "PTVX3D", "x3d_transform")
        return {**super().from_config(cfg), "shortcut_norm_same_width": False}


@MODELS.register()
class PTVCSN(CSN):
    """PySlowFast's PTVCSN: slowvid's :class:`CSN` (ir-CSN)."""


@MODELS.register()
class PTVR2plus1D(R2Plus1D):
    """PySlowFast's PTVR2plus1D: slowvid's :class:`R2Plus1D`."""


@MODELS.register()
class PTVMViT(MViT):
    """PySlowFast's PTVMViT: slowvid's :class:`MViT`."""
