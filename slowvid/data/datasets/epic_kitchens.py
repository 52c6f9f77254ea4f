"""EPIC-Kitchens-55/100 action recognition (Damen et al., "Rescaling Egocentric Vision",
IJCV 2022, arXiv:2006.13256; "Scaling Egocentric Vision", ECCV 2018, arXiv:1804.02748):
trimmed segments of long kitchen videos, each with a verb (97 classes in EPIC-100) and a noun
(300 classes).

Reads the official annotation csvs in DATA.PATH_TO_DATA_DIR, by column name so both releases
work: EPIC-100 ``EPIC_100_train.csv`` / ``EPIC_100_validation.csv`` (``narration_id,
participant_id, video_id, narration_timestamp, start_timestamp, stop_timestamp, start_frame,
stop_frame, narration, verb, verb_class, noun, noun_class, all_nouns, all_noun_classes``) and
EPIC-55 ``EPIC_train_action_labels.csv`` (``uid`` instead of ``narration_id``, no
``narration_timestamp``). Videos lie under DATA.PATH_PREFIX as published, either
``{participant}/videos/{video_id}.MP4`` (DATA.VIDEO_FORMAT "video") or frame folders
``{participant}/rgb_frames/{video_id}/frame_{:010d}.jpg`` (DATA.VIDEO_FORMAT "frames").

Each segment is one item (one "video" of :class:`ClipDataset`, which :meth:`EpicKitchens.video_at`
opens as a video of the segment's frames only): training takes a random clip inside
``[start, stop]``, testing TEST.NUM_ENSEMBLE_VIEWS evenly spaced ones; clips longer than the
segment repeat its last frame. With mp4 files the segment is located by its timestamps (so
videos re-encoded at another rate still line up); with frames by ``start_frame``/``stop_frame``,
at the rate the frames were extracted, which is estimated per video from the annotations
(``stop_frame / stop_timestamp`` of its latest segment: 60 fps for EPIC-55, 50 for most of the
EPIC-100 extension). The stride is counted at DATA.TARGET_FPS (60 in the recipe, as the
EPIC-Kitchens SlowFast baseline).

Labels are a long ``(2,)`` tensor ``[verb_class, noun_class]`` (batched to ``(B, 2)``), the
contract of :class:`~slowvid.models.heads.MultiTaskHead` and the ``multitask_cross_entropy``
loss; :meth:`EpicKitchens.make_evaluator` reports verb, noun and action accuracy.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from slowvid.data.decoding import Video, open_video
from slowvid.data.frames import FrameFolders, FrameListVideo
from slowvid.data.sampling import ClipSpec, random_clip_indices, uniform_clip_indices
from slowvid.data.video_segment import VideoSegment
from slowvid.evaluation import MultiTaskEvaluator
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = [
    "EpicKitchens",
    "EpicSegment",
    "read_epic_annotations",
    "segment_clip_indices",
    "timestamp_seconds",
]

REQUIRED = (
    "participant_id",
    "video_id",
    "start_timestamp",
    "stop_timestamp",
    "start_frame",
    "stop_frame",
    "verb_class",
    "noun_class",
)
TASK_NAMES = ("verb", "noun")


@dataclass(frozen=True)
class EpicSegment:
    """One annotated action segment (times in seconds, frames as in the frame folders)."""

    narration_id: str
    participant_id: str
    video_id: str
    start_sec: float
    stop_sec: float
    start_frame: int
    stop_frame: int
    verb_class: int
    noun_class: int


def timestamp_seconds(stamp: str) -> float:
    """``"HH:MM:SS.fff"`` (any number of decimals) in seconds.

    Raises:
        ValueError: not of that form.
    """
    parts = stamp.strip().split(":")
    if len(parts) != 3:
        raise ValueError(f"timestamp {stamp!r} is not HH:MM:SS.fff")
    hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    if minutes >= 60 or not 0 <= seconds < 60 or hours < 0:
        raise ValueError(f"timestamp {stamp!r} is not HH:MM:SS.fff")
    return 3600 * hours + 60 * minutes + seconds


def read_epic_annotations(path: str, task_num_classes: Sequence[int]) -> list[EpicSegment]:
    """Read an official EPIC-Kitchens-55 or -100 annotation csv.

    Args:
        path: the csv, with its header line.
        task_num_classes: ``(verbs, nouns)``; classes must lie in ``[0, n)``.

    Returns:
        The segments in file order.

    Raises:
        ValueError: a missing column, a line with another number of fields, a bad timestamp,
            frame or class, or stop before start; the message names the file and the line.
    """
    num_verbs, num_nouns = task_num_classes
    segments = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file, expected a header line")
        columns = {name.strip(): i for i, name in enumerate(header)}
        id_column = "narration_id" if "narration_id" in columns else "uid"
        missing = [c for c in (id_column, *REQUIRED) if c not in columns]
        if missing:
            raise ValueError(f"{path}:1: header lacks columns {missing}; got {header}")
        for row in reader:
            if not row:
                continue
            lineno = reader.line_num  # counts physical lines, so quoted newlines stay right
            if len(row) != len(header):
                raise ValueError(
                    f"{path}:{lineno}: expected {len(header)} fields, got {len(row)}: {row}"
                )
            try:
                field = {c: row[columns[c]] for c in (id_column, *REQUIRED)}
                seg = EpicSegment(
                    narration_id=field[id_column],
                    participant_id=field["participant_id"],
                    video_id=field["video_id"],
                    start_sec=timestamp_seconds(field["start_timestamp"]),
                    stop_sec=timestamp_seconds(field["stop_timestamp"]),
                    start_frame=int(field["start_frame"]),
                    stop_frame=int(field["stop_frame"]),
                    verb_class=int(field["verb_class"]),
                    noun_class=int(field["noun_class"]),
                )
                if seg.stop_sec < seg.start_sec or seg.stop_frame < seg.start_frame:
                    raise ValueError("the segment stops before it starts")
                if not 0 <= seg.verb_class < num_verbs:
                    raise ValueError(f"verb_class {seg.verb_class} outside [0, {num_verbs})")
                if not 0 <= seg.noun_class < num_nouns:
                    raise ValueError(f"noun_class {seg.noun_class} outside [0, {num_nouns})")
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: {err}") from None
            segments.append(seg)
    if not segments:
        raise ValueError(f"{path}: no segments listed")
    return segments


def segment_clip_indices(
    clip: ClipSpec,
    fps: float,
    start: int,
    stop: int,
    temporal_idx: int,
    num_views: int,
    rng: random.Random,
    offset: bool = True,
) -> list[int]:
    """Frame indices of a clip inside the segment ``[start, stop]`` (inclusive).

    Args:
        clip: frames, stride (at ``clip.target_fps``).
        fps: the rate of the frames ``start`` and ``stop`` count.
        start: first frame of the segment.
        stop: last frame of the segment.
        temporal_idx: -1 for a random clip, else the view in ``[0, num_views)``.
        num_views: evenly spaced views of a segment in testing.
        offset: where the views start (DATA.USE_OFFSET_SAMPLING, see ``clip_start``).
        rng: randomness of the training clip.

    Returns:
        ``clip.num_frames`` indices in ``[start, stop]``.
    """
    length = stop - start + 1
    if temporal_idx == -1:
        relative = random_clip_indices(clip, fps, length, rng)
    else:
        relative = uniform_clip_indices(clip, fps, length, temporal_idx, num_views, offset)
    return [start + i for i in relative]


def _frame_rates(segments: Sequence[EpicSegment]) -> dict[str, float]:
    """Per video, the rate its frame numbers count, from its latest segment (whose long
    time span makes the ratio precise); 60 fps if no segment has a positive stop time."""
    latest: dict[str, EpicSegment] = {}
    for seg in segments:
        if seg.video_id not in latest or seg.stop_sec > latest[seg.video_id].stop_sec:
            latest[seg.video_id] = seg
    return {v: s.stop_frame / s.stop_sec if s.stop_sec > 0 else 60.0 for v, s in latest.items()}


@DATASETS.register()
class EpicKitchens(ClipDataset):
    """EPIC-Kitchens action segments with ``[verb, noun]`` labels.

    Args:
        annotation_file: the split's official csv.
        data_dir: root holding ``{participant}/videos`` or ``{participant}/rgb_frames``.
        video_format: "mp4" (the videos) or "frames" (the rgb_frames folders).
        task_num_classes: ``(verbs, nouns)``, (97, 300) for EPIC-100, (125, 352) for EPIC-55.
        ensemble_method: "sum" or "max" pooling of view scores in evaluation.
        **kwargs: the other arguments of :class:`ClipDataset`, all but ``paths`` and
            ``labels``.
    """

    frame_folders_supported = False  # its frames are in its own rgb_frames layout
    stacks_views = False  # a test item is one view of a segment, as PySlowFast's

    def __init__(
        self,
        *,
        annotation_file: str,
        data_dir: str = "",
        video_format: str = "mp4",
        task_num_classes: Sequence[int] = (97, 300),
        ensemble_method: str = "sum",
        **kwargs: Any,
    ):
        if video_format not in ("mp4", "frames"):
            raise ValueError(f"video_format must be mp4 or frames, got {video_format!r}")
        if len(task_num_classes) != 2:
            raise ValueError(f"EPIC-Kitchens has 2 tasks (verb, noun), got {task_num_classes}")
        self.annotation_file = annotation_file
        self.video_format = video_format
        self.task_num_classes = tuple(task_num_classes)
        self.segments = read_epic_annotations(annotation_file, task_num_classes)
        self.frame_fps = _frame_rates(self.segments)
        if video_format == "mp4":
            paths = [
                os.path.join(data_dir, s.participant_id, "videos", f"{s.video_id}.MP4")
                for s in self.segments
            ]
        else:
            paths = [
                os.path.join(data_dir, s.participant_id, "rgb_frames", s.video_id)
                for s in self.segments
            ]
        labels = [torch.tensor([s.verb_class, s.noun_class]) for s in self.segments]
        super().__init__(paths=paths, labels=labels, ensemble_method=ensemble_method, **kwargs)

    @classmethod
    def frame_folders_from_config(cls, cfg) -> FrameFolders | None:
        return None  # DATA.VIDEO_FORMAT "frames" reads EPIC's own rgb_frames layout

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments: EPICKITCHENS.{TRAIN,VAL,TEST}_LIST in DATA.PATH_TO_DATA_DIR,
        videos (or with DATA.VIDEO_FORMAT frames the rgb_frames) under DATA.PATH_PREFIX,
        MODEL.TASK_NUM_CLASSES."""
        kwargs = super().from_config(cfg, split)
        e = cfg.EPICKITCHENS
        name = {"train": e.TRAIN_LIST, "val": e.VAL_LIST, "test": e.TEST_LIST}[split]
        return {
            "annotation_file": os.path.join(cfg.DATA.PATH_TO_DATA_DIR, name),
            "data_dir": cfg.DATA.PATH_PREFIX,
            "video_format": "frames" if cfg.DATA.VIDEO_FORMAT == "frames" else "mp4",
            "task_num_classes": list(cfg.MODEL.TASK_NUM_CLASSES),
            "ensemble_method": cfg.TEST.ENSEMBLE_METHOD,
            **kwargs,
        }

    def video_at(self, video_index: int) -> Video:
        """Segment ``video_index`` as a video of its own frames (frame 0 = its first), so the
        clip datasets' sampling keeps its clips inside it.

        With mp4 files the segment is located by its timestamps at the file's frame rate (so
        re-encoded videos still line up); with frames by ``start_frame`` / ``stop_frame``, at
        the rate estimated for the video (no image is read until the clip's frames are asked).

        Raises:
            DecodeError: the video cannot be opened.
        """
        seg = self.segments[video_index]
        if self.video_format == "frames":
            files = [
                os.path.join(self.paths[video_index], f"frame_{n:010d}.jpg")
                for n in range(seg.start_frame, seg.stop_frame + 1)
            ]
            return FrameListVideo(files, self.frame_fps[seg.video_id])
        video = open_video(self.paths[video_index], self.decoding_backend)
        stop = min(round(seg.stop_sec * video.fps), max(video.num_frames - 1, 0))
        return VideoSegment(video, min(round(seg.start_sec * video.fps), stop), stop)

    def train_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """None besides the loss (the labels are ``(B, 2)`` verb, noun)."""
        return {}

    def make_evaluator(self, output_dir: str, tag: str) -> MultiTaskEvaluator:
        """Verb, noun and action top-1/top-5 over this split's segments."""
        return MultiTaskEvaluator(
            self.num_videos, self.task_num_classes, TASK_NAMES, self.ensemble_method
        )
