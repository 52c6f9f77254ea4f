"""Tensor operations with no config and no registry (the lowest layer)."""

from .roi_align import roi_align, roi_align_torch, torchvision_roi_align_available

__all__ = ["roi_align", "roi_align_torch", "torchvision_roi_align_available"]
