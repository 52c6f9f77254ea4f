"""Masks drawn by the loader for masked feature prediction (MaskFeat), one per output clip.

Paper: "Masked Feature Prediction for Self-Supervised Visual Pre-Training", Wei et al.,
arXiv:2112.09133, which masks space-time cubes as BEiT ("BEiT", Bao et al., arXiv:2106.08254)
masks blocks of an image. The modes and their parameters are PySlowFast's (``AUG.MASK_*``,
``datasets/kinetics.py`` ``_gen_mask``); the code is written anew.

A mask is a float ``(1, t, h, w)`` tensor on the ``AUG.MASK_WINDOW_SIZE`` grid, 1 = masked; the
model resizes it to its token grid. The leading 1 lets the collate function stack masks like
clips (copies of an item become batch rows).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

__all__ = ["MASK_MODES", "CubeMasks"]

MASK_MODES = ("cube", "tube", "frames")


@dataclass(frozen=True)
class CubeMasks:
    """Block-wise random masks.

    Attributes:
        window: (t, h, w) grid of the mask.
        ratio: share of the grid to mask (cubes stop once they reach it; a draw that would
            overshoot is rejected, so masks may fall a little short).
        mode: "cube": space-time boxes (MaskFeat's default); "tube": 2-D blocks repeated in
            every frame (AUG.MASK_TUBE); "frames": ``round(t * ratio)`` whole frames
            (AUG.MASK_FRAMES).
        min_aspect: smallest height / width of a block (the largest is its inverse).
    """

    window: tuple[int, int, int] = (8, 7, 7)
    ratio: float = 0.4
    mode: str = "cube"
    min_aspect: float = 0.3

    def __post_init__(self):
        if self.mode not in MASK_MODES:
            raise ValueError(f"mask mode must be one of {MASK_MODES}, got {self.mode!r}")
        if len(self.window) != 3 or min(self.window) < 1:
            raise ValueError(f"AUG.MASK_WINDOW_SIZE must be 3 positive sizes, got {self.window}")
        if not 0.0 < self.ratio < 1.0:
            raise ValueError(f"AUG.MASK_RATIO must lie in (0, 1), got {self.ratio}")

    def __call__(self, rng: random.Random) -> torch.Tensor:
        """One mask, float (1, t, h, w)."""
        t, h, w = self.window
        mask = torch.zeros(self.window)
        if self.mode == "frames":
            mask[rng.sample(range(t), round(t * self.ratio))] = 1
        elif self.mode == "tube":
            target = round(h * w * self.ratio)
            plane = torch.zeros(1, h, w)
            self._fill(plane, target, max(target // 5, 1), target, rng, tries=10)
            mask[:] = plane
        else:
            target = round(t * h * w * self.ratio)
            self._fill(mask, target, max(h * w // 5, 1), h * w, rng, tries=100)
        return mask.unsqueeze(0)

    def _fill(self, mask, target: int, low: int, high: int, rng: random.Random, tries: int):
        """Adds random boxes of ``low``..``high`` cells until ``target`` cells are masked or
        ``tries`` draws in a row add nothing."""
        frames, h, w = mask.shape
        log_aspect = (math.log(self.min_aspect), -math.log(self.min_aspect))
        count = 0
        while count < target:
            room = target - count
            added = 0
            for _ in range(tries):
                area = rng.uniform(low, min(high, room) if frames == 1 else high)
                aspect = math.exp(rng.uniform(*log_aspect))
                bh, bw = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
                bt = rng.randint(1, frames)
                if not (bw < w and bh < h):
                    continue
                top, left = rng.randint(0, h - bh), rng.randint(0, w - bw)
                front = rng.randint(0, frames - bt)
                box = mask[front : front + bt, top : top + bh, left : left + bw]
                new = int((box == 0).sum())
                if 0 < new <= room:
                    box.fill_(1)
                    added = new
                    break
            if added == 0:
                return
            count += added
