"""Parameter and FLOP counts, as reported in MODEL_ZOO.md.

FLOPs come from fvcore's ``FlopCountAnalysis``: one multiply-add is one flop; convolutions, linear
layers and batch norm are counted, pools and activations are not. The model is counted in eval
mode, where fvcore charges batch norm 2 flops per element.

How the published PySlowFast figures relate to this count (checked in
``tests/models/test_model_zoo.py``): the Kinetics Slow 8x8 and SlowFast 8x8 R50 rows
(54.52, 65.71) are convolutions + linear only; the other rows (C2D, I3D, 4x16, R101, SSv2 and
Charades) add batch norm as fvcore counts it in *training* mode, 5 flops per element.

fvcore traces a real forward pass, which takes seconds to minutes for a zoo-size network on a CPU.
:func:`meta_gflops_by_operator` gives the same counts from shapes alone, on the meta device, in
well under a second; ``tests/models/test_model_zoo.py`` checks the two agree.
"""

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["count_gflops", "count_parameters", "gflops_by_operator", "meta_gflops_by_operator"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model`` (all, or only those requiring grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _sdpa_flop_jit(inputs: list, outputs: list) -> Counter:
    # Fused attention = the two matmuls it replaces, q k^T and attn v, counted as "matmul" so
    # totals stay comparable with models (and published figures) that use plain matmuls.
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    return Counter({"matmul": math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])})


@torch.no_grad()
def gflops_by_operator(model: nn.Module, inputs: Sequence[torch.Tensor]) -> dict[str, float]:
    """GFLOPs of one eval-mode forward pass, per operator kind ("conv", "batch_norm", "linear").

    Args:
        model: a model whose ``forward`` takes a list of per-pathway clips.
        inputs: per pathway (B, C, T, H, W); use B = 1 for "GFLOPs per view".

    Returns:
        Billions of flops per operator kind. The model's train/eval mode is restored afterwards.
    """
    with warnings.catch_warnings():
        # fvcore.nn scripts a loss with torch.jit at import time, which newer torch deprecates.
        warnings.simplefilter("ignore", FutureWarning)
        from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    model.eval()
    # fvcore logs a warning per op it has no handle for (relu, max-pool, add); those are not
    # counted by convention, so the warnings are only noise.
    jit_logger = logging.getLogger("fvcore.nn.jit_analysis")
    level = jit_logger.level
    jit_logger.setLevel(logging.ERROR)
    try:
        analysis = FlopCountAnalysis(model, (list(inputs),))
        analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_flop_jit)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        counts = analysis.by_operator()
    finally:
        jit_logger.setLevel(level)
        model.train(was_training)
    return {op: n / 1e9 for op, n in counts.items()}


def count_gflops(model: nn.Module, inputs: Sequence[torch.Tensor]) -> float:
    """Total GFLOPs of one eval-mode forward pass; see :func:`gflops_by_operator`."""
    return sum(gflops_by_operator(model, inputs).values())


def _conv_flops(args: tuple, out: torch.Tensor) -> int:
    # Output elements times the multiply-adds behind each: (C_in / groups) * prod(kernel).
    weight = args[1]
    return out.numel() * weight.shape[1] * math.prod(weight.shape[2:])


def _batch_norm_flops(args: tuple, out: torch.Tensor) -> int:
    # fvcore's eval-mode rate: 2 per element with an affine transform, else 1.
    return args[0].numel() * (2 if args[1] is not None else 1)


def _matmul_flops(args: tuple, out: torch.Tensor) -> int:
    # mm(a, b), addmm(bias, a, b), bmm(a, b): the bias add is free, as in fvcore.
    a, b = args[-2], args[-1]
    return a.numel() * b.shape[-1]


def _layer_norm_flops(args: tuple, out: torch.Tensor) -> int:
    return args[0].numel() * (5 if args[2] is not None else 4)


def _sdpa_flops(args: tuple, out: torch.Tensor) -> int:
    # A fused attention kernel (on real devices; the meta device runs the math path, whose two
    # bmm calls are counted as such) = the two matmuls q k^T and attn v, as fvcore's handle.
    q, k, v = args[:3]
    return math.prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])


_aten = torch.ops.aten
# aten op -> (operator kind, flops). The ops a model's forward decomposes to below autograd;
# linear layers arrive as mm / addmm, so fvcore's "linear" and "matmul" both count as "matmul".
_HANDLES: dict[object, tuple[str, Callable[[tuple, torch.Tensor], int]]] = {
    _aten.convolution: ("conv", _conv_flops),
    _aten.native_batch_norm: ("batch_norm", _batch_norm_flops),
    _aten._native_batch_norm_legit_no_training: ("batch_norm", _batch_norm_flops),
    _aten.mm: ("matmul", _matmul_flops),
    _aten.addmm: ("matmul", _matmul_flops),
    _aten.bmm: ("matmul", _matmul_flops),
    _aten.native_layer_norm: ("layer_norm", _layer_norm_flops),
}
for _name in (
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
):
    if hasattr(_aten, _name):
        _HANDLES[getattr(_aten, _name)] = ("matmul", _sdpa_flops)


class _FlopCounter(TorchDispatchMode):
    """Sums fvcore-convention flops of the aten ops run under it, by operator kind."""

    def __init__(self):
        super().__init__()
        self.counts: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        handle = _HANDLES.get(func.overloadpacket)
        if handle is not None:
            kind, flops = handle
            first = out if isinstance(out, torch.Tensor) else out[0]
            self.counts[kind] = self.counts.get(kind, 0) + flops(args, first)
        return out


@torch.no_grad()
def meta_gflops_by_operator(model: nn.Module, inputs: Sequence[torch.Tensor]) -> dict[str, float]:
    """:func:`gflops_by_operator` from shapes alone, by fvcore's formulas, in eval mode.

    Build the model under ``with torch.device("meta"):`` and pass meta inputs: no memory is
    allocated and nothing is computed, so zoo-size networks take well under a second. Counts match
    fvcore for convolutions, batch norm, linear layers, matmuls, fused attention
    (``F.scaled_dot_product_attention``, as its two matmuls) and layer norm; ops fvcore counts
    but these models do not use (upsampling, 2-D adaptive pooling, einsum) are not counted.

    Args:
        model: a model whose ``forward`` takes a list of per-pathway clips (any device).
        inputs: per pathway (B, C, T, H, W), on the model's device.

    Returns:
        Billions of flops per operator kind: "conv", "batch_norm", "matmul" (linear layers
        included), "layer_norm". The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        with _FlopCounter() as counter:
            model(list(inputs))
    finally:
        model.train(was_training)
    return {kind: n / 1e9 for kind, n in counter.counts.items()}
