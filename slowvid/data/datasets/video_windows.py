"""Labelled time windows of long, untrimmed videos (Ego4D / EPIC-Kitchens style annotations),
so footage need not be cut into clips first.

One csv per split, ``{split}.csv`` in DATA.PATH_TO_DATA_DIR, with a header line::

    video,start_sec,end_sec,label
    kitchen/day1.mp4,12.5,15.0,2
    kitchen/day1.mp4,31.0,33.2,0

``video`` is joined to DATA.PATH_PREFIX (with DATA.VIDEO_FORMAT frames it names a frame
folder, as for every clip dataset). ``label`` is a class index, or a class name listed in a
``classnames.json`` beside the csv (a json list). Other columns are ignored.

Each window is one item: training draws a random clip inside it, testing TEST.NUM_ENSEMBLE_VIEWS
evenly spaced ones. The window holds the frames shown during ``[start_sec, end_sec)`` (frame
``i`` is shown from ``i / fps``); a window shorter than a clip repeats its last frame, so a clip
never shows footage outside its window. The decoder seeks to the window, so a clip costs its
own span plus at most one keyframe interval of decoding, wherever it lies in the video.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from slowvid.data.class_names import CLASS_NAMES_FILE, read_class_names
from slowvid.data.decoding import Video
from slowvid.data.video_segment import VideoSegment, frames_in_seconds
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset
from .csv_table import parse_rows

__all__ = ["LabelledWindow", "VideoWindows", "read_windows"]

COLUMNS = ("video", "start_sec", "end_sec", "label")


@dataclass(frozen=True)
class LabelledWindow:
    """One labelled window of a video, in seconds."""

    video: str
    start_sec: float
    end_sec: float
    label: int


def read_windows(
    path: str, num_classes: int, class_names: list[str] | None = None
) -> list[LabelledWindow]:
    """The windows of a ``video,start_sec,end_sec,label`` csv, in file order.

    Args:
        path: the csv.
        num_classes: labels must lie in ``[0, num_classes)``.
        class_names: names a ``label`` may give instead of an index.

    Raises:
        ValueError: a missing column, a bad time, ``end_sec <= start_sec``, an unknown or
            out-of-range label; the message names the file and line.
    """
    index = {name: i for i, name in enumerate(class_names or [])}

    def parse(row: dict[str, str]) -> LabelledWindow:
        start, end = float(row["start_sec"]), float(row["end_sec"])
        if start < 0 or end <= start:
            raise ValueError(f"window [{start}, {end}) is empty or starts before 0")
        text = row["label"]
        if text in index:
            label = index[text]
        elif text.lstrip("-").isdigit():
            label = int(text)
        else:
            known = f"the names in {CLASS_NAMES_FILE}" if index else f"no {CLASS_NAMES_FILE}"
            raise ValueError(f"label {text!r} is neither a class index nor a name ({known})")
        if not 0 <= label < num_classes:
            raise ValueError(f"label {label} outside [0, {num_classes})")
        if not row["video"]:
            raise ValueError("empty video path")
        return LabelledWindow(row["video"], start, end, label)

    windows = parse_rows(path, COLUMNS, parse)
    if not windows:
        raise ValueError(f"{path}: no windows listed")
    return windows


@DATASETS.register()
class VideoWindows(ClipDataset):
    """Clips inside labelled windows of long videos.

    Args:
        windows_file: the split's csv.
        num_classes: the number of classes (labels are checked against it).
        path_prefix: joined to every ``video``.
        **kwargs: the other arguments of :class:`ClipDataset`, all but ``paths`` and
            ``labels``.
    """

    def __init__(
        self, *, windows_file: str, num_classes: int, path_prefix: str = "", **kwargs: Any
    ):
        names_file = os.path.join(os.path.dirname(windows_file), CLASS_NAMES_FILE)
        if os.path.isfile(names_file):
            self.class_names = read_class_names(names_file)
        self.windows_file = windows_file
        self.windows = read_windows(windows_file, num_classes, self.class_names)
        paths = [os.path.join(path_prefix, w.video) for w in self.windows]
        labels = [w.label for w in self.windows]
        super().__init__(paths=paths, labels=labels, num_classes=num_classes, **kwargs)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """``DATA.PATH_TO_DATA_DIR/{split}.csv``, videos under DATA.PATH_PREFIX, labels in
        ``[0, MODEL.NUM_CLASSES)``."""
        return {
            "windows_file": os.path.join(cfg.DATA.PATH_TO_DATA_DIR, f"{split}.csv"),
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "path_prefix": cfg.DATA.PATH_PREFIX,
            **super().from_config(cfg, split),
        }

    def video_at(self, video_index: int) -> Video:
        """The window's frames of its video, as a video of their own."""
        video = super().video_at(video_index)
        window = self.windows[video_index]
        return VideoSegment(video, *frames_in_seconds(window.start_sec, window.end_sec, video.fps))
