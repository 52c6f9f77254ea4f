"""Builds models and heads from the config through the registries.

Device placement, SyncBatchNorm conversion and DDP wrapping happen in ``slowvid.engine``, not here,
so a built model is a plain CPU ``nn.Module`` usable in a notebook or a test.
"""

import contextlib
import functools
from collections.abc import Callable, Sequence

import torch
import torch.utils.checkpoint
from torch import nn

from slowvid.layers import SplitBatchNorm
from slowvid.registry import HEADS, MODELS

__all__ = [
    "DETECTOR",
    "build_activation",
    "build_head",
    "build_model",
    "build_norm",
    "check_trans_func",
    "checkpoint_activations",
]


# The model that DETECTION.ENABLE wraps around MODEL.MODEL_NAME (models/detector.py).
DETECTOR = "ActionDetector"


def build_model(cfg) -> nn.Module:
    """The model named by cfg.MODEL.MODEL_NAME, on the CPU, in training mode; with
    DETECTION.ENABLE, an ActionDetector whose backbone it is (PySlowFast's AVA yamls); with
    MODEL.ACT_CHECKPOINT, its stages and transformer blocks recompute their activations in the
    backward pass."""
    cls = MODELS.get(DETECTOR if cfg.DETECTION.ENABLE else cfg.MODEL.MODEL_NAME)
    model = cls(**cls.from_config(cfg))
    if cfg.MODEL.ACT_CHECKPOINT:
        checkpoint_activations(model)
    return model


def checkpoint_activations(model: nn.Module) -> list[str]:
    """Makes, in place, every element of the model's ``*stages`` and ``blocks`` lists recompute
    its activations in the backward pass instead of keeping them (same results, less memory;
    PySlowFast's MODEL.ACT_CHECKPOINT). Parameter names do not change, and the recomputation
    leaves batch-norm running statistics alone (they are updated once per step, as without).

    Returns:
        The names of the checkpointed modules.
    """
    targets = {
        f"{name}.{i}": child
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and name.split(".")[-1].endswith(("stages", "blocks"))
        for i, child in enumerate(module)
    }
    if not targets:
        raise ValueError(
            f"MODEL.ACT_CHECKPOINT: {type(model).__name__} has no stages or blocks to checkpoint"
        )
    for module in targets.values():
        contexts = functools.partial(_recompute_contexts, module)
        module.forward = functools.partial(_checkpointed, module.forward, contexts)
    return sorted(targets)


def _checkpointed(forward: Callable, contexts: Callable, *args, **kwargs):
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return torch.utils.checkpoint.checkpoint(
        forward, *args, use_reentrant=False, context_fn=contexts, **kwargs
    )


def _recompute_contexts(module: nn.Module):
    """(context of the forward, context of its recomputation): the second freezes the
    running statistics of the module's batch norms (momentum 0 keeps them as they are)."""
    return contextlib.nullcontext(), _frozen_norms(module)


@contextlib.contextmanager
def _frozen_norms(module: nn.Module):
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


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
