"""RandAugment for clips ("RandAugment: Practical automated data augmentation with a reduced
search space", arXiv:1909.13719), in timm's variant: ops, magnitude scale and policy strings
("rand-m7-n4-mstd0.5-inc1") follow timm ``auto_augment.py`` (Apache-2.0), as PySlowFast uses it.

The ops and magnitudes are drawn once per clip and applied to every frame alike.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import ops

__all__ = ["AUGMIX_OPS", "RAND_OPS", "RandAugment", "apply_op", "parse_policy"]

# Magnitudes live on [0, MAX_LEVEL], as in the paper and timm.
MAX_LEVEL = 10.0

_Op = Callable[[torch.Tensor, float, str], torch.Tensor]


def _signed(value: float, rng: random.Random) -> float:
    return -value if rng.random() < 0.5 else value


def _enhance(fn: Callable[[torch.Tensor, float], torch.Tensor], increasing: bool):
    def op(clip: torch.Tensor, level: float, rng: random.Random, interp: str) -> torch.Tensor:
        if increasing:  # 1 +- 0.9 m: stronger either way as m grows
            factor = 1.0 + _signed(level / MAX_LEVEL * 0.9, rng)
        else:  # the paper's [0.1, 1.9], where m = 5 is the identity
            factor = level / MAX_LEVEL * 1.8 + 0.1
        return fn(clip, factor)

    return op


def _rotate(clip, level, rng, interp):
    return ops.affine(clip, ops.rotation_matrix(_signed(30.0 * level / MAX_LEVEL, rng)),
                      interpolation=interp)  # fmt: skip


def _shear(axis: int):
    def op(clip, level, rng, interp):
        s = _signed(0.3 * level / MAX_LEVEL, rng)
        matrix = (1.0, s, 0.0, 1.0) if axis == 0 else (1.0, 0.0, s, 1.0)
        return ops.affine(clip, matrix, interpolation=interp)

    return op


def _translate(axis: int):
    def op(clip, level, rng, interp):
        _, _, h, w = clip.shape
        pct = _signed(0.45 * level / MAX_LEVEL, rng)
        shift = (pct * w, 0.0) if axis == 0 else (0.0, pct * h)
        return ops.affine(clip, (1.0, 0.0, 0.0, 1.0), shift, interpolation=interp)

    return op


def _posterize(increasing: bool):
    def op(clip, level, rng, interp):
        bits = int(level / MAX_LEVEL * 4)
        return ops.posterize(clip, 4 - bits if increasing else bits + 4)

    return op


def _solarize(increasing: bool):
    def op(clip, level, rng, interp):
        threshold = int(level / MAX_LEVEL * 256)
        return ops.solarize(clip, 256 - threshold if increasing else threshold)

    return op


_OPS: dict[str, Callable] = {
    "AutoContrast": lambda clip, level, rng, interp: ops.auto_contrast(clip),
    "Equalize": lambda clip, level, rng, interp: ops.equalize(clip),
    "Invert": lambda clip, level, rng, interp: ops.invert(clip),
    "Rotate": _rotate,
    "Posterize": _posterize(False),
    "PosterizeIncreasing": _posterize(True),
    "Solarize": _solarize(False),
    "SolarizeIncreasing": _solarize(True),
    "SolarizeAdd": lambda clip, level, rng, interp: ops.solarize_add(
        clip, int(level / MAX_LEVEL * 110)
    ),
    "Color": _enhance(ops.color, False),
    "ColorIncreasing": _enhance(ops.color, True),
    "Contrast": _enhance(ops.contrast, False),
    "ContrastIncreasing": _enhance(ops.contrast, True),
    "Brightness": _enhance(ops.brightness, False),
    "BrightnessIncreasing": _enhance(ops.brightness, True),
    "Sharpness": _enhance(ops.sharpness, False),
    "SharpnessIncreasing": _enhance(ops.sharpness, True),
    "ShearX": _shear(0),
    "ShearY": _shear(1),
    "TranslateXRel": _translate(0),
    "TranslateYRel": _translate(1),
}

# timm's _RAND_TRANSFORMS; "inc1" swaps in the *Increasing variants.
RAND_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
    "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel",
    "TranslateYRel",
)  # fmt: skip
_INCREASING = {"Posterize", "Solarize", "Color", "Contrast", "Brightness", "Sharpness"}
# AugMix leaves out the colour ops that overlap the corruptions of ImageNet-C.
AUGMIX_OPS = (
    "AutoContrast", "Equalize", "PosterizeIncreasing", "Rotate", "SolarizeIncreasing",
    "ShearX", "ShearY", "TranslateXRel", "TranslateYRel",
)  # fmt: skip


def apply_op(
    name: str, clip: torch.Tensor, level: float, rng: random.Random, interpolation: str
) -> torch.Tensor:
    """Apply op ``name`` at magnitude ``level`` (0..10) to a float ``(C, T, H, W)`` clip."""
    return _OPS[name](clip, level, rng, interpolation)


def sample_level(magnitude: float, magnitude_std: float, rng: random.Random) -> float:
    """The magnitude of one op application: fixed, Gaussian around ``magnitude`` (std > 0),
    or uniform on [0, magnitude] (std = inf), clipped to [0, 10]."""
    if magnitude_std == float("inf"):
        level = rng.uniform(0.0, magnitude)
    elif magnitude_std > 0:
        level = rng.gauss(magnitude, magnitude_std)
    else:
        level = magnitude
    return min(max(level, 0.0), MAX_LEVEL)


def parse_policy(policy: str) -> tuple[str, dict[str, float]]:
    """Split ``"rand-m7-n4-mstd0.5-inc1"`` into ``("rand", {"m": 7, "n": 4, "mstd": 0.5,
    "inc": 1})``; ``augmix-m3-w3-d-1-a1`` works the same way (``d-1`` is depth -1).

    Raises:
        ValueError: an unknown part, naming AUG.AA_TYPE.
    """
    kind, *parts = policy.split("-")
    params: dict[str, float] = {}
    i = 0
    while i < len(parts):
        part = parts[i]
        key = part.rstrip("0123456789.")
        value = part[len(key) :]
        if value == "" and i + 1 < len(parts):  # "d-1": a negative value split by the dash
            i += 1
            value = "-" + parts[i]
        if key not in ("m", "n", "mstd", "inc", "w", "d", "a", "mmax") or not value:
            raise ValueError(f"AUG.AA_TYPE {policy!r}: cannot parse {part!r}")
        params[key] = float(value)
        i += 1
    if kind not in ("rand", "augmix"):
        raise ValueError(f"AUG.AA_TYPE {policy!r}: must start with 'rand' or 'augmix'")
    return kind, params


@dataclass(frozen=True)
class RandAugment:
    """Apply ``num_ops`` random ops, each with probability ``prob``, to a clip.

    Args:
        magnitude: m, the op strength on [0, 10].
        num_ops: n, ops drawn (with replacement) per clip.
        magnitude_std: spread of the per-op magnitude (0: fixed; inf: uniform on [0, m]).
        increasing: use the ops whose strength grows with m in both directions ("inc1").
        prob: chance each drawn op is applied (timm: 0.5).
        interpolation: resampling of the geometric ops.
    """

    magnitude: float = 9.0
    num_ops: int = 2
    magnitude_std: float = 0.0
    increasing: bool = False
    prob: float = 0.5
    interpolation: str = "bilinear"

    @property
    def op_names(self) -> Sequence[str]:
        if not self.increasing:
            return RAND_OPS
        return tuple(f"{n}Increasing" if n in _INCREASING else n for n in RAND_OPS)

    @classmethod
    def from_policy(cls, policy: str, interpolation: str = "bilinear") -> RandAugment:
        """Build from a timm policy string such as ``"rand-m7-n4-mstd0.5-inc1"``."""
        kind, p = parse_policy(policy)
        if kind != "rand":
            raise ValueError(f"AUG.AA_TYPE {policy!r} is not a RandAugment policy")
        return cls(
            magnitude=p.get("m", 9.0),
            num_ops=int(p.get("n", 2)),
            magnitude_std=math.inf if p.get("mstd", 0.0) > 100 else p.get("mstd", 0.0),
            increasing=bool(p.get("inc", 0)),
            interpolation=interpolation,
        )

    def __call__(self, clip: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Augment a float ``(C, T, H, W)`` clip on [0, 1]; returns the same shape."""
        for name in rng.choices(self.op_names, k=self.num_ops):
            if rng.random() > self.prob:
                continue
            level = sample_level(self.magnitude, self.magnitude_std, rng)
            clip = apply_op(name, clip, level, rng, self.interpolation)
        return clip
