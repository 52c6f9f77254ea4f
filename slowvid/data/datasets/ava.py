"""AVA v2.2 spatio-temporal action detection ("AVA: A Video Dataset of Spatio-temporally
Localized Atomic Visual Actions", Gu et al., arXiv:1705.08421), in PySlowFast's data layout.

Files (names are config keys; see ``AVA.*`` in ``slowvid/config/defaults.py``)::

    FRAME_DIR/{video_id}/{video_id}_000001.jpg ...   frames extracted at DATA.FRAME_FPS (30)
    FRAME_LIST_DIR/train.csv, val.csv     header, then "original_vido_id video_idx frame_id path
                                          labels" (space separated; path relative to FRAME_DIR)
    ANNOTATION_DIR/ava_train_v2.2.csv     video_id,second,x1,y1,x2,y2,action_id,person_id
                  ava_*_predicted_boxes.csv  video_id,second,x1,y1,x2,y2,action_id (may be
                                          empty),score; boxes under DETECTION_SCORE_THRESH dropped

Coordinates are normalised to [0, 1]. Frame 1 of a list is at movie second
``AVA.FIRST_FRAME_SECOND`` (900), so keyframe second ``s`` is frame index ``(s - 900) * fps``;
keyframes are every second in ``AVA.KEYFRAME_SECONDS`` (902..1798), and a clip is centred on
its keyframe. One item is one keyframe with all its boxes; each box has a multi-hot target over
``MODEL.NUM_CLASSES`` (AVA action ids are 1-based; id ``k`` is column ``k - 1``).
"""

from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass
from typing import Any

import torch

from slowvid.data.box_transforms import DetectionTransform
from slowvid.data.frames import FrameListVideo, read_frame_list
from slowvid.data.sampling import ClipSpec, clip_stride
from slowvid.data.transforms import spatial_args, split_pathways
from slowvid.evaluation.ava import AvaEvaluator
from slowvid.models import input_spec_of
from slowvid.models.base import InputSpec
from slowvid.registry import DATASETS

from .base import VideoDataset

