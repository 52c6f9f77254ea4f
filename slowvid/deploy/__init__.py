"""Deployment: torch.export / ONNX / ExecuTorch export, mobile 2D rewrites, FX int8."""

from .export import (
    PATHWAY_NAMES,
    ExecutorchModule,
    PathwayInputs,
    example_clips,
    export_program,
    max_abs_error,
    onnx_session,
    run_executorch,
    run_onnx,
    to_executorch,
    to_onnx,
)
from .mobile import fold_batch_norms, mobile_friendly
from .quantize import ClipModel, export_float, fuse_conv_bn, quantize_int8

__all__ = [
    "PATHWAY_NAMES",
    "ClipModel",
    "export_float",
    "fuse_conv_bn",
    "quantize_int8",
    "ExecutorchModule",
    "PathwayInputs",
    "example_clips",
    "export_program",
    "fold_batch_norms",
    "max_abs_error",
    "mobile_friendly",
    "onnx_session",
    "run_executorch",
    "run_onnx",
    "to_executorch",
    "to_onnx",
]
