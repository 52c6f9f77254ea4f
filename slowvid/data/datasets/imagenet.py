"""ImageNet in its folder layout, for the image models of PySlowFast's ``configs/ImageNet``
(MViT and ResNet pre-training on images).

Layout, as PySlowFast's ``Imagenet`` reads it: ``DATA.PATH_TO_DATA_DIR/{split}/{wnid}/*`` with
class folders named ``n`` + digits (``n01440764``), numbered in sorted order; the split folder
is ``train``, ``val`` or ``test`` as the run asks. ``DATA.PATH_TO_PRELOAD_IMDB`` instead names a
folder of ``{split}.json`` lists of ``{"im_path": ..., "class": ...}``, PySlowFast's cached
listing.

Each image is a one-frame clip ``(3, 1, H, W)``, so the clip pipeline, failure handling and
evaluation of :class:`ClipDataset` apply unchanged, and a 2-D model (MODEL.ARCH 2d, or MViT with
PATCH_2D) reads it. Training (as PySlowFast): an inception random resized crop
(DATA.TRAIN_JITTER_SCALES_RELATIVE / ASPECT_RELATIVE, else 0.08-1 and 3/4-4/3), a flip, then
AUG.* (RandAugment, erasing...) when AUG.ENABLE, else PCA lighting noise (DATA.TRAIN_PCA_*).
Evaluation: the shorter side resized to TEST_CROP_SIZE / DATA.IN_VAL_CROP_RATIO, the centre
TEST_CROP_SIZE crop.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

from slowvid.data.augment import LightingJitter
from slowvid.data.frames import FrameListVideo
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = ["ImageNet", "list_image_folders"]

# PySlowFast's test of a class folder name (an ImageNet WordNet id).
_WNID = re.compile(r"^n[0-9]+$")


def list_image_folders(split_dir: str) -> tuple[list[str], list[int], list[str]]:
    """Images and labels of one split folder.

    Returns:
        ``(paths, labels, wnids)``: every file of every class folder, in sorted order, its
        class index, and the class folder names by index.

    Raises:
        FileNotFoundError: the folder is missing.
        ValueError: it holds no class folder, or a class folder holds no file (named).
    """
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(f"ImageNet split folder not found: {split_dir}")
    wnids = sorted(d for d in os.listdir(split_dir) if _WNID.match(d))
    if not wnids:
        raise ValueError(f"{split_dir}: no class folders named n<digits> (n01440764, ...)")
    paths, labels = [], []
    for label, wnid in enumerate(wnids):
        files = sorted(os.listdir(os.path.join(split_dir, wnid)))
        if not files:
            raise ValueError(f"{os.path.join(split_dir, wnid)}: class folder holds no image")
        paths += [os.path.join(split_dir, wnid, f) for f in files]
        labels += [label] * len(files)
    return paths, labels, wnids


def _read_preloaded(path: str) -> tuple[list[str], list[int]]:
    with open(path) as f:
        entries = json.load(f)
    return [e["im_path"] for e in entries], [int(e["class"]) for e in entries]


@DATASETS.register()
class ImageNet(ClipDataset):
    """ImageNet images as one-frame clips (see the module docstring).

    Args:
        root: DATA.PATH_TO_DATA_DIR (holds the split folders).
        split: the split folder, "train", "val" or "test".
        preload_dir: a folder of ``{split}.json`` listings to read instead ("" for none).
        **kwargs: the clip arguments of :class:`ClipDataset` but ``paths`` and ``labels``.
    """

    frame_folders_supported = False

    def __init__(self, *, root: str, split: str, preload_dir: str = "", **kwargs: Any):
        if preload_dir:
            paths, labels = _read_preloaded(os.path.join(preload_dir, f"{split}.json"))
            names = None
        else:
            paths, labels, names = list_image_folders(os.path.join(root, split))
        super().__init__(paths=paths, labels=labels, **kwargs)
        self.class_names = names

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Reads DATA.PATH_TO_DATA_DIR / PATH_TO_PRELOAD_IMDB / IN_VAL_CROP_RATIO /
        TRAIN_PCA_*, and what :meth:`ClipDataset.from_config` reads."""
        kwargs = super().from_config(cfg, split)
        d, transform = cfg.DATA, kwargs["transform"]
        if transform.training:
            transform = dataclasses.replace(
                transform,
                jitter_scales_relative=tuple(d.TRAIN_JITTER_SCALES_RELATIVE or (0.08, 1.0)),
                jitter_aspect_relative=tuple(d.TRAIN_JITTER_ASPECT_RELATIVE or (3 / 4, 4 / 3)),
            )
            if not cfg.AUG.ENABLE:
                lighting = LightingJitter(d.TRAIN_PCA_EIGVAL, d.TRAIN_PCA_EIGVEC)
                transform = dataclasses.replace(transform, augment=lighting, uint8_output=False)
        elif d.IN_VAL_CROP_RATIO > 0:
            transform = dataclasses.replace(
                transform, test_scale=int(d.TEST_CROP_SIZE / d.IN_VAL_CROP_RATIO)
            )
        return {
            **kwargs,
            # One centre crop per image, whatever TEST.NUM_SPATIAL_CROPS says (as PySlowFast).
            "num_temporal_views": 1,
            "num_spatial_crops": 1,
            "transform": transform,
            "root": d.PATH_TO_DATA_DIR,
            "split": split,
            "preload_dir": d.PATH_TO_PRELOAD_IMDB,
        }

    def video_at(self, video_index: int) -> FrameListVideo:
        """The image as a one-frame video."""
        return FrameListVideo([self.paths[video_index]])