__all__ = ["Ava", "AvaSource", "collate_detection", "read_box_lists", "read_frame_lists"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AvaSource:
    """Where one split's frames and boxes are, and how seconds map to frames.

    Attributes:
        frame_dir: root of the frame folders.
        frame_lists: frame-list files.
        gt_box_lists: groundtruth box files (no score column).
        predicted_box_lists: detected-person box files (score in the 8th column).
        detection_score_thresh: detected boxes scoring below it are dropped.
        keyframe_seconds: first and last keyframe second, inclusive.
        first_frame_second: movie second of each list's first frame.
        fps: frame rate of the extracted frames.
    """

    frame_dir: str
    frame_lists: tuple[str, ...]
    gt_box_lists: tuple[str, ...] = ()
    predicted_box_lists: tuple[str, ...] = ()
    detection_score_thresh: float = 0.9
    keyframe_seconds: tuple[int, int] = (902, 1798)
    first_frame_second: int = 900
    fps: int = 30


@dataclass(frozen=True)
class AvaEvalFiles:
    """Groundtruth, label map and exclusions the detections of a split are scored against."""

    groundtruth: str
    labelmap: str
    exclusions: str = ""


def read_frame_lists(paths: list[str], frame_dir: str) -> tuple[list[str], list[list[str]]]:
    """Video ids and, per video, its frame files in list order, over all ``paths``
    (:func:`~slowvid.data.frames.read_frame_list`, labels column unread).

    Raises:
        ValueError: a line has not 5 fields; the message names the file and line.
    """
    frames: dict[str, list[str]] = {}
    for path in paths:
        for name, video in read_frame_list(path, frame_dir).items():
            frames.setdefault(name, []).extend(video.frames)
    if not frames:
        raise ValueError(f"no frames listed in {paths}")
    return list(frames), list(frames.values())


def read_box_lists(
    source: AvaSource,
) -> dict[tuple[str, int], list[tuple[list[float], list[int]]]]:
    """Boxes and their action ids per ``(video_id, second)``, merged over all box files.

    Rows with the same box at the same keyframe are one box with several labels; a row
    without a label (empty or -1 action id) adds a box with no positive label.

    Raises:
        ValueError: a malformed row; the message names the file and line.
    """
    boxes: dict[tuple[str, int], dict[str, tuple[list[float], list[int]]]] = {}
    lists = [(p, False) for p in source.gt_box_lists] + [
        (p, True) for p in source.predicted_box_lists
    ]
    first, last = source.keyframe_seconds
    for path, scored in lists:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                row = line.strip().split(",")
                if row == [""]:
                    continue
                if len(row) != 8 and not (len(row) == 7 and not scored):
                    raise ValueError(
                        f"{path}:{lineno}: expected 8 comma-separated columns "
                        f"'video_id,second,x1,y1,x2,y2,action_id,"
                        f"{'score' if scored else 'person_id'}', got {len(row)}: {line.strip()!r}"
                    )
                try:
                    sec = int(float(row[1]))
                    box = [float(v) for v in row[2:6]]
                    label = int(row[6]) if row[6].strip() else -1
                    score = float(row[7]) if scored else 1.0
                except ValueError as err:
                    raise ValueError(f"{path}:{lineno}: {err} in {line.strip()!r}") from None
                if not all(0.0 <= v <= 1.0 for v in box) or box[0] > box[2] or box[1] > box[3]:
                    raise ValueError(
                        f"{path}:{lineno}: box {box} is not x1<=x2, y1<=y2 inside [0, 1]"
                    )
                if score < source.detection_score_thresh or not first <= sec <= last:
                    continue
                entry = boxes.setdefault((row[0], sec), {}).setdefault(
                    ",".join(row[2:6]), (box, [])
                )
                if label != -1:
                    entry[1].append(label)
    return {key: list(by_box.values()) for key, by_box in boxes.items()}


def collate_detection(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch keyframes: clips stacked, boxes of all keyframes concatenated.

    Returns:
        ``{"inputs": per pathway (B, C, T, H, W) or None, "extra_inputs": [boxes (K, 5)
        [batch_index, x1, y1, x2, y2]], "label": (K, classes) float, "ori_boxes": (K, 4)
        normalised, "metadata": (K, 2) [video_index, second], "video_index": (B,),
        "failed": list[str]}``.
    """
    failed = [path for item in items for path in item["failed"]]
    good = [item for item in items if item["inputs"] is not None]
    if not good:
        return {
            "inputs": None,
            "extra_inputs": [],
            "label": torch.zeros(0),
            "video_index": torch.zeros(0),
            "failed": failed,
        }
    boxes = [
        torch.cat([torch.full((len(item["boxes"]), 1), float(b)), item["boxes"]], dim=1)
        for b, item in enumerate(good)
    ]
    return {
        "inputs": [torch.stack(p) for p in zip(*(item["inputs"] for item in good))],
        "extra_inputs": [torch.cat(boxes)],
        "label": torch.cat([item["label"] for item in good]),
        "ori_boxes": torch.cat([item["ori_boxes"] for item in good]),
        "metadata": torch.cat([item["metadata"] for item in good]),
        "video_index": torch.tensor([item["video_index"] for item in good]),
        "failed": failed,
    }


@DATASETS.register()
class Ava(VideoDataset):
    """AVA keyframes with their person boxes and multi-label action targets.

    A keyframe whose frames cannot be read is logged and listed in ``"failed"`` (the frame
    file); in training another keyframe is drawn instead (up to ``num_retries`` times), in
    evaluation the item comes back with ``"inputs": None`` (see :class:`VideoDataset`). Batches
    carry the boxes in ``batch["extra_inputs"]`` (:func:`collate_detection`), for a model whose
    input spec takes ``boxes``.

    Args:
        source: files and timing of this split.
        training: random scale/crop/flip (True) or resize + centre crop (False).
        clip: frames per clip, stride and the frame rate the stride counts at.
        transform: spatial pipeline for clip and boxes.
        num_classes: width of the multi-hot targets.
        input_spec: what the model takes (its pathways; it must take the boxes); None is one
            pathway and the boxes.
        num_retries: replacement keyframes tried after a failure in training.
        eval_files: what evaluation scores the detections against (None: no evaluator).
    """

    extra_args = ("boxes",)

    def __init__(
        self,
        *,
        source: AvaSource,
        training: bool,
        clip: ClipSpec,
        transform: DetectionTransform,
        num_classes: int,
        input_spec: InputSpec | None = None,
        num_retries: int = 10,
        eval_files: AvaEvalFiles | None = None,
    ):
        input_spec = input_spec or InputSpec(extra_args=("boxes",))
        self.check_input_spec(input_spec)
        self.source = source
        self.training = training
        self.clip = clip
        self.transform = transform
        self.num_classes = num_classes
        self.input_spec = input_spec
        self.num_retries = num_retries
        self.eval_files = eval_files
        self.video_names, self.frame_paths = read_frame_lists(
            list(source.frame_lists), source.frame_dir
        )
        index = {name: i for i, name in enumerate(self.video_names)}
        boxes = read_box_lists(source)
        # (video index, second, boxes, labels), keyframes with at least one box, list order.
        self.keyframes = [
            (index[video], sec, entries)
            for (video, sec), entries in sorted(
                boxes.items(), key=lambda kv: (index.get(kv[0][0], -1), kv[0][1])
            )
            if video in index
        ]
        for label in (a for _, _, e in self.keyframes for _, labels in e for a in labels):
            if not 1 <= label <= num_classes:
                raise ValueError(f"action id {label} outside 1..MODEL.NUM_CLASSES={num_classes}")
        logger.info(
            "AVA %s: %d videos, %d keyframes, %d boxes",
            "train" if training else "eval",
            len(self.video_names),
            len(self.keyframes),
            sum(len(e) for _, _, e in self.keyframes),
        )

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Reads AVA.*, DATA.*, MODEL.NUM_CLASSES for ``split``, and the model's input spec."""
        a, d = cfg.AVA, cfg.DATA
        training = split == "train"
        if training and cfg.MIXUP.ENABLE:
            raise ValueError("MIXUP.ENABLE: Ava batches hold boxes, which mixup cannot blend")

        def ann(name: str) -> str:
            return os.path.join(a.ANNOTATION_DIR, name)

        source = AvaSource(
            frame_dir=a.FRAME_DIR,
            frame_lists=tuple(
                os.path.join(a.FRAME_LIST_DIR, f)
                for f in (a.TRAIN_LISTS if training else a.TEST_LISTS)
            ),
            gt_box_lists=tuple(ann(f) for f in a.TRAIN_GT_BOX_LISTS) if training else (),
            predicted_box_lists=tuple(
                ann(f)
                for f in (a.TRAIN_PREDICT_BOX_LISTS if training else a.TEST_PREDICT_BOX_LISTS)
            ),
            detection_score_thresh=a.DETECTION_SCORE_THRESH,
            keyframe_seconds=tuple(a.KEYFRAME_SECONDS),
            first_frame_second=a.FIRST_FRAME_SECOND,
            fps=d.FRAME_FPS,
        )
        transform = DetectionTransform(**spatial_args(cfg, training))
        eval_files = AvaEvalFiles(
            groundtruth=ann(a.GROUNDTRUTH_FILE),
            labelmap=ann(a.LABEL_MAP_FILE),
            exclusions=ann(a.EXCLUSION_FILE) if a.EXCLUSION_FILE else "",
        )
        return {
            "source": source,
            "training": training,
            "clip": ClipSpec(d.NUM_FRAMES, d.SAMPLING_RATE, float(d.TARGET_FPS)),
            "transform": transform,
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "input_spec": input_spec_of(cfg),
            "num_retries": d.NUM_RETRIES,
            "eval_files": None if training else eval_files,
        }

    @property
    def num_videos(self) -> int:
        return len(self.video_names)

    def __len__(self) -> int:
        return len(self.keyframes)

    def clip_indices(self, video_index: int, second: int) -> list[int]:
        """Frame indices of the clip centred on the keyframe, clamped to the video."""
        s = self.source
        center = (second - s.first_frame_second) * s.fps
        stride = clip_stride(self.clip, s.fps)
        start = center - self.clip.num_frames * stride / 2
        last = len(self.frame_paths[video_index]) - 1
        return [
            min(max(math.floor(start + i * stride + 1e-6), 0), last)
            for i in range(self.clip.num_frames)
        ]

    @property
    def collate_fn(self):
        """:func:`collate_detection`: clips stacked, boxes of all keyframes concatenated."""
        return collate_detection

    def load_item(
        self, index: int, rng: random.Random, crop_size: int | None = None
    ) -> dict[str, Any]:
        """One keyframe's clip, boxes and targets (raises DecodeError for unreadable frames)."""
        video_index, second, entries = self.keyframes[index]
        video = FrameListVideo(self.frame_paths[video_index], fps=self.source.fps)
        frames = video.get_frames(self.clip_indices(video_index, second))
        ori_boxes = torch.tensor([box for box, _ in entries], dtype=torch.float32)
        clip, boxes = self.transform(frames, ori_boxes, rng=rng)
        label = torch.zeros(len(entries), self.num_classes)
        for i, (_, actions) in enumerate(entries):
            label[i, [a - 1 for a in actions]] = 1.0
        return {
            "inputs": split_pathways(clip, self.input_spec.frame_strides),
            "boxes": boxes,
            "label": label,
            "ori_boxes": ori_boxes,
            "metadata": torch.tensor([[video_index, second]] * len(entries)),
            "video_index": video_index,
        }

    def failed_item(self, index: int) -> dict[str, Any]:
        return {"video_index": self.keyframes[index][0]}

    def make_evaluator(self, output_dir: str, tag: str) -> AvaEvaluator:
        """The evaluator of this split's detections; the csv goes to ``output_dir``."""
        if self.eval_files is None:
            raise ValueError("this AVA split has no groundtruth to evaluate against")
        return AvaEvaluator(
            video_names=self.video_names,
            groundtruth_file=self.eval_files.groundtruth,
            labelmap_file=self.eval_files.labelmap,
            exclusion_file=self.eval_files.exclusions,
            detections_file=os.path.join(output_dir, f"detections_{tag}.csv"),
        )
