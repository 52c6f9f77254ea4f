"""Deployment: torch.export / ONNX / ExecuTorch export, mobile 2D rewrites, FX int8."""

from .export import (
    PATHWAY_NAMES,
    PathwayInputs,
    example_clips,
    export_program,
    max_abs_error,
    onnx_session,
    run_onnx,
    to_onnx,
)
from .mobile import fold_batch_norms, mobile_friendly
from .on_device import (
    QUANTIZE_MODES,
    ExecutorchModule,
    delegation_summary,
    executorch_threads,
    lower_to_xnnpack,
    quantize_for_xnnpack,
    run_executorch,
    set_executorch_threads,
    to_executorch,
)
from .quantize import ClipModel, export_float, fuse_conv_bn, quantize_int8

__all__ = [
    "PATHWAY_NAMES",
    "QUANTIZE_MODES",
    "ClipModel",
    "ExecutorchModule",
    "PathwayInputs",
    "delegation_summary",
    "example_clips",
    "executorch_threads",
    "export_float",
    "export_program",
    "fold_batch_norms",
    "fuse_conv_bn",
    "lower_to_xnnpack",
    "max_abs_error",
    "mobile_friendly",
    "onnx_session",
    "quantize_for_xnnpack",
    "quantize_int8",
    "run_executorch",
    "run_onnx",
    "set_executorch_threads",
    "to_executorch",
    "to_onnx",
]
