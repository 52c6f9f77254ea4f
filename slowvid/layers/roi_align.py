"""ROIAlign ("Mask R-CNN", He et al., arXiv:1703.06870), from torchvision or in pure torch.

:func:`roi_align` uses ``torchvision.ops.roi_align`` when torchvision imports and falls back to
:func:`roi_align_torch`, which reproduces torchvision's kernel numerically: the same sample
positions, the same clamping at the borders and the same adaptive sampling grid.

Bilinear sampling is separable, and so is its validity test, so the average over a bin's
sample grid is ``Ay @ feature @ Ax^T`` with ``Ay`` (resolution, H) and ``Ax`` (resolution, W)
the per-bin averaged interpolation weights along each axis. That keeps the fallback short,
differentiable and exact up to float rounding.
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = ["roi_align", "roi_align_torch", "torchvision_roi_align_available"]


@functools.cache
def torchvision_roi_align_available() -> bool:
    """Whether ``torchvision.ops.roi_align`` imports and runs here (checked once)."""
    try:
        from torchvision.ops import roi_align as tv_roi_align

        tv_roi_align(torch.zeros(1, 1, 2, 2), torch.tensor([[0.0, 0, 0, 1, 1]]), 1, 1.0, 1, True)
        return True
    except Exception:  # noqa: BLE001  (ImportError, or a build without the C++ op)
        return False


def _axis_weights(
    start: float, size: float, length: int, resolution: int, grid: int
) -> torch.Tensor:
    """Per-bin mean bilinear weights along one axis, as torchvision samples it.

    Args:
        start: first coordinate of the box on the feature map (after scale and offset).
        size: box length on the feature map.
        length: feature map length along this axis.
        resolution: output bins.
        grid: samples per bin.

    Returns:
        ``(resolution, length)`` float64 weights.
    """
    weights = torch.zeros(resolution, length, dtype=torch.float64)
    if grid == 0:
        return weights
    bin_size = size / resolution
    for b in range(resolution):
        for i in range(grid):
            pos = start + b * bin_size + (i + 0.5) * bin_size / grid
            if pos < -1.0 or pos > length:
                continue  # outside the map: the sample contributes zero
            pos = max(pos, 0.0)
            low = int(pos)
            if low >= length - 1:
                low = high = length - 1
                pos = float(low)
            else:
                high = low + 1
            frac = pos - low
            weights[b, low] += (1.0 - frac) / grid
            weights[b, high] += frac / grid
    return weights


def roi_align_torch(
    features: torch.Tensor,
    boxes: torch.Tensor,
    resolution: int,
    spatial_scale: float,
    sampling_ratio: int = 0,
    aligned: bool = True,
) -> torch.Tensor:
    """ROIAlign in pure torch, numerically equal to ``torchvision.ops.roi_align``.

    Args:
        features: ``(B, C, H, W)``.
        boxes: ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in input-image pixels.
        resolution: output side.
        spatial_scale: feature pixels per input pixel (1 / backbone stride).
        sampling_ratio: samples per bin side; 0 picks ``ceil(box side / resolution)`` per box.
        aligned: shift by half a pixel so box corners fall on pixel edges.

    Returns:
        ``(K, C, resolution, resolution)``.
    """
    _, channels, height, width = features.shape
    out = features.new_zeros(boxes.shape[0], channels, resolution, resolution)
    offset = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(boxes.detach().double().tolist()):
        x_start, y_start = x1 * spatial_scale - offset, y1 * spatial_scale - offset
        roi_w = x2 * spatial_scale - offset - x_start
        roi_h = y2 * spatial_scale - offset - y_start
        if not aligned:  # legacy behaviour: boxes at least one pixel wide
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / resolution)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / resolution)
        ay = _axis_weights(y_start, roi_h, height, resolution, grid_h).to(features)
        ax = _axis_weights(x_start, roi_w, width, resolution, grid_w).to(features)
        out[k] = torch.einsum("ph,chw,qw->cpq", ay, features[int(b)], ax)
    return out


def roi_align(
    features: torch.Tensor,
    boxes: torch.Tensor,
    resolution: int,
    spatial_scale: float,
    sampling_ratio: int = 0,
    aligned: bool = True,
) -> torch.Tensor:
    """ROIAlign by torchvision when it is usable, else by :func:`roi_align_torch`.

    Args and Returns: as :func:`roi_align_torch`.
    """
    if torchvision_roi_align_available():
        from torchvision.ops import roi_align as tv_roi_align

        return tv_roi_align(
            features, boxes.to(features.dtype), resolution, spatial_scale, sampling_ratio, aligned
        )
    return roi_align_torch(features, boxes, resolution, spatial_scale, sampling_ratio, aligned)
