"""Tensor operations with no config and no registry (the lowest layer)."""

from .roi_align import roi_align, roi_align_torch, torchvision_roi_align_available
from .split_batchnorm import SplitBatchNorm, swap_batchnorms
from .sync_batchnorm import AllReduceBatchNorm, convert_all_reduce_batchnorm

__all__ = [
    "AllReduceBatchNorm",
    "SplitBatchNorm",
    "convert_all_reduce_batchnorm",
    "roi_align",
    "roi_align_torch",
    "swap_batchnorms",
    "torchvision_roi_align_available",
]
