"""Builds models and heads from the config through the registries.

Device placement, SyncBatchNorm conversion and DDP wrapping happen in ``slowvid.engine``, not here,
so a built model is a plain CPU ``nn.Module`` usable in a notebook or a test.
"""

import functools
from collections.abc import Callable, Sequence

from torch import nn

from slowvid.registry import HEADS, MODELS

from .base import InputSpec, VideoModel

__all__ = [
    "build_head",
    "build_model",
    "build_norm",
    "freeze_all_but_classifier",
    "input_spec_of",
    "model_class",
]


def model_class(cfg) -> type[VideoModel]:
    """The registered class cfg.MODEL.MODEL_NAME names.

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
    return MODELS.get(name)


def input_spec_of(cfg) -> InputSpec:
    """What the model cfg names takes (pathways, frames per pathway, extra inputs), read
    without building it; DATA.INPUT_CHANNEL_NUM is checked against it."""
    return model_class(cfg).input_spec_from_config(cfg)


def build_model(cfg) -> VideoModel:
    """The model named by cfg.MODEL.MODEL_NAME, on the CPU, in training mode; with
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


def build_head(cfg, dim_in: Sequence[int]) -> nn.Module:
    """The head named by cfg.MODEL.HEAD_NAME.

    Args:
        cfg: the run's config.
        dim_in: channels of each pathway's features, computed by the backbone.
    """
    cls = HEADS.get(cfg.MODEL.HEAD_NAME)
    return cls(**cls.from_config(cfg, dim_in=dim_in))


def build_norm(cfg) -> Callable[[int], nn.Module]:
    """A callable making the norm layer chosen by cfg.BN from a channel count.

    "sync_batchnorm" also builds ``nn.BatchNorm3d``: the engine converts it with
    ``nn.SyncBatchNorm.convert_sync_batchnorm`` once the process group exists, which keeps
    model building free of distributed state.
    """
    if cfg.BN.NORM_TYPE not in ("batchnorm", "sync_batchnorm"):
        raise ValueError(
            f"BN.NORM_TYPE must be 'batchnorm' or 'sync_batchnorm', got {cfg.BN.NORM_TYPE!r}"
        )
    return functools.partial(nn.BatchNorm3d, eps=cfg.BN.EPSILON, momentum=cfg.BN.MOMENTUM)
