"""Image operations on whole clips, the vocabulary of RandAugment, AugMix and colour jitter.

Every op takes a float clip ``(C, T, H, W)`` on [0, 1] and one set of parameters and treats the
frames as a batch, so every frame gets the same operation with the same magnitude. Ops that
depend on image statistics (auto-contrast, equalize, contrast) compute them over the whole clip,
not per frame, so an augmented clip does not flicker. Semantics follow PIL's ``ImageOps`` /
``ImageEnhance`` as timm's ``auto_augment.py`` (Apache-2.0) uses them; the tensor code is ours.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "affine",
    "auto_contrast",
    "blend",
    "brightness",
    "color",
    "contrast",
    "equalize",
    "grayscale",
    "invert",
    "posterize",
    "sharpness",
    "solarize",
    "solarize_add",
]

# ImageNet mean colour: timm fills uncovered pixels of geometric ops with it.
FILL = (124 / 255, 116 / 255, 104 / 255)


def blend(a: torch.Tensor, b: torch.Tensor, factor: float) -> torch.Tensor:
    """``b + factor * (a - b)`` clamped to [0, 1]: PIL's ``ImageEnhance`` interpolation."""
    return (b + factor * (a - b)).clamp_(0.0, 1.0)


def grayscale(clip: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of an RGB clip, ``(1, T, H, W)``."""
    r, g, b = clip[0], clip[1], clip[2]
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(0)


def brightness(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with black: 0 gives black, 1 the clip."""
    return blend(clip, torch.zeros_like(clip), factor)


def color(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Saturation: blend with the grey clip."""
    return blend(clip, grayscale(clip).expand_as(clip), factor)


def contrast(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the clip's mean grey level."""
    return blend(clip, grayscale(clip).mean().expand_as(clip), factor)


def sharpness(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with PIL's 3x3 SMOOTH filter of the clip; the one-pixel border is kept."""
    c, t, h, w = clip.shape
    if h < 3 or w < 3:
        return clip
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    frames = clip.transpose(0, 1).reshape(t * c, 1, h, w)
    smooth = F.conv2d(frames, kernel.to(clip).view(1, 1, 3, 3))
    degenerate = frames.clone()
    degenerate[:, :, 1:-1, 1:-1] = smooth
    degenerate = degenerate.view(t, c, h, w).transpose(0, 1)
    return blend(clip, degenerate, factor)


def invert(clip: torch.Tensor) -> torch.Tensor:
    return 1.0 - clip


def _to_uint8(clip: torch.Tensor) -> torch.Tensor:
    return (clip * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def posterize(clip: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the ``bits`` most significant bits of each 8-bit value."""
    if bits >= 8:
        return clip
    mask = (0xFF << (8 - max(bits, 0))) & 0xFF
    return (_to_uint8(clip) & mask).float() / 255.0


def solarize(clip: torch.Tensor, threshold: int) -> torch.Tensor:
    """Invert values at or above ``threshold`` (on the 0..256 scale)."""
    return torch.where(_to_uint8(clip).int() >= threshold, 1.0 - clip, clip)


def solarize_add(clip: torch.Tensor, add: int, threshold: int = 128) -> torch.Tensor:
    """Add ``add`` (0..255 scale) to values below ``threshold``."""
    added = (clip + add / 255.0).clamp(0.0, 1.0)
    return torch.where(_to_uint8(clip).int() < threshold, added, clip)


def auto_contrast(clip: torch.Tensor) -> torch.Tensor:
    """Stretch each channel's clip-wide [min, max] to [0, 1]."""
    flat = clip.flatten(1)
    lo = flat.min(dim=1).values.view(-1, 1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1, 1)
    scale = torch.where(hi > lo, 1.0 / (hi - lo).clamp_min(1e-8), torch.ones_like(hi))
    offset = torch.where(hi > lo, lo, torch.zeros_like(lo))
    return ((clip - offset) * scale).clamp_(0.0, 1.0)


def equalize(clip: torch.Tensor) -> torch.Tensor:
    """Histogram equalization per channel, one lookup table for the whole clip (PIL's rule)."""
    q = _to_uint8(clip).long()
    out = torch.empty_like(clip)
    for ch in range(clip.shape[0]):
        hist = torch.bincount(q[ch].flatten(), minlength=256)
        nonzero = hist[hist > 0]
        step = (int(hist.sum()) - int(nonzero[-1])) // 255
        if step == 0:
            out[ch] = clip[ch]
            continue
        lut = ((torch.cumsum(hist, 0) - hist + step // 2) // step).clamp_(0, 255)
        out[ch] = lut[q[ch]].float() / 255.0
    return out


def affine(
    clip: torch.Tensor,
    matrix: tuple[float, float, float, float],
    translate: tuple[float, float] = (0.0, 0.0),
    *,
    interpolation: str = "bilinear",
    fill: tuple[float, ...] = FILL,
) -> torch.Tensor:
    """Resample every frame through one affine map about the frame centre.

    Args:
        clip: float ``(C, T, H, W)``.
        matrix: ``(a, b, c, d)``: output pixel offset ``(x, y)`` from the centre reads input
            pixel offset ``(a x + b y, c x + d y)``.
        translate: ``(tx, ty)`` pixels added to the input position.
        interpolation: "nearest", "bilinear" or "bicubic".
        fill: colour of the pixels that come from outside the frame.

    Returns:
        ``(C, T, H, W)`` on [0, 1].
    """
    c, t, h, w = clip.shape
    a, b, cc, d = matrix
    tx, ty = translate
    # affine_grid works in [-1, 1] coordinates, which scale x and y differently for
    # non-square frames; converting keeps rotations rigid.
    theta = torch.tensor(
        [[a, b * h / w, 2 * tx / w], [cc * w / h, d, 2 * ty / h]], dtype=clip.dtype
    ).expand(t, 2, 3)
    fill_t = torch.as_tensor(fill, dtype=clip.dtype).view(1, c, 1, 1)
    frames = clip.transpose(0, 1) - fill_t  # zero padding then becomes ``fill``
    grid = F.affine_grid(theta, [t, c, h, w], align_corners=False)
    out = F.grid_sample(frames, grid, mode=interpolation, align_corners=False) + fill_t
    return out.transpose(0, 1).clamp_(0.0, 1.0)


def rotation_matrix(degrees: float) -> tuple[float, float, float, float]:
    rad = math.radians(degrees)
    return (math.cos(rad), -math.sin(rad), math.sin(rad), math.cos(rad))
