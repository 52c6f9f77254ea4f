"""Parameter and FLOP counts, as reported in MODEL_ZOO.md.

FLOPs come from fvcore's ``FlopCountAnalysis``: one multiply-add is one flop; convolutions, linear
layers and batch norm are counted, pools and activations are not. The model is counted in eval
mode, where fvcore charges batch norm 2 flops per element.

How the published PySlowFast figures relate to this count (checked in
``tests/models/test_model_zoo.py``): the Kinetics Slow 8x8 and SlowFast 8x8 R50 rows
(54.52, 65.71) are convolutions + linear only; the other rows (C2D, I3D, 4x16, R101, SSv2 and
Charades) add batch norm as fvcore counts it in *training* mode, 5 flops per element.
"""

import logging
import warnings
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["count_gflops", "count_parameters", "gflops_by_operator"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model`` (all, or only those requiring grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


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
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        counts = analysis.by_operator()
    finally:
        jit_logger.setLevel(level)
        model.train(was_training)
    return {op: n / 1e9 for op, n in counts.items()}


def count_gflops(model: nn.Module, inputs: Sequence[torch.Tensor]) -> float:
    """Total GFLOPs of one eval-mode forward pass; see :func:`gflops_by_operator`."""
    return sum(gflops_by_operator(model, inputs).values())
