"""Builds models and heads from the config through the registries.

Device placement, SyncBatchNorm conversion and DDP wrapping happen in ``slowvid.engine``, not here,
so a built model is a plain CPU ``nn.Module`` usable in a notebook or a test.
"""

import functools
from collections.abc import Callable, Sequence

from torch import nn

from slowvid.layers import SplitBatchNorm
from slowvid.registry import HEADS, MODELS

from .base import InputSpec, VideoModel

__all__ = [
    "DETECTOR",
    "build_activation",
    "build_head",
    "build_model",
    "build_norm",
    "check_trans_func",
    "freeze_all_but_classifier",
    "input_spec_of",
    "model_class",
]


# The model that DETECTION.ENABLE wraps around MODEL.MODEL_NAME (models/detector.py).
DETECTOR = "ActionDetector"


def model_class(cfg) -> type[VideoModel]:
    """The registered class cfg.MODEL.MODEL_NAME names; with DETECTION.ENABLE, the
    ActionDetector whose backbone it is (PySlowFast's AVA yamls).

    Raises:
        ValueError: no model of that name is registered (the message lists those that are).
    """
    name = cfg.MODEL.MODEL_NAME
    if name not in MODELS:
        known = sorted(n for n, _ in MODELS)
        raise ValueError(
            f"MODEL.MODEL_NAME {name!r} is not a registered model; registered: {known}. A "
            "project's model is registered when its project is imported (PROJECT, --project)"
        )
    return MODELS.get(DETECTOR if cfg.DETECTION.ENABLE else name)


def input_spec_of(cfg) -> InputSpec:
    """What the model cfg names takes (pathways, frames per pathway, extra inputs), read
    without building it; DATA.INPUT_CHANNEL_NUM is checked against it."""
    return model_class(cfg).input_spec_from_config(cfg)


def build_model(cfg) -> VideoModel:
    """The model :func:`model_class` names, on the CPU, in training mode (MODEL.ACT_CHECKPOINT
    is applied when the run wraps it: ``slowvid.engine.setup.wrap_model``); with
    MODEL.DETACH_FINAL_FC only its final linear layer trains (a linear probe)."""
    cls = model_class(cfg)
    model = cls(**cls.from_config(cfg))
    if cfg.MODEL.DETACH_FINAL_FC:
        freeze_all_but_classifier(model)
    return model


def freeze_all_but_classifier(model: nn.Module) -> None:
    """Stops gradients to every parameter but the head's final linear layer (``head.proj``), in
    place: the features of a linear probe. Batch-norm statistics still follow the data, as
    PySlowFast's DETACH_FINAL_FC leaves them.

    Raises:
        ValueError: the model has no ``head.proj`` parameters.
    """
    trainable = [n for n, _ in model.named_parameters() if n.startswith("head.proj.")]
    if not trainable:
        raise ValueError(
            f"MODEL.DETACH_FINAL_FC: {type(model).__name__} has no final linear layer head.proj"
        )
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("head.proj.")


def build_head(cfg, dim_in: Sequence[int], default: str = "ClassificationHead") -> nn.Module:
    """The head named by cfg.MODEL.HEAD_NAME, or the architecture's own (``default``) when
    that is "".

    Args:
        cfg: the run's config.
        dim_in: channels of each pathway's features, computed by the backbone.
        default: the head the architecture uses (X3DHead for X3D, as PySlowFast builds it).
    """
    cls = HEADS.get(cfg.MODEL.HEAD_NAME or default)
    return cls(**cls.from_config(cfg, dim_in=dim_in))


def build_activation(cfg) -> Callable[[], nn.Module]:
    """The ReLU of the ResNet family's blocks (in place per RESNET.INPLACE_RELU)."""
    return functools.partial(nn.ReLU, inplace=cfg.RESNET.INPLACE_RELU)


def check_trans_func(cfg, block: str, model: str) -> None:
    """RESNET.TRANS_FUNC must be "" or the block ``model`` is built of (PySlowFast picks the
    residual transform by this key; slowvid's models each have one)."""
    if cfg.RESNET.TRANS_FUNC not in ("", block):
        raise ValueError(
            f"RESNET.TRANS_FUNC {cfg.RESNET.TRANS_FUNC!r}: {model} is built of {block!r} "
            "blocks in slowvid; set that or leave the key empty"
        )


def build_norm(cfg) -> Callable[[int], nn.Module]:
    """A callable making the norm layer chosen by cfg.BN from a channel count.

    "sync_batchnorm" also builds ``nn.BatchNorm3d``: the engine converts it with
    ``nn.SyncBatchNorm.convert_sync_batchnorm`` once the process group exists, which keeps
    model building free of distributed state. "sub_batchnorm" builds :class:`SplitBatchNorm`
    with BN.NUM_SPLITS splits.
    """
    norm = cfg.BN.NORM_TYPE
    if norm not in ("batchnorm", "sync_batchnorm", "sub_batchnorm"):
        raise ValueError(
            f"BN.NORM_TYPE must be 'batchnorm', 'sync_batchnorm' or 'sub_batchnorm', got {norm!r}"
        )
    if norm == "sub_batchnorm":
        return functools.partial(
            SplitBatchNorm,
            num_splits=cfg.BN.NUM_SPLITS,
            eps=cfg.BN.EPSILON,
            momentum=cfg.BN.MOMENTUM,
        )
    return functools.partial(nn.BatchNorm3d, eps=cfg.BN.EPSILON, momentum=cfg.BN.MOMENTUM)
