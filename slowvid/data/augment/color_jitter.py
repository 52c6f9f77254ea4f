"""Colour jitter for clips: brightness, contrast and saturation, one draw per clip."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from . import ops

__all__ = ["ColorJitter"]


@dataclass(frozen=True)
class ColorJitter:
    """Scale brightness, contrast and saturation by factors drawn from ``[1 - s, 1 + s]``, in a
    random order (torchvision's ``ColorJitter`` without hue).

    Args:
        brightness: s of the brightness factor (0 leaves it).
        contrast: s of the contrast factor.
        saturation: s of the saturation factor.
    """

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4

    def __call__(self, clip: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Jitter a float ``(C, T, H, W)`` clip on [0, 1]; the same factors for every frame."""
        steps = [
            (ops.brightness, self.brightness),
            (ops.contrast, self.contrast),
            (ops.color, self.saturation),
        ]
        rng.shuffle(steps)
        for fn, strength in steps:
            if strength > 0:
                clip = fn(clip, rng.uniform(max(0.0, 1.0 - strength), 1.0 + strength))
        return clip
