"""Kinetics-style video classification datasets (Kinetics-400/600/700 and any folder of videos
listed as ``path label`` lines).

Split files are ``{split}.csv`` in a data directory, one video a line: a path (joined to a
prefix) and an integer label, separated by one separator string. The same layout serves
UCF101, HMDB51 or a custom set; a dataset that only differs in its file layout subclasses
:class:`Kinetics` and overrides :meth:`Kinetics.read_split_file`.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import torch

from slowvid.data.decoding import DecodeError, open_video, resolve_backend
from slowvid.data.sampling import ClipSpec, random_clip_indices, uniform_clip_indices
from slowvid.data.transforms import ClipTransform, pack_pathways
from slowvid.registry import DATASETS

__all__ = ["Kinetics", "read_split_file"]

logger = logging.getLogger(__name__)


def read_split_file(path: str, separator: str = " ") -> tuple[list[str], list[int]]:
    """Read ``path label`` lines; blank lines are skipped.

    Args:
        path: the split file.
        separator: string between the path and the label.

    Returns:
        ``(paths, labels)``, in file order.

    Raises:
        ValueError: a line does not have exactly two fields or its label is not an integer;
            the message names the file and the 1-based line number.
    """
    paths, labels = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split(separator)
            if len(fields) != 2:
                raise ValueError(
                    f"{path}:{lineno}: expected 'path{separator}label' (2 fields split by "
                    f"{separator!r}), got {len(fields)} fields in {line!r}"
                )
            try:
                label = int(fields[1])
            except ValueError:
                raise ValueError(
                    f"{path}:{lineno}: label {fields[1]!r} is not an integer in {line!r}"
                ) from None
            paths.append(fields[0])
            labels.append(label)
    if not paths:
        raise ValueError(f"{path}: no videos listed")
    return paths, labels


@DATASETS.register()
class Kinetics(torch.utils.data.Dataset):
    """Video classification from a ``path label`` list.

    Training yields one random clip per video. Evaluation yields
    ``num_temporal_views * num_spatial_crops`` items per video, item ``i`` being video
    ``i // views``, temporal clip ``(i % views) // num_spatial_crops`` and spatial crop
    ``i % num_spatial_crops`` (the PySlowFast order).

    A video that fails to decode is logged and listed in the item's ``"failed"`` entry so the
    main process can count failures even when items come from worker processes. In training
    it is replaced by a randomly drawn video (up to ``num_retries`` times); in evaluation
    the item comes back with ``"inputs": None``.

    Randomness comes from the ``random`` module, which the data loader seeds per worker.

    Args:
        split_file: the ``path label`` list.
        path_prefix: joined in front of every listed path.
        separator: between path and label in ``split_file``.
        training: random clips (True) or evenly spaced views (False).
        clip: frames per clip, stride and target frame rate.
        transform: spatial pipeline (its ``training`` must match ``training``).
        num_pathways: 1, or 2 for SlowFast's slow and fast inputs.
        alpha: frame-rate ratio of the fast to the slow pathway (used with 2 pathways).
        num_temporal_views: evenly spaced clips per video when evaluating.
        num_spatial_crops: 1 (centre) or 3 (left/top, centre, right/bottom) when evaluating.
        num_retries: replacement videos tried after a failure in training.
        decoding_backend: "auto", "pyav" or "torchcodec".
    """

    def __init__(
        self,
        *,
        split_file: str,
        path_prefix: str = "",
        separator: str = " ",
        training: bool,
        clip: ClipSpec,
        transform: ClipTransform,
        num_pathways: int = 1,
        alpha: int = 4,
        num_temporal_views: int = 1,
        num_spatial_crops: int = 1,
        num_retries: int = 10,
        decoding_backend: str = "auto",
    ):
        if transform.training != training:
            raise ValueError(f"transform.training={transform.training} but training={training}")
        if num_spatial_crops not in (1, 3):
            raise ValueError(f"num_spatial_crops must be 1 or 3, got {num_spatial_crops}")
        if num_temporal_views < 1:
            raise ValueError(f"num_temporal_views must be >= 1, got {num_temporal_views}")
        self.split_file = split_file
        rel_paths, self.labels = self.read_split_file(split_file, separator)
        self.paths = [os.path.join(path_prefix, p) for p in rel_paths]
        self.training = training
        self.clip = clip
        self.transform = transform
        self.num_pathways = num_pathways
        self.alpha = alpha
        self.num_temporal_views = 1 if training else num_temporal_views
        self.num_spatial_crops = 1 if training else num_spatial_crops
        self.num_retries = num_retries
        # Resolved here, in the main process, so the probe and its log line happen once.
        self.decoding_backend = resolve_backend(decoding_backend)

    @staticmethod
    def read_split_file(path: str, separator: str) -> tuple[list[str], list[int]]:
        """Paths and labels of one split; subclasses with other layouts override this."""
        return read_split_file(path, separator)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments for ``split`` ("train", "val" or "test").

        Validation takes one centre view per video, so it is cheap and deterministic;
        testing takes TEST.NUM_ENSEMBLE_VIEWS x TEST.NUM_SPATIAL_CROPS views.
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        d = cfg.DATA
        training = split == "train"
        transform = ClipTransform(
            training=training,
            jitter_scales=tuple(d.TRAIN_JITTER_SCALES),
            crop_size=d.TRAIN_CROP_SIZE if training else d.TEST_CROP_SIZE,
            mean=tuple(d.MEAN),
            std=tuple(d.STD),
            random_flip=d.RANDOM_FLIP,
        )
        return {
            "split_file": os.path.join(d.PATH_TO_DATA_DIR, f"{split}.csv"),
            "path_prefix": d.PATH_PREFIX,
            "separator": d.PATH_LABEL_SEPARATOR,
            "training": training,
            "clip": ClipSpec(d.NUM_FRAMES, d.SAMPLING_RATE, float(d.TARGET_FPS)),
            "transform": transform,
            "num_pathways": len(d.INPUT_CHANNEL_NUM),
            "alpha": cfg.SLOWFAST.ALPHA,
            "num_temporal_views": cfg.TEST.NUM_ENSEMBLE_VIEWS if split == "test" else 1,
            "num_spatial_crops": cfg.TEST.NUM_SPATIAL_CROPS if split == "test" else 1,
            "num_retries": d.NUM_RETRIES,
            "decoding_backend": d.DECODING_BACKEND,
        }

    @property
    def num_videos(self) -> int:
        return len(self.paths)

    @property
    def views_per_video(self) -> int:
        return self.num_temporal_views * self.num_spatial_crops

    def __len__(self) -> int:
        return self.num_videos * self.views_per_video

    def view_of(self, index: int) -> tuple[int, int, int]:
        """``(video_index, temporal_idx, spatial_idx)`` of item ``index``."""
        video, view = divmod(index, self.views_per_video)
        temporal, spatial = divmod(view, self.num_spatial_crops)
        if self.num_spatial_crops == 1:
            spatial = 1  # the single crop is the centre one
        return video, temporal, spatial

    def load_clip(
        self, video_index: int, temporal_idx: int, spatial_idx: int, rng: random.Random
    ) -> list[torch.Tensor]:
        """Decode, sample, transform and pack one clip.

        Args:
            video_index: which video.
            temporal_idx: -1 for a random clip, else the view index.
            spatial_idx: test crop position (ignored in training).
            rng: randomness for the clip start and the augmentations.

        Returns:
            One float ``(C, T, H, W)`` tensor per pathway.

        Raises:
            DecodeError: the video cannot be decoded.
        """
        with open_video(self.paths[video_index], self.decoding_backend) as video:
            n, fps = video.num_frames, video.fps
            if temporal_idx == -1:
                indices = random_clip_indices(self.clip, fps, n, rng)
            else:
                indices = uniform_clip_indices(
                    self.clip, fps, n, temporal_idx, self.num_temporal_views
                )
            frames = video.get_frames(indices)
        clip = self.transform(frames, spatial_idx=spatial_idx, rng=rng)
        return pack_pathways(clip, self.num_pathways, self.alpha)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One item: ``{"inputs", "label", "video_index", "failed"}``.

        ``inputs`` is a list of float ``(C, T, H, W)`` tensors (one per pathway), or None
        when the item failed; ``failed`` lists the paths that could not be decoded.
        """
        # A private generator drawn from the (per-worker seeded) module state keeps the
        # randomness of one item independent of how many draws earlier items made.
        rng = random.Random(random.getrandbits(64))
        video_index, temporal_idx, spatial_idx = self.view_of(index)
        failed: list[str] = []
        attempts = 1 + (self.num_retries if self.training else 0)
        for _ in range(attempts):
            try:
                inputs = self.load_clip(
                    video_index, -1 if self.training else temporal_idx, spatial_idx, rng
                )
            except DecodeError as err:
                logger.warning("Skipping video: %s", err)
                failed.append(self.paths[video_index])
                if self.training:
                    video_index = rng.randrange(self.num_videos)
                continue
            return {
                "inputs": inputs,
                "label": self.labels[video_index],
                "video_index": video_index,
                "failed": failed,
            }
        original = self.view_of(index)[0]
        return {
            "inputs": None,
            "label": self.labels[original],
            "video_index": original,
            "failed": failed,
        }
