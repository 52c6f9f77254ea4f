"""Charades (Sigurdsson et al., "Hollywood in Homes: Crowdsourcing Data Collection for Activity
Understanding", ECCV 2016, arXiv:1604.01753): 157 actions, several per video (multi-label).

Reads PySlowFast's frame lists, ``train.csv`` and ``val.csv`` in DATA.PATH_TO_DATA_DIR::

    original_vido_id video_id frame_id path labels
    46GP8 0 0 46GP8/46GP8-000001.jpg ""
    46GP8 0 1 46GP8/46GP8-000002.jpg 147,149

one line per extracted frame (24 fps), ``path`` relative to DATA.PATH_PREFIX and ``labels`` the
comma-separated classes active at that frame (``""`` for none). A video's target is the union
of its frames' labels, as a 0/1 vector; the test split reads ``val.csv`` (as PySlowFast).

Sampling is PySlowFast's Charades sampling, counted in extracted frames (DATA.TARGET_FPS is
not used): a random window in training, ``TEST.NUM_ENSEMBLE_VIEWS`` evenly spaced windows in
testing, frames beyond the ends clamped. Views are pooled by TEST.ENSEMBLE_METHOD ("max" in the
recipe) and scored by mean average precision (:class:`~slowvid.evaluation.MultiLabelEvaluator`).
Assumption: the network sees RGB frames; Caffe2-converted weights that expect BGR need their
first convolution's input channels swapped.
"""

from __future__ import annotations

import os
import random
from typing import Any

import torch

from slowvid.data.decoding import Video
from slowvid.data.frames import FrameListVideo, read_frame_list
from slowvid.evaluation import MultiLabelEvaluator
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = ["Charades", "charades_clip_indices", "read_charades_frame_list"]


def read_charades_frame_list(
    path: str, frame_dir: str, num_classes: int
) -> tuple[list[str], list[list[str]], list[set[int]]]:
    """Read a frame list (:func:`~slowvid.data.frames.read_frame_list`) with its labels.

    Args:
        path: ``train.csv`` or ``val.csv``.
        frame_dir: joined in front of every frame path.
        num_classes: labels must lie in ``[0, num_classes)``.

    Returns:
        ``(video names, frame paths per video, label set per video)``, videos in order of
        first appearance, frames in file order.

    Raises:
        ValueError: a line without 5 fields, or a label that is not an integer in range; the
            message names the file and the 1-based line number.
    """
    videos = read_frame_list(path, frame_dir, num_classes)
    names = list(videos)
    return names, [videos[n].frames for n in names], [videos[n].labels for n in names]


def charades_clip_indices(
    num_video_frames: int,
    num_frames: int,
    sampling_rate: int,
    temporal_idx: int,
    num_views: int,
    rng: random.Random,
) -> list[int]:
    """PySlowFast's Charades frame indices.

    Args:
        num_video_frames: frames in the video.
        num_frames: frames per clip.
        sampling_rate: stride between clip frames, in video frames.
        temporal_idx: -1 for a random window, else the view index in ``[0, num_views)``.
        num_views: evenly spaced views per video in testing.
        rng: randomness of the training window.

    Returns:
        ``num_frames`` indices, clamped to ``[0, num_video_frames)``.
    """
    clip_length = (num_frames - 1) * sampling_rate + 1
    spare = num_video_frames - clip_length
    if temporal_idx == -1:
        # A clip longer than the video starts before frame 0 at random, padding both ends.
        start = rng.randint(min(spare, 0), max(spare, 0))
    elif num_views == 1:
        start = max(spare, 0) // 2
    else:
        start = int(round(max(spare, 0) / (num_views - 1) * temporal_idx))
    last = num_video_frames - 1
    return [min(max(start + i * sampling_rate, 0), last) for i in range(num_frames)]


@DATASETS.register()
class Charades(ClipDataset):
    """Charades videos (as frame folders) with multi-hot targets.

    Items are those of :class:`ClipDataset` with ``label`` a float ``(num_classes,)`` 0/1
    vector; clips are sampled by :func:`charades_clip_indices`.

    Args:
        frame_list: the PySlowFast frame list of the split.
        frame_dir: directory the listed frame paths are relative to.
        num_classes: number of classes (157).
        fps: rate the frames were extracted at (only reported by the video object).
        ensemble_method: "max" or "sum" pooling of view scores in evaluation.
        **kwargs: the other arguments of :class:`ClipDataset`, all but ``paths`` and
            ``labels``.
    """

    frame_folders_supported = False  # always frames, from the frame lists

    def __init__(
        self,
        *,
        frame_list: str,
        frame_dir: str = "",
        num_classes: int = 157,
        fps: float = 24.0,
        ensemble_method: str = "max",
        **kwargs: Any,
    ):
        self.frame_list = frame_list
        self.fps = fps
        names, self.frame_paths, label_sets = read_charades_frame_list(
            frame_list, frame_dir, num_classes
        )
        labels = []
        for label_set in label_sets:
            target = torch.zeros(num_classes)
            target[list(label_set)] = 1.0
            labels.append(target)
        super().__init__(
            paths=names,
            labels=labels,
            num_classes=num_classes,
            ensemble_method=ensemble_method,
            **kwargs,
        )

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments: ``{train,val}.csv`` in DATA.PATH_TO_DATA_DIR ("test" reads
        val.csv), frames under DATA.PATH_PREFIX, MODEL.NUM_CLASSES classes."""
        kwargs = super().from_config(cfg, split)
        name = "train.csv" if split == "train" else "val.csv"
        return {
            "frame_list": os.path.join(cfg.DATA.PATH_TO_DATA_DIR, name),
            "frame_dir": cfg.DATA.PATH_PREFIX,
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "ensemble_method": cfg.TEST.ENSEMBLE_METHOD,
            **kwargs,
        }

    def video_at(self, video_index: int) -> FrameListVideo:
        """The video's frame files (read only when its clip's frames are asked for)."""
        return FrameListVideo(self.frame_paths[video_index], fps=self.fps)

    def frame_indices(self, video: Video, temporal_idx: int, rng: random.Random) -> list[int]:
        """PySlowFast's Charades windows (:func:`charades_clip_indices`)."""
        return charades_clip_indices(
            video.num_frames,
            self.clip.num_frames,
            self.clip.sampling_rate,
            temporal_idx,
            self.num_temporal_views,
            rng,
        )

    def train_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """None besides the loss: top-k error does not apply to multi-hot labels."""
        return {}

    def make_evaluator(self, output_dir: str, tag: str) -> MultiLabelEvaluator:
        """Video-level mAP over this split (the engine calls it for val and test)."""
        return MultiLabelEvaluator(self.num_videos, self.num_classes, self.ensemble_method)
