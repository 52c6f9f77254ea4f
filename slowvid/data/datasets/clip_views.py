"""What a clip dataset's item holds beyond one clip (several clips and crops of the video, masks),
and the training augmentations' arguments: the config-reading pieces of
:class:`~slowvid.data.datasets.clip_dataset.ClipDataset`."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from slowvid.data.augment import build_clip_augment, build_random_erasing
from slowvid.data.masks import CubeMasks
from slowvid.data.transforms import is_channels_last

__all__ = ["ClipViews", "augment_kwargs", "clip_views", "stack_views"]


@dataclass(frozen=True)
class ClipViews:
    """What one item holds beyond a clip: several clips of the video and augmented crops of each
    in training (the positives of contrastive learning, or repeated sampling), and masks.

    Attributes:
        num_clips: clips decoded at independent random times (DATA.TRAIN_CROP_NUM_TEMPORAL).
        num_crops: augmented crops of each clip (DATA.TRAIN_CROP_NUM_SPATIAL).
        masks: draws a ``(1, t, h, w)`` mask per output clip, appended to the item's inputs
            after the pathways (AUG.GEN_MASK_LOADER; every split), or None.
    """

    num_clips: int = 1
    num_crops: int = 1
    masks: Callable[[random.Random], torch.Tensor] | None = None

    def __post_init__(self):
        if self.num_clips < 1 or self.num_crops < 1:
            raise ValueError(
                "DATA.TRAIN_CROP_NUM_TEMPORAL and TRAIN_CROP_NUM_SPATIAL must be >= 1, got "
                f"{self.num_clips} and {self.num_crops}"
            )


def augment_kwargs(cfg) -> dict[str, Any]:
    """The :class:`ClipTransform` arguments of the training augmentations (AUG.*, the
    relative jitter keys of DATA); empty dict values leave the plain pipeline."""
    d = cfg.DATA
    kwargs: dict[str, Any] = {
        "augment": build_clip_augment(cfg),
        "erase": build_random_erasing(cfg),
        "interpolation": cfg.AUG.INTERPOLATION,
        "num_samples": cfg.AUG.NUM_SAMPLE if cfg.AUG.ENABLE else 1,
    }
    if d.TRAIN_JITTER_SCALES_RELATIVE:
        kwargs["jitter_scales_relative"] = tuple(d.TRAIN_JITTER_SCALES_RELATIVE)
    if d.TRAIN_JITTER_ASPECT_RELATIVE:
        kwargs["jitter_aspect_relative"] = tuple(d.TRAIN_JITTER_ASPECT_RELATIVE)
    return kwargs


def stack_views(clips: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(C, T, H, W)`` clips -> ``(V, C, T, H, W)``, keeping uint8 clips channels-last (the
    layout the collate batches without moving bytes)."""
    if all(is_channels_last(c) for c in clips):
        return torch.stack([c.permute(1, 2, 3, 0) for c in clips]).permute(0, 4, 1, 2, 3)
    return torch.stack(clips)


def clip_views(cfg, training: bool) -> ClipViews:
    """The :class:`ClipViews` of a split: DATA.TRAIN_CROP_NUM_TEMPORAL / _SPATIAL in training,
    AUG.GEN_MASK_LOADER masks (AUG.MASK_WINDOW_SIZE / MASK_RATIO / MASK_TUBE / MASK_FRAMES) in
    every split."""
    a = cfg.AUG
    masks = None
    if a.GEN_MASK_LOADER:
        mode = "frames" if a.MASK_FRAMES else "tube" if a.MASK_TUBE else "cube"
        masks = CubeMasks(tuple(a.MASK_WINDOW_SIZE), a.MASK_RATIO, mode)
    if not training:
        return ClipViews(masks=masks)
    d = cfg.DATA
    return ClipViews(d.TRAIN_CROP_NUM_TEMPORAL, d.TRAIN_CROP_NUM_SPATIAL, masks)
