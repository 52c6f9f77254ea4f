"""Random erasing for clips ("Random Erasing Data Augmentation", arXiv:1708.04896), with timm's
parameters and modes (as PySlowFast's ``random_erasing.py``, whose cube mode it follows).

The same boxes, with the same fill, are erased from every frame: an object does not blink in and
out of the clip. Works on the normalised clip, where the noise fill ~ N(0, 1) matches the data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

__all__ = ["RandomErasing"]

MODES = ("const", "rand", "pixel")


@dataclass(frozen=True)
class RandomErasing:
    """Args:
    prob: chance that a clip is erased at all.
    mode: fill of a box: "const" (zeros), "rand" (one normal colour per box) or "pixel"
        (normal noise per pixel, the same in every frame).
    count: boxes erased per clip (each a share ``1 / count`` of the area range).
    min_area: smallest box, as a fraction of the frame.
    max_area: largest box, as a fraction of the frame.
    min_aspect: smallest height / width (the largest is its inverse).
    """

    prob: float = 0.25
    mode: str = "pixel"
    count: int = 1
    min_area: float = 0.02
    max_area: float = 1 / 3
    min_aspect: float = 0.3

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"AUG.RE_MODE must be one of {MODES}, got {self.mode!r}")

    def boxes(self, h: int, w: int, rng: random.Random) -> list[tuple[int, int, int, int]]:
        """Boxes ``(top, left, height, width)`` to erase from an ``h x w`` frame."""
        if rng.random() >= self.prob:
            return []
        out = []
        log_ratio = (math.log(self.min_aspect), math.log(1 / self.min_aspect))
        for _ in range(self.count):
            for _attempt in range(10):
                area = rng.uniform(self.min_area, self.max_area) * h * w / self.count
                aspect = math.exp(rng.uniform(*log_ratio))
                bh = int(round(math.sqrt(area * aspect)))
                bw = int(round(math.sqrt(area / aspect)))
                if 0 < bh < h and 0 < bw < w:
                    out.append((rng.randint(0, h - bh), rng.randint(0, w - bw), bh, bw))
                    break
        return out

    def __call__(self, clip: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Erase boxes from a normalised ``(C, T, H, W)`` clip; returns a new tensor."""
        c, _, h, w = clip.shape
        boxes = self.boxes(h, w, rng)
        if not boxes:
            return clip
        clip = clip.clone()
        gen = torch.Generator().manual_seed(rng.getrandbits(63))
        for top, left, bh, bw in boxes:
            if self.mode == "const":
                fill = torch.zeros(c, 1, 1, 1)
            elif self.mode == "rand":
                fill = torch.randn(c, 1, 1, 1, generator=gen)
            else:
                fill = torch.randn(c, 1, bh, bw, generator=gen)
            clip[:, :, top : top + bh, left : left + bw] = fill.to(clip.dtype)
        return clip
