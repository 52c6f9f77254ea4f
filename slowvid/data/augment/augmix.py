"""AugMix for clips ("AugMix: A Simple Data Processing Method to Improve Robustness and
Uncertainty", arXiv:1912.02781), with timm's op set and defaults (PySlowFast never had it).

Each of ``width`` chains applies 1-3 random ops; the chains are mixed with Dirichlet weights and
the mix is blended with the clip by a Beta draw. All draws are made once per clip, so every
frame goes through the same chains with the same magnitudes and weights.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from .rand_augment import AUGMIX_OPS, apply_op, parse_policy, sample_level

__all__ = ["AugMix", "dirichlet"]


def dirichlet(alpha: float, k: int, rng: random.Random) -> list[float]:
    """A draw from the symmetric Dirichlet(alpha) over ``k`` weights."""
    g = [rng.gammavariate(alpha, 1.0) for _ in range(k)]
    total = sum(g)
    return [x / total for x in g] if total > 0 else [1.0 / k] * k


@dataclass(frozen=True)
class AugMix:
    """Args:
    severity: op magnitude on [0, 10] (the paper's severity, timm's m).
    width: number of op chains mixed.
    depth: ops per chain; -1 draws 1 to 3 per chain.
    alpha: parameter of the Dirichlet chain weights and of the Beta skip weight.
    magnitude_std: spread of the per-op magnitude (inf: uniform on [0, severity]).
    interpolation: resampling of the geometric ops.
    """

    severity: float = 3.0
    width: int = 3
    depth: int = -1
    alpha: float = 1.0
    magnitude_std: float = math.inf
    interpolation: str = "bilinear"

    @classmethod
    def from_policy(cls, policy: str, interpolation: str = "bilinear") -> AugMix:
        """Build from a timm policy string such as ``"augmix-m3-w3-d-1-a1"``."""
        kind, p = parse_policy(policy)
        if kind != "augmix":
            raise ValueError(f"AUG.AA_TYPE {policy!r} is not an AugMix policy")
        mstd = p.get("mstd", math.inf)
        return cls(
            severity=p.get("m", 3.0),
            width=int(p.get("w", 3)),
            depth=int(p.get("d", -1)),
            alpha=p.get("a", 1.0),
            magnitude_std=math.inf if mstd > 100 else mstd,
            interpolation=interpolation,
        )

    def __call__(self, clip: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Augment a float ``(C, T, H, W)`` clip on [0, 1]; returns the same shape."""
        weights = dirichlet(self.alpha, self.width, rng)
        skip = rng.betavariate(self.alpha, self.alpha)
        mixed = torch.zeros_like(clip)
        for w in weights:
            depth = self.depth if self.depth > 0 else rng.randint(1, 3)
            chain = clip
            for name in rng.choices(AUGMIX_OPS, k=depth):
                level = sample_level(self.severity, self.magnitude_std, rng)
                chain = apply_op(name, chain, level, rng, self.interpolation)
            mixed += w * chain
        return ((1.0 - skip) * clip + skip * mixed).clamp_(0.0, 1.0)
