"""Training augmentations that keep a clip consistent: every frame gets the same ops,
magnitudes, crop and erased boxes. Each one is switched by config keys (PySlowFast's names)::

    AUG.ENABLE         master switch of RandAugment / AugMix / colour jitter / erasing / NUM_SAMPLE
    AUG.AA_TYPE        "rand-m7-n4-mstd0.5-inc1" (RandAugment), "augmix-m3-w3" (AugMix), "" (none)
    AUG.COLOR_JITTER   used only when AA_TYPE is "" (timm's rule); 0 disables
    AUG.RE_PROB        random erasing (0 disables)
    MIXUP.ENABLE       mixup / cutmix / label smoothing on the batch (see mixup.py)
    DATA.TRAIN_JITTER_SCALES_RELATIVE   random resized crop ([] keeps the short-side jitter)
    DATA.SSL_COLOR_JITTER   contrastive learning's colour jitter / grayscale / blur (ssl_color.py),
                       before the AUG ones
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .augmix import AugMix
from .color_jitter import ColorJitter
from .lighting import LightingJitter
from .mixup import Mixup, MixupCollate
from .rand_augment import RandAugment, parse_policy
from .random_erasing import RandomErasing
from .ssl_color import SSLColorJitter

__all__ = [
    "AugMix",
    "ColorJitter",
    "LightingJitter",
    "Mixup",
    "MixupCollate",
    "RandAugment",
    "RandomErasing",
    "SSLColorJitter",
    "build_clip_augment",
    "build_mixup",
    "build_random_erasing",
]


def build_clip_augment(cfg) -> Callable | None:
    """The SSL colour augmentation (DATA.SSL_COLOR_JITTER), then RandAugment or AugMix (by
    AUG.AA_TYPE) or else colour jitter (AUG.ENABLE); None when there is neither."""
    steps = [s for s in (_ssl_color(cfg), _aug_policy(cfg.AUG)) if s is not None]
    if len(steps) < 2:
        return steps[0] if steps else None
    return _Chain(tuple(steps))


def _ssl_color(cfg) -> SSLColorJitter | None:
    d = cfg.DATA
    if not d.SSL_COLOR_JITTER:
        return None
    if len(d.SSL_COLOR_BRI_CON_SAT) != 3:
        raise ValueError(
            f"DATA.SSL_COLOR_BRI_CON_SAT needs brightness, contrast and saturation, got "
            f"{list(d.SSL_COLOR_BRI_CON_SAT)}"
        )
    return SSLColorJitter(
        *d.SSL_COLOR_BRI_CON_SAT,
        hue=d.SSL_COLOR_HUE,
        grayscale_prob=d.COLOR_RND_GRAYSCALE,
        mocov2=d.SSL_MOCOV2_AUG,
    )


def _aug_policy(aug) -> Callable | None:
    if not aug.ENABLE:
        return None
    if aug.AA_TYPE:
        kind, _ = parse_policy(aug.AA_TYPE)
        cls = RandAugment if kind == "rand" else AugMix
        return cls.from_policy(aug.AA_TYPE, aug.INTERPOLATION)
    if aug.COLOR_JITTER > 0:
        return ColorJitter(aug.COLOR_JITTER, aug.COLOR_JITTER, aug.COLOR_JITTER)
    return None


@dataclass(frozen=True)
class _Chain:
    """Clip augmentations applied in turn."""

    steps: tuple[Callable, ...]

    def __call__(self, clip, rng):
        for step in self.steps:
            clip = step(clip, rng)
        return clip


def build_random_erasing(cfg) -> RandomErasing | None:
    """Random erasing per AUG.RE_PROB / RE_MODE / RE_COUNT, or None when off."""
    aug = cfg.AUG
    if not aug.ENABLE or aug.RE_PROB <= 0:
        return None
    return RandomErasing(prob=aug.RE_PROB, mode=aug.RE_MODE, count=aug.RE_COUNT)


def build_mixup(cfg) -> Mixup | None:
    """Batch mixing per the MIXUP node, or None when MIXUP.ENABLE is off."""
    m = cfg.MIXUP
    if not m.ENABLE:
        return None
    return Mixup(
        num_classes=cfg.MODEL.NUM_CLASSES,
        mixup_alpha=m.ALPHA,
        cutmix_alpha=m.CUTMIX_ALPHA,
        prob=m.PROB,
        switch_prob=m.SWITCH_PROB,
        label_smoothing=m.LABEL_SMOOTH_VALUE,
    )
