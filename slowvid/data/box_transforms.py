"""Spatial transforms of a clip together with its boxes (action detection).

Boxes are ``(N, 4)`` float ``[x1, y1, x2, y2]`` in continuous pixel coordinates, where a pixel
``i`` spans ``[i, i + 1)``: a box covering a whole W-wide frame is ``[0, W]``. With that
convention scaling multiplies, cropping subtracts the offset and clips to ``[0, size]``, and a
horizontal flip maps ``x`` to ``W - x`` exactly (PySlowFast uses ``W - 1 - x``, which is off by a
pixel for the half-pixel-aligned ROIAlign). Every step moves the image and its boxes with the
same parameters, so the box still frames the same pixels.

:class:`DetectionTransform` mirrors :class:`~slowvid.data.transforms.ClipTransform`:

    train: random short side in [min, max] -> random square crop -> optional flip -> normalise
    eval:  short side = crop size -> centre crop -> normalise
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from .transforms import normalize, short_side_scale, to_float_clip

__all__ = ["DetectionTransform", "clip_boxes", "crop_boxes", "flip_boxes", "scale_boxes"]


def scale_boxes(boxes: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    """Boxes of an image resized by ``sx`` horizontally and ``sy`` vertically."""
    return boxes * boxes.new_tensor([sx, sy, sx, sy])


def clip_boxes(boxes: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Boxes clipped to the ``width`` x ``height`` image."""
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def crop_boxes(boxes: torch.Tensor, x: int, y: int, width: int, height: int) -> torch.Tensor:
    """Boxes in a ``width`` x ``height`` crop whose top-left corner is at ``(x, y)``."""
    return clip_boxes(boxes - boxes.new_tensor([x, y, x, y]), width, height)


def flip_boxes(boxes: torch.Tensor, width: float) -> torch.Tensor:
    """Boxes of a ``width``-wide image flipped left-right."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)


def _scale(clip: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    _, _, h, w = clip.shape
    clip = short_side_scale(clip, size)
    # Per-axis ratios: the long side is floored, so the two differ slightly.
    return clip, scale_boxes(boxes, clip.shape[3] / w, clip.shape[2] / h)


@dataclass(frozen=True)
class DetectionTransform:
    """The spatial pipeline of one split, applied to a clip and its boxes alike.

    Attributes:
        training: random scale/crop/flip when True; resize + centre crop when False.
        jitter_scales: ``(min, max)`` shorter side in training.
        crop_size: square crop side.
        mean: per-channel mean on [0, 1] pixels.
        std: per-channel standard deviation.
        random_flip: flip left-right with probability 0.5 in training.
        reverse_channels: return BGR, the normalised clip's channels reversed
            (DATA.REVERSE_INPUT_CHANNEL).
    """

    training: bool
    jitter_scales: tuple[int, int] = (256, 320)
    crop_size: int = 224
    mean: tuple[float, ...] = (0.45, 0.45, 0.45)
    std: tuple[float, ...] = (0.225, 0.225, 0.225)
    random_flip: bool = True
    reverse_channels: bool = False

    def __call__(
        self, frames: torch.Tensor, boxes: torch.Tensor, rng: random.Random | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform frames and boxes.

        Args:
            frames: uint8 ``(T, H, W, 3)`` RGB.
            boxes: ``(N, 4)`` ``[x1, y1, x2, y2]`` normalised to [0, 1] of the frame.
            rng: randomness, required in training.

        Returns:
            float clip ``(3, T, crop_size, crop_size)`` and ``(N, 4)`` boxes in its pixels.
        """
        clip = to_float_clip(frames)
        _, _, h, w = clip.shape
        boxes = clip_boxes(scale_boxes(boxes.float(), w, h), w, h)
        size = self.crop_size
        if self.training:
            if rng is None:
                raise ValueError("a training transform needs an rng")
            clip, boxes = _scale(clip, boxes, rng.randint(*self.jitter_scales))
            _, _, h, w = clip.shape
            y, x = rng.randint(0, h - size), rng.randint(0, w - size)
            flip = self.random_flip and rng.random() < 0.5
        else:
            clip, boxes = _scale(clip, boxes, size)
            _, _, h, w = clip.shape
            y, x = math.ceil((h - size) / 2), math.ceil((w - size) / 2)
            flip = False
        clip = clip[:, :, y : y + size, x : x + size]
        boxes = crop_boxes(boxes, x, y, size, size)
        if flip:
            clip, boxes = clip.flip(-1), flip_boxes(boxes, size)
        clip = normalize(clip, self.mean, self.std)
        if self.reverse_channels:
            clip = clip.flip(0)
        return clip.contiguous(), boxes
