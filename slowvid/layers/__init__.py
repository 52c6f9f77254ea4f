"""Tensor operations with no config and no registry (the lowest layer)."""

from .roi_align import roi_align, roi_align_torch, torchvision_roi_align_available
from .sync_batchnorm import AllReduceBatchNorm, convert_all_reduce_batchnorm

__all__ = [
    "AllReduceBatchNorm",
    "convert_all_reduce_batchnorm",
    "roi_align",
    "roi_align_torch",
    "torchvision_roi_align_available",
]
