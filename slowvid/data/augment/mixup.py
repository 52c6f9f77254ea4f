"""Mixup and CutMix on a training batch, with label smoothing ("mixup: Beyond Empirical Risk
Minimization", arXiv:1710.09412; "CutMix", arXiv:1905.04899), following timm's ``Mixup``
(Apache-2.0) and PySlowFast's ``mixup.py``: each clip is mixed with the clip at the mirrored
batch position, one lambda (and one box) per batch, shared by every pathway and frame.

Targets become probability vectors, so the loss must be ``soft_cross_entropy`` (or
``bce_logit`` for multi-label sets, whose multi-hot targets are mixed the same way).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Mixup", "MixupCollate", "cutmix_box", "smooth_one_hot"]


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """``(B,)`` class indices -> ``(B, num_classes)`` rows of ``smoothing / K`` with
    ``1 - smoothing + smoothing / K`` at the label (each row sums to 1)."""
    off = smoothing / num_classes
    out = torch.full((labels.numel(), num_classes), off)
    return out.scatter_(1, labels.view(-1, 1).long(), 1.0 - smoothing + off)


def cutmix_box(h: int, w: int, lam: float, rng: random.Random) -> tuple[int, int, int, int]:
    """A box ``(y0, y1, x0, x1)`` of about ``(1 - lam)`` of the frame, centred anywhere and
    clipped at the border (so its true area can be smaller)."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(h * ratio), int(w * ratio)
    cy, cx = rng.randint(0, h - 1), rng.randint(0, w - 1)
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    return y0, y1, x0, x1


@dataclass(frozen=True)
class Mixup:
    """Args:
    num_classes: K, the width of the targets.
    mixup_alpha: Beta parameter of the mixup lambda (0 disables mixup).
    cutmix_alpha: Beta parameter of the cutmix lambda (0 disables cutmix).
    prob: chance a batch is mixed at all (else only label smoothing applies).
    switch_prob: chance of cutmix rather than mixup when both are enabled.
    label_smoothing: mass spread evenly over all classes.
    """

    num_classes: int
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1

    def draw(self, rng: random.Random) -> tuple[float, bool]:
        """``(lambda, use_cutmix)`` for one batch; lambda 1 means unmixed."""
        if rng.random() >= self.prob or (self.mixup_alpha <= 0 and self.cutmix_alpha <= 0):
            return 1.0, False
        use_cutmix = self.mixup_alpha <= 0 or (
            self.cutmix_alpha > 0 and rng.random() < self.switch_prob
        )
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        return rng.betavariate(alpha, alpha), use_cutmix

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        """Smoothed ``(B, K)`` targets of ``(B,)`` indices or ``(B, K)`` multi-hot labels."""
        if labels.dim() == 1:
            return smooth_one_hot(labels, self.num_classes, self.label_smoothing)
        s = self.label_smoothing
        return labels.float() * (1.0 - s) + s / self.num_classes

    def __call__(
        self, inputs: list[torch.Tensor], labels: torch.Tensor, rng: random.Random
    ) -> tuple[list[torch.Tensor], torch.Tensor, float]:
        """Mix a batch.

        Args:
            inputs: one ``(B, C, T, H, W)`` tensor per pathway (pathways share H and W).
            labels: ``(B,)`` class indices or ``(B, K)`` multi-hot.
            rng: randomness for lambda, the choice of method and the box.

        Returns:
            ``(inputs, targets (B, K), lambda)``; for cutmix lambda is the share of each
            clip that is still its own (1 - pasted area / frame area).
        """
        lam, use_cutmix = self.draw(rng)
        y = self.targets(labels)
        if lam == 1.0:
            return inputs, y, 1.0
        if use_cutmix:
            h, w = inputs[0].shape[-2:]
            y0, y1, x0, x1 = cutmix_box(h, w, lam, rng)
            lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
            mixed = []
            for x in inputs:
                x = x.clone()
                x[..., y0:y1, x0:x1] = x.flip(0)[..., y0:y1, x0:x1]
                mixed.append(x)
        else:
            mixed = [x * lam + x.flip(0) * (1.0 - lam) for x in inputs]
        return mixed, y * lam + y.flip(0) * (1.0 - lam), lam


class MixupCollate:
    """A collate function that batches with ``collate`` and then mixes the batch.

    Picklable, so loader workers can run it; randomness comes from the (per-worker seeded)
    ``random`` module, like the dataset's.
    """

    def __init__(self, collate: Callable[[list], dict[str, Any]], mixup: Mixup):
        self.collate = collate
        self.mixup = mixup

    def __call__(self, items: list) -> dict[str, Any]:
        batch = self.collate(items)
        if batch["inputs"] is None:
            return batch
        rng = random.Random(random.getrandbits(64))
        batch["inputs"], batch["label"], batch["mix_lambda"] = self.mixup(
            batch["inputs"], batch["label"], rng
        )
        return batch
