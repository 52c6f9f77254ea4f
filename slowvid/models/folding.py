"""Folding eval-mode batch norm into the convolution before it, for inference.

In eval mode a batch norm is a per-channel affine map of its input: ``y = x * s + t`` with
``s = gamma / sqrt(var + eps)`` and ``t = beta - mean * s``. When the input is a convolution's
output that nothing else reads, scaling the convolution's weights by ``s`` and setting its bias
to ``b * s + t`` gives the same output without the extra pass over memory.

Which convolution feeds which norm is read from the model's own forward pass, not from module
names: the model runs once in eval mode on example inputs, and every tensor a convolution
returns is followed through the torch functions that take it. (The meta device would spare the
arithmetic, but its batch norm runs through Python decompositions that take longer than a real
CPU forward pass of SlowFast R50.) A pair is folded only when the norm is the one and only
reader of the convolution's output and each module runs once, so a residual branch that reads
a convolution's output too, or a module applied twice, is left alone.

A folded model is for inference only: its norms are gone (replaced by ``nn.Identity``), so
training it would train without them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

__all__ = ["fold_batchnorm", "foldable_pairs"]

logger = logging.getLogger(__name__)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Functions that read a tensor's metadata, not its values (norms check x.dim(), for one).
_METADATA = {
    "__get__",
    "dim",
    "ndimension",
    "size",
    "numel",
    "nelement",
    "stride",
    "is_contiguous",
    "element_size",
    "is_floating_point",
    "__len__",
    "data_ptr",
}
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class _Readers(TorchFunctionMode):
    """Counts the torch functions that read each tracked tensor."""

    def __init__(self, tracked: dict[int, list]):
        super().__init__()
        self.tracked = tracked  # id(tensor) -> [tensor, producer name, readers]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") not in _METADATA:
            for leaf in tree_flatten((args, kwargs))[0]:
                entry = self.tracked.get(id(leaf)) if isinstance(leaf, torch.Tensor) else None
                if entry is not None and entry[0] is leaf:
                    entry[2] += 1
        return func(*args, **kwargs)


@torch.no_grad()
def foldable_pairs(model: nn.Module, example_inputs: Sequence) -> list[tuple[str, str]]:
    """``(conv name, norm name)`` pairs of ``model`` that :func:`fold_batchnorm` can fold.

    Args:
        model: the model; run once in eval mode (its train/eval mode is restored after).
        example_inputs: the positional arguments of one forward call, on the model's device
            (values do not matter, shapes do).
    """
    names = {m: n for n, m in model.named_modules()}
    calls: dict[str, int] = {}
    tracked: dict[int, list] = {}  # conv outputs, kept alive so ids stay unique
    norm_inputs: dict[str, torch.Tensor] = {}

    def after_conv(module, args, output):
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        tracked[id(output)] = [output, name, 0]

    def before_norm(module, args):
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        norm_inputs[name] = args[0]

    handles = []
    for module in model.modules():
        if isinstance(module, _CONVS):
            handles.append(module.register_forward_hook(after_conv))
        elif isinstance(module, _NORMS) and module.track_running_stats:
            handles.append(module.register_forward_pre_hook(before_norm))
    was_training = model.training
    model.eval()
    try:
        with _Readers(tracked):
            model(*example_inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    pairs = []
    for norm_name, x in norm_inputs.items():
        entry = tracked.get(id(x))
        if entry is None or entry[0] is not x:
            continue
        conv_name = entry[1]
        if entry[2] == 1 and calls[conv_name] == 1 and calls[norm_name] == 1:
            pairs.append((conv_name, norm_name))
    return pairs


@torch.no_grad()
def fold_batchnorm(model: nn.Module, example_inputs: Sequence) -> int:
    """Fold every foldable batch norm of ``model`` into its convolution, in place.

    Args:
        model: put in eval mode; its norms must hold their running statistics.
        example_inputs: the positional arguments of one forward call (see
            :func:`foldable_pairs`).

    Returns:
        The number of norms folded (0 for models without batch norm, such as MViT).
    """
    if not any(isinstance(m, _NORMS) for m in model.modules()):
        return 0
    pairs = foldable_pairs(model, example_inputs)
    modules = dict(model.named_modules())
    for conv_name, norm_name in pairs:
        conv, norm = modules[conv_name], modules[norm_name]
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:  # affine
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        shape = (-1,) + (1,) * (conv.weight.dim() - 1)
        conv.weight.mul_(scale.reshape(shape).to(conv.weight.dtype))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
        _set_submodule(model, norm_name, nn.Identity())
    model.eval()
    if pairs:
        logger.info("folded %d batch norms into the convolutions before them", len(pairs))
    return len(pairs)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)
