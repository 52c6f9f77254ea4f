"""Spatial transforms on float clips ``(C, T, H, W)``, and packing clips into pathways.

Decoders give uint8 ``(T, H, W, 3)``; :func:`to_float_clip` converts once to float
``(C, T, H, W)`` on [0, 1], and everything after works on that layout. Every transform applies
the same geometry to all frames of a clip. Resizing is bilinear without antialiasing
(``align_corners=False``), everywhere, so training and testing see the same resampling.

:class:`ClipTransform` strings the steps together the way PySlowFast does:

    train: random short side in [min, max] -> random square crop -> optional flip -> normalise
    test:  short side = crop size -> crop at left/top, centre or right/bottom -> normalise
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "ClipTransform",
    "horizontal_flip",
    "normalize",
    "pack_pathways",
    "random_crop",
    "random_short_side_scale",
    "short_side_scale",
    "to_float_clip",
    "uniform_crop",
]


def to_float_clip(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(T, H, W, C)`` -> float32 ``(C, T, H, W)`` on [0, 1]."""
    if frames.dtype != torch.uint8 or frames.dim() != 4:
        raise ValueError(f"expected uint8 (T, H, W, C), got {frames.dtype} {tuple(frames.shape)}")
    return frames.permute(3, 0, 1, 2).float().div_(255.0)


def short_side_scale(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size``, keeping the aspect ratio.

    Args:
        clip: float ``(C, T, H, W)``.
        size: new length of the shorter side.

    Returns:
        ``(C, T, H', W')`` with ``min(H', W') == size``.
    """
    _, _, h, w = clip.shape
    if h <= w:
        new_h, new_w = size, math.floor(w * size / h)
    else:
        new_h, new_w = math.floor(h * size / w), size
    if (new_h, new_w) == (h, w):
        return clip
    # Frames become the batch dimension of a 2-D resize.
    out = F.interpolate(
        clip.transpose(0, 1), size=(new_h, new_w), mode="bilinear", align_corners=False
    )
    return out.transpose(0, 1)


def random_short_side_scale(
    clip: torch.Tensor, min_size: int, max_size: int, rng: random.Random
) -> torch.Tensor:
    """Resize the shorter side to a size drawn uniformly from ``[min_size, max_size]``."""
    return short_side_scale(clip, rng.randint(min_size, max_size))


def _crop(clip: torch.Tensor, y: int, x: int, size: int) -> torch.Tensor:
    _, _, h, w = clip.shape
    if size > h or size > w:
        raise ValueError(f"crop {size} larger than frame {h}x{w}")
    return clip[:, :, y : y + size, x : x + size]


def random_crop(clip: torch.Tensor, size: int, rng: random.Random) -> torch.Tensor:
    """Square ``size`` crop at a random position (same for every frame)."""
    _, _, h, w = clip.shape
    return _crop(clip, rng.randint(0, h - size), rng.randint(0, w - size), size)


def horizontal_flip(clip: torch.Tensor, prob: float, rng: random.Random) -> torch.Tensor:
    """Flip left-right with probability ``prob``."""
    return clip.flip(-1) if rng.random() < prob else clip


def uniform_crop(clip: torch.Tensor, size: int, spatial_idx: int) -> torch.Tensor:
    """Square crop for testing, placed along the longer side as PySlowFast does.

    Args:
        clip: float ``(C, T, H, W)``.
        size: crop side.
        spatial_idx: 0 = left (or top, for portrait frames), 1 = centre, 2 = right (bottom).

    Returns:
        ``(C, T, size, size)``.
    """
    if spatial_idx not in (0, 1, 2):
        raise ValueError(f"spatial_idx must be 0, 1 or 2, got {spatial_idx}")
    _, _, h, w = clip.shape
    y, x = math.ceil((h - size) / 2), math.ceil((w - size) / 2)
    if h > w:
        y = {0: 0, 1: y, 2: h - size}[spatial_idx]
    else:
        x = {0: 0, 1: x, 2: w - size}[spatial_idx]
    return _crop(clip, y, x, size)


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(clip - mean) / std`` per channel, for a clip on [0, 1]."""
    mean_t = torch.as_tensor(mean, dtype=clip.dtype).view(-1, 1, 1, 1)
    std_t = torch.as_tensor(std, dtype=clip.dtype).view(-1, 1, 1, 1)
    return (clip - mean_t) / std_t


@dataclass(frozen=True)
class ClipTransform:
    """The spatial pipeline for one split.

    Attributes:
        training: random scale/crop/flip when True, resize + uniform crop when False.
        jitter_scales: ``(min, max)`` shorter side in training.
        crop_size: square crop side (the train or the test crop size, by split).
        mean: per-channel mean on [0, 1] pixels.
        std: per-channel standard deviation.
        random_flip: flip left-right with probability 0.5 in training.
    """

    training: bool
    jitter_scales: tuple[int, int] = (256, 320)
    crop_size: int = 224
    mean: tuple[float, ...] = (0.45, 0.45, 0.45)
    std: tuple[float, ...] = (0.225, 0.225, 0.225)
    random_flip: bool = True

    def __call__(
        self, frames: torch.Tensor, *, spatial_idx: int = 1, rng: random.Random | None = None
    ) -> torch.Tensor:
        """Transform decoded frames into a network-ready clip.

        Args:
            frames: uint8 ``(T, H, W, 3)`` RGB.
            spatial_idx: test crop position (see :func:`uniform_crop`); ignored in training.
            rng: randomness, required in training.

        Returns:
            float ``(3, T, crop_size, crop_size)``.
        """
        clip = to_float_clip(frames)
        if self.training:
            if rng is None:
                raise ValueError("a training transform needs an rng")
            clip = random_short_side_scale(clip, *self.jitter_scales, rng)
            clip = random_crop(clip, self.crop_size, rng)
            if self.random_flip:
                clip = horizontal_flip(clip, 0.5, rng)
        else:
            clip = short_side_scale(clip, self.crop_size)
            clip = uniform_crop(clip, self.crop_size, spatial_idx)
        return normalize(clip, self.mean, self.std).contiguous()


def pack_pathways(clip: torch.Tensor, num_pathways: int, alpha: int) -> list[torch.Tensor]:
    """Split a clip into the inputs of a one- or two-pathway network.

    Args:
        clip: ``(C, T, H, W)``.
        num_pathways: 1 (single-rate networks) or 2 (SlowFast).
        alpha: frame-rate ratio of the fast to the slow pathway.

    Returns:
        ``[clip]`` for one pathway; ``[slow, fast]`` for two, where fast is the whole clip and
        slow keeps ``T // alpha`` frames spread evenly from first to last (as PySlowFast).
    """
    if num_pathways == 1:
        return [clip]
    if num_pathways != 2:
        raise ValueError(f"num_pathways must be 1 or 2, got {num_pathways}")
    t = clip.shape[1]
    if t // alpha < 1:
        raise ValueError(f"a clip of {t} frames is too short for alpha {alpha}")
    idx = torch.linspace(0, t - 1, t // alpha).long()
    return [clip.index_select(1, idx), clip]
