"""PCA lighting noise ("AlexNet-style" colour augmentation, Krizhevsky et al. 2012, §4.1)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["LightingJitter"]


@dataclass(frozen=True)
class LightingJitter:
    """Adds ``eigvec @ (alpha * eigval)`` to every pixel, ``alpha ~ N(0, alpha_std)`` per
    principal component, drawn once per clip (PySlowFast's ImageNet training: DATA.TRAIN_PCA_
    EIGVAL / EIGVEC, ``alpha_std`` 0.1). No clamping, as there.

    Args:
        eigval: the three eigenvalues of the RGB pixel covariance.
        eigvec: its eigenvectors, one per column (``eigvec[c][k]``: channel c of vector k).
        alpha_std: standard deviation of the per-component weights.
    """

    eigval: Sequence[float]
    eigvec: Sequence[Sequence[float]]
    alpha_std: float = 0.1

    def __call__(self, clip: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Shift a float ``(3, T, H, W)`` clip on [0, 1] by one RGB offset."""
        alpha = [rng.gauss(0.0, self.alpha_std) for _ in self.eigval]
        shift = [sum(v * a * e for v, a, e in zip(row, alpha, self.eigval)) for row in self.eigvec]
        return clip + torch.tensor(shift, dtype=clip.dtype).view(-1, 1, 1, 1)
