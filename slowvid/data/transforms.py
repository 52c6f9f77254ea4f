"""Spatial transforms on float clips ``(C, T, H, W)``, and packing clips into pathways.

Decoders give uint8 ``(T, H, W, 3)``; :func:`to_float_clip` converts once to float
``(C, T, H, W)`` on [0, 1], and everything after works on that layout. Every transform applies
the same geometry to all frames of a clip. Resizing is bilinear without antialiasing
(``align_corners=False``), everywhere, so training and testing see the same resampling.

:class:`ClipTransform` strings the steps together the way PySlowFast does:

    train: random short side in [min, max] -> random square crop -> optional flip -> normalise
    test:  short side = crop size -> crop at left/top, centre or right/bottom -> normalise

With the augmentations of ``slowvid.data.augment`` switched on, training becomes (timm's order,
which augments the small crop rather than the full frame):

    random resized crop (or short side + crop) -> flip -> RandAugment | AugMix | colour jitter
        -> normalise -> random erasing
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "ClipTransform",
    "horizontal_flip",
    "normalize",
    "pack_pathways",
    "random_crop",
    "random_resized_crop",
    "random_short_side_scale",
    "scale_frames",
    "short_side_scale",
    "to_float_clip",
    "uniform_crop",
]


def to_float_clip(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(T, H, W, C)`` -> float32 ``(C, T, H, W)`` on [0, 1]."""
    if frames.dtype != torch.uint8 or frames.dim() != 4:
        raise ValueError(f"expected uint8 (T, H, W, C), got {frames.dtype} {tuple(frames.shape)}")
    return frames.permute(3, 0, 1, 2).float().div_(255.0)


def _short_side_shape(h: int, w: int, size: int) -> tuple[int, int]:
    return (size, math.floor(w * size / h)) if h <= w else (math.floor(h * size / w), size)


def scale_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`short_side_scale` on decoded uint8 ``(T, H, W, C)`` frames, staying uint8.

    Resizing before the float conversion is ~4x faster (PyTorch's uint8 bilinear kernel on the
    frames' channels-last layout) and moves pixels by at most one grey level of rounding.
    """
    _, h, w, _ = frames.shape
    new_h, new_w = _short_side_shape(h, w, size)
    if (new_h, new_w) == (h, w):
        return frames
    out = F.interpolate(
        frames.permute(0, 3, 1, 2), size=(new_h, new_w), mode="bilinear", align_corners=False
    )
    return out.permute(0, 2, 3, 1)


def short_side_scale(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size``, keeping the aspect ratio.

    Args:
        clip: float ``(C, T, H, W)``.
        size: new length of the shorter side.

    Returns:
        ``(C, T, H', W')`` with ``min(H', W') == size``.
    """
    _, _, h, w = clip.shape
    new_h, new_w = _short_side_shape(h, w, size)
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


def random_resized_crop(
    clip: torch.Tensor,
    size: int,
    scale: tuple[float, float],
    aspect: tuple[float, float],
    rng: random.Random,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """Inception-style crop: a random area fraction and aspect ratio, resized to ``size``.

    Args:
        clip: float ``(C, T, H, W)``.
        size: output side.
        scale: ``(min, max)`` crop area as a fraction of the frame.
        aspect: ``(min, max)`` crop width / height, drawn log-uniformly.
        rng: randomness (one crop for the whole clip).
        interpolation: "bilinear", "bicubic" or "nearest".

    Returns:
        ``(C, T, size, size)``; after 10 failed draws, the largest centred crop whose aspect
        lies in ``aspect`` (as torchvision).
    """
    _, _, h, w = clip.shape
    log_ratio = (math.log(aspect[0]), math.log(aspect[1]))
    for _ in range(10):
        area = rng.uniform(*scale) * h * w
        ratio = math.exp(rng.uniform(*log_ratio))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
            break
    else:
        ratio = w / h
        if ratio < aspect[0]:
            cw, ch = w, int(round(w / aspect[0]))
        elif ratio > aspect[1]:
            cw, ch = int(round(h * aspect[1])), h
        else:
            cw, ch = w, h
        y, x = (h - ch) // 2, (w - cw) // 2
    crop = clip[:, :, y : y + ch, x : x + cw].transpose(0, 1)
    align = None if interpolation == "nearest" else False
    out = F.interpolate(crop, size=(size, size), mode=interpolation, align_corners=align)
    if interpolation == "bicubic":
        out = out.clamp_(0.0, 1.0)  # bicubic overshoots at edges
    return out.transpose(0, 1)


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
        jitter_scales_relative: ``(min, max)`` area fraction of an inception-style random
            resized crop, which then replaces the short-side jitter; None keeps the jitter.
        jitter_aspect_relative: ``(min, max)`` width / height of that crop.
        interpolation: resampling of the random resized crop.
        augment: ``augment(clip, rng)`` on the [0, 1] crop (RandAugment, AugMix, colour
            jitter), training only.
        erase: ``erase(clip, rng)`` on the normalised clip (random erasing), training only.
        num_samples: augmented copies made of each decoded clip in training.
    """

    training: bool
    jitter_scales: tuple[int, int] = (256, 320)
    crop_size: int = 224
    mean: tuple[float, ...] = (0.45, 0.45, 0.45)
    std: tuple[float, ...] = (0.225, 0.225, 0.225)
    random_flip: bool = True
    jitter_scales_relative: tuple[float, float] | None = None
    jitter_aspect_relative: tuple[float, float] = (0.75, 4 / 3)
    interpolation: str = "bilinear"
    augment: Callable[[torch.Tensor, random.Random], torch.Tensor] | None = None
    erase: Callable[[torch.Tensor, random.Random], torch.Tensor] | None = None
    num_samples: int = 1

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
        if self.training:
            if rng is None:
                raise ValueError("a training transform needs an rng")
            if self.jitter_scales_relative:
                clip = random_resized_crop(
                    to_float_clip(frames),
                    self.crop_size,
                    self.jitter_scales_relative,
                    self.jitter_aspect_relative,
                    rng,
                    self.interpolation,
                )
            else:
                # Scale and crop the uint8 frames (the rng draws of random_short_side_scale and
                # random_crop, in their order); only the crop is converted to float.
                frames = scale_frames(frames, rng.randint(*self.jitter_scales))
                clip = random_crop(frames.permute(3, 0, 1, 2), self.crop_size, rng)
                clip = clip.float().div_(255.0)
            if self.random_flip:
                clip = horizontal_flip(clip, 0.5, rng)
            if self.augment is not None:
                clip = self.augment(clip, rng)
        else:
            clip = to_float_clip(scale_frames(frames, self.crop_size))
            clip = uniform_crop(clip, self.crop_size, spatial_idx)
        clip = normalize(clip, self.mean, self.std)
        if self.training and self.erase is not None:
            clip = self.erase(clip, rng)
        return clip.contiguous()


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
