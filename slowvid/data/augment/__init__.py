"""Training augmentations that keep a clip consistent: every frame gets the same ops,
magnitudes, crop and erased boxes. Each one is switched by config keys (PySlowFast's names)::

    AUG.ENABLE         master switch of RandAugment / AugMix / colour jitter / erasing / NUM_SAMPLE
    AUG.AA_TYPE        "rand-m7-n4-mstd0.5-inc1" (RandAugment), "augmix-m3-w3" (AugMix), "" (none)
    AUG.COLOR_JITTER   used only when AA_TYPE is "" (timm's rule); 0 disables
    AUG.RE_PROB        random erasing (0 disables)
    MIXUP.ENABLE       mixup / cutmix / label smoothing on the batch (see mixup.py)
    DATA.TRAIN_JITTER_SCALES_RELATIVE   random resized crop ([] keeps the short-side jitter)
"""

from __future__ import annotations

from collections.abc import Callable

from .augmix import AugMix
from .color_jitter import ColorJitter
from .lighting import LightingJitter
from .mixup import Mixup, MixupCollate
from .rand_augment import RandAugment, parse_policy
from .random_erasing import RandomErasing

__all__ = [
    "AugMix",
    "ColorJitter",
    "LightingJitter",
    "Mixup",
    "MixupCollate",
    "RandAugment",
    "RandomErasing",
    "build_clip_augment",
    "build_mixup",
    "build_random_erasing",
]


def build_clip_augment(cfg) -> Callable | None:
    """RandAugment or AugMix (by AUG.AA_TYPE), else colour jitter, else None."""
    aug = cfg.AUG
    if not aug.ENABLE:
        return None
    if aug.AA_TYPE:
        kind, _ = parse_policy(aug.AA_TYPE)
        cls = RandAugment if kind == "rand" else AugMix
        return cls.from_policy(aug.AA_TYPE, aug.INTERPOLATION)
    if aug.COLOR_JITTER > 0:
        return ColorJitter(aug.COLOR_JITTER, aug.COLOR_JITTER, aug.COLOR_JITTER)
    return None


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
