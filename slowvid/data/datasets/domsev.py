"""DoMSEV, the Dataset of Multimodal Semi-Egocentric Videos (Silva et al., "A Weighted Sparse
Sampling and Smoothing Frame Transition Approach for Semantic Fast-Forward First-Person
Videos", CVPR 2018): about 80 hours of first-person video whose time is cut into segments, each
labelled with the wearer's environment, activity and attention.

Read in the layout of PyTorchVideo 0.1.5 (``pytorchvideo/data/domsev.py``), three csv files with
a header line, in DATA.PATH_TO_DATA_DIR::

    video_info.csv            video_id,resolution,duration,fps
    video_data_manifest.csv   video_id,file_path                                  (encoded videos)
                          or  video_id,location,frame_file_stem,frame_string_length,
                              min_frame_number,max_frame_number,file_extension    (frame files)
    {LABEL_TYPE}_labels.csv   video_id,start_time,stop_time,start_frame,stop_frame,
                              label_id,label_name

The manifest's header says how the videos are stored. Frame ``n`` of a frame-file video is
``{location}/{stem}{n zero-padded so that stem + digits have frame_string_length
characters}.{file_extension}``, numbered from ``min_frame_number`` to ``max_frame_number``.
``file_path`` and ``location`` are joined to DATA.PATH_PREFIX. There is one labels file per
label family (DOMSEV.LABEL_TYPE: environment, activity or attention), each row a segment of one
video; times are seconds, frames are frame-file numbers (inclusive).

PyTorchVideo ships no splits; here they are files of video ids, one a line,
``{split}.txt`` (train.txt, val.txt, test.txt) in DATA.PATH_TO_DATA_DIR, so that the segments of
one video never fall in two splits.

Two datasets, as PyTorchVideo's ``DomsevVideoDataset`` and ``DomsevFrameDataset``:

- :class:`DoMSEV`, clips: each labelled segment of a split video is one item (one "video" of
  :class:`ClipDataset`); training draws a random clip inside it, testing
  TEST.NUM_ENSEMBLE_VIEWS evenly spaced ones; the clip's label is the segment's.
- :class:`DoMSEVFrames`, single frames: every frame of a frame-file video that a segment covers
  is one item, a one-frame clip (DATA.NUM_FRAMES 1) labelled with that segment.

Which frames a segment holds, and so what a clip at a boundary or in a gap gets:

- clips (times): the segment ``[start_time, stop_time]`` covers the frames
  ``floor(start_time * fps)`` up to, not including, ``floor(stop_time * fps)`` (PyTorchVideo's
  ``_seconds_to_frame_index`` on both ends, and its count of one label per overlapping frame).
  A clip never leaves the segment it is drawn from: where the segment is shorter than the clip
  the clip repeats its last frame, so no frame of a gap or of a neighbouring segment is shown
  under this segment's label. Where two segments overlap at their edges, the shared frames may
  appear in clips of both, each time with the label of the segment the clip is drawn from:
  PyTorchVideo too credits such a frame to every segment that covers it.
- frames (numbers): frame ``n`` belongs to the segment with ``start_frame <= n <=
  stop_frame``; where two rows cover it the later row in the file wins (PyTorchVideo assigns
  labels in file order, each overwriting the last). Frames that no segment covers (the gaps)
  are not items; PyTorchVideo lists them and fails with a KeyError when one is drawn.
"""

from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass
from typing import Any

from slowvid.data.decoding import DecodeError, Video
from slowvid.data.frames import FrameListVideo
from slowvid.data.video_segment import VideoSegment
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset
from .csv_table import parse_rows

__all__ = [
    "LABEL_NAMES",
    "DoMSEV",
    "DoMSEVFrames",
    "DomsevFiles",
    "DomsevSegment",
    "EncodedVideoEntry",
    "FrameVideoEntry",
    "VideoInfo",
    "frame_labels",
    "read_domsev_labels",
    "read_video_ids",
    "read_video_info",
    "read_video_manifest",
    "segment_frame_range",
]

logger = logging.getLogger(__name__)

# DoMSEV's label names by id, per family (id 0 is "none" in every family).
LABEL_NAMES = {
    "environment": ("none", "indoor", "nature", "crowded_environment", "urban"),
    "activity": (
        "none",
        "walking",
        "running",
        "standing",
        "biking",
        "driving",
        "playing",
        "cooking",
        "eating",
        "observing",
        "in_conversation",
        "browsing",
        "shopping",
    ),
    "attention": ("none", "paying_attention", "interacting"),
}
INFO_COLUMNS = ("video_id", "resolution", "duration", "fps")
ENCODED_COLUMNS = ("video_id", "file_path")
FRAME_COLUMNS = (
    "video_id",
    "location",
    "frame_file_stem",
    "frame_string_length",
    "min_frame_number",
    "max_frame_number",
    "file_extension",
)
LABEL_COLUMNS = (
    "video_id",
    "start_time",
    "stop_time",
    "start_frame",
    "stop_frame",
    "label_id",
    "label_name",
)
# Times on exact frame boundaries (2.3 s * 30 fps = 68.99999...) must not floor one frame short.
_EPS = 1e-6


@dataclass(frozen=True)
class VideoInfo:
    video_id: str
    resolution: str
    duration: float
    fps: float


@dataclass(frozen=True)
class EncodedVideoEntry:
    """A video stored as one encoded file."""

    video_id: str
    file_path: str


@dataclass(frozen=True)
class FrameVideoEntry:
    """A video stored as numbered frame files."""

    video_id: str
    location: str
    frame_file_stem: str
    frame_string_length: int
    min_frame_number: int
    max_frame_number: int
    file_extension: str

    def frame_path(self, number: int, prefix: str = "") -> str:
        """The file of frame ``number``."""
        digits = str(number).zfill(self.frame_string_length - len(self.frame_file_stem))
        name = f"{self.frame_file_stem}{digits}.{self.file_extension}"
        return os.path.join(prefix, self.location, name)

    @property
    def num_frames(self) -> int:
        return self.max_frame_number - self.min_frame_number + 1


@dataclass(frozen=True)
class DomsevSegment:
    """One labelled segment (times in seconds, frame-file numbers inclusive)."""

    video_id: str
    start_time: float
    stop_time: float
    start_frame: int
    stop_frame: int
    label_id: int
    label_name: str


def read_video_info(path: str) -> dict[str, VideoInfo]:
    """``video_info.csv`` by video id.

    Raises:
        ValueError: a missing column, a bad number, a non-positive fps or a video listed twice;
            the message names the file and line.
    """
    infos: dict[str, VideoInfo] = {}

    def parse(row: dict[str, str]) -> VideoInfo:
        info = VideoInfo(
            row["video_id"], row["resolution"], float(row["duration"]), float(row["fps"])
        )
        if info.fps <= 0:
            raise ValueError(f"fps {info.fps} of {info.video_id!r} must be positive")
        if info.video_id in infos:
            raise ValueError(f"video {info.video_id!r} listed twice")
        infos[info.video_id] = info
        return info

    parse_rows(path, INFO_COLUMNS, parse)
    return infos


def read_video_manifest(path: str) -> dict[str, EncodedVideoEntry | FrameVideoEntry]:
    """The video data manifest by video id; its header picks encoded files or frame files.

    Raises:
        ValueError: a header with neither column set, a bad number, a video listed twice.
    """
    with open(path, encoding="utf-8") as f:
        header = {name.strip() for name in f.readline().strip().split(",")}
    if set(FRAME_COLUMNS) <= header:
        columns, kind = FRAME_COLUMNS, FrameVideoEntry
    elif set(ENCODED_COLUMNS) <= header:
        columns, kind = ENCODED_COLUMNS, EncodedVideoEntry
    else:
        raise ValueError(
            f"{path}:1: header {sorted(header)} is neither an encoded-video manifest "
            f"{list(ENCODED_COLUMNS)} nor a frame manifest {list(FRAME_COLUMNS)}"
        )
    entries: dict[str, EncodedVideoEntry | FrameVideoEntry] = {}

    def parse(row: dict[str, str]):
        values = {c: row[c] for c in columns}
        if kind is FrameVideoEntry:
            for c in ("frame_string_length", "min_frame_number", "max_frame_number"):
                values[c] = int(values[c])
            if values["max_frame_number"] < values["min_frame_number"]:
                raise ValueError("max_frame_number is below min_frame_number")
        entry = kind(**values)
        if entry.video_id in entries:
            raise ValueError(f"video {entry.video_id!r} listed twice")
        entries[entry.video_id] = entry
        return entry

    parse_rows(path, columns, parse)
    return entries


def read_domsev_labels(path: str, num_classes: int) -> list[DomsevSegment]:
    """A labels file's segments, in file order.

    Raises:
        ValueError: a missing column, a bad number, ``label_id`` outside ``[0, num_classes)``,
            a segment that stops before it starts; the message names the file and line.
    """

    def parse(row: dict[str, str]) -> DomsevSegment:
        seg = DomsevSegment(
            video_id=row["video_id"],
            start_time=float(row["start_time"]),
            stop_time=float(row["stop_time"]),
            start_frame=int(row["start_frame"]),
            stop_frame=int(row["stop_frame"]),
            label_id=int(row["label_id"]),
            label_name=row["label_name"],
        )
        if seg.stop_time < seg.start_time or seg.stop_frame < seg.start_frame:
            raise ValueError("the segment stops before it starts")
        if not 0 <= seg.label_id < num_classes:
            raise ValueError(f"label_id {seg.label_id} outside [0, {num_classes})")
        return seg

    return parse_rows(path, LABEL_COLUMNS, parse)


def read_video_ids(path: str) -> list[str]:
    """A split file: one video id a line (blank lines skipped).

    Raises:
        ValueError: an id listed twice, or no id; the message names the file (and line).
    """
    ids: list[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            video_id = line.strip()
            if not video_id:
                continue
            if video_id in ids:
                raise ValueError(f"{path}:{lineno}: video {video_id!r} listed twice")
            ids.append(video_id)
    if not ids:
        raise ValueError(f"{path}: no video ids listed")
    return ids


def segment_frame_range(seg: DomsevSegment, fps: float) -> tuple[int, int]:
    """``(first, last)`` video frame indices (0-based, inclusive) of a segment, by its times:
    ``floor(start_time * fps)`` to ``floor(stop_time * fps) - 1`` (at least one frame)."""
    first = math.floor(seg.start_time * fps + _EPS)
    end = math.floor(seg.stop_time * fps + _EPS)
    return first, max(end - 1, first)


def frame_labels(segments: list[DomsevSegment], first: int, last: int) -> dict[int, int]:
    """Frame number -> label of the frames ``first..last`` that a segment covers; a frame two
    segments cover takes the later one's label (the rule of PyTorchVideo's frame dataset)."""
    labels: dict[int, int] = {}
    for seg in segments:
        for n in range(max(seg.start_frame, first), min(seg.stop_frame, last) + 1):
            labels[n] = seg.label_id
    return labels


@dataclass(frozen=True)
class DomsevFiles:
    """The files of one split (see the module docstring for the layout)."""

    video_info_file: str
    manifest_file: str
    labels_file: str
    split_file: str

    @classmethod
    def in_directory(cls, data_dir: str, label_type: str, split: str) -> DomsevFiles:
        return cls(
            video_info_file=os.path.join(data_dir, "video_info.csv"),
            manifest_file=os.path.join(data_dir, "video_data_manifest.csv"),
            labels_file=os.path.join(data_dir, f"{label_type}_labels.csv"),
            split_file=os.path.join(data_dir, f"{split}.txt"),
        )


@dataclass
class _SplitData:
    video_ids: list[str]
    infos: dict[str, VideoInfo]
    entries: dict[str, EncodedVideoEntry | FrameVideoEntry]
    segments: dict[str, list[DomsevSegment]]  # per video, file order


def _read_split(files: DomsevFiles, num_classes: int) -> _SplitData:
    """Everything one split needs; every split video must be in the info and manifest files.

    Raises:
        ValueError: split videos missing from either file (all named at once).
    """
    video_ids = read_video_ids(files.split_file)
    infos = read_video_info(files.video_info_file)
    entries = read_video_manifest(files.manifest_file)
    problems = [f"{v!r} is not in {files.video_info_file}" for v in video_ids if v not in infos]
    problems += [f"{v!r} is not in {files.manifest_file}" for v in video_ids if v not in entries]
    if problems:
        raise ValueError(f"{files.split_file}: " + "; ".join(problems))
    wanted = set(video_ids)
    segments: dict[str, list[DomsevSegment]] = {v: [] for v in video_ids}
    for seg in read_domsev_labels(files.labels_file, num_classes):
        if seg.video_id in wanted:
            segments[seg.video_id].append(seg)
    unlabelled = [v for v in video_ids if not segments[v]]
    if unlabelled:
        logger.warning(
            "%s: no segment in %s for %s", files.split_file, files.labels_file, unlabelled
        )
    for v in video_ids:
        entry, info = entries[v], infos[v]
        # PyTorchVideo drops such videos; a warning keeps them and says which.
        if (
            isinstance(entry, FrameVideoEntry)
            and abs(entry.num_frames - info.duration * info.fps) > info.fps
        ):
            logger.warning(
                "%s: %d frame files, but duration x fps is %.0f",
                v,
                entry.num_frames,
                info.duration * info.fps,
            )
    return _SplitData(video_ids, infos, entries, segments)


def _domsev_config(cfg, split: str) -> dict[str, Any]:
    label_type = cfg.DOMSEV.LABEL_TYPE
    num_classes = len(LABEL_NAMES[label_type])
    if cfg.MODEL.NUM_CLASSES != num_classes:
        raise ValueError(
            f"config MODEL.NUM_CLASSES: {cfg.MODEL.NUM_CLASSES}, but DOMSEV.LABEL_TYPE "
            f"{label_type!r} has {num_classes} classes"
        )
    return {
        "files": DomsevFiles.in_directory(cfg.DATA.PATH_TO_DATA_DIR, label_type, split),
        "label_type": label_type,
        "path_prefix": cfg.DATA.PATH_PREFIX,
    }


def _check_label_type(label_type: str) -> tuple[str, ...]:
    if label_type not in LABEL_NAMES:
        raise ValueError(f"label_type must be one of {list(LABEL_NAMES)}, got {label_type!r}")
    return LABEL_NAMES[label_type]


@DATASETS.register()
class DoMSEV(ClipDataset):
    """DoMSEV clips: one item per labelled segment, clips inside it, the segment's label.

    Args:
        files: the split's csv and split files.
        label_type: "environment", "activity" or "attention".
        path_prefix: joined to the manifest's ``file_path`` / ``location``.
        **kwargs: the other arguments of :class:`ClipDataset`, all but ``paths`` and
            ``labels``.
    """

    frame_folders_supported = False  # the manifest says how each video is stored

    def __init__(self, *, files: DomsevFiles, label_type: str, path_prefix: str = "", **kwargs):
        self.class_names = list(_check_label_type(label_type))
        data = _read_split(files, len(self.class_names))
        self.files = files
        self.path_prefix = path_prefix
        self.infos = data.infos
        self.entries = data.entries
        self.segments = [seg for v in data.video_ids for seg in data.segments[v]]
        paths = [self._location(self.entries[seg.video_id]) for seg in self.segments]
        labels = [seg.label_id for seg in self.segments]
        super().__init__(paths=paths, labels=labels, **kwargs)

    def _location(self, entry: EncodedVideoEntry | FrameVideoEntry) -> str:
        if isinstance(entry, EncodedVideoEntry):
            return os.path.join(self.path_prefix, entry.file_path)
        return os.path.join(self.path_prefix, entry.location)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Files in DATA.PATH_TO_DATA_DIR, labels of DOMSEV.LABEL_TYPE (MODEL.NUM_CLASSES must
        be that family's class count), videos under DATA.PATH_PREFIX."""
        return {**_domsev_config(cfg, split), **super().from_config(cfg, split)}

    def video_at(self, video_index: int) -> Video:
        """The segment's frames (:func:`segment_frame_range`) as a video of their own, so clips
        are drawn inside the segment: a stretch of the encoded file, or the segment's frame
        files at video_info's fps (only those are listed, however long the video)."""
        seg = self.segments[video_index]
        entry = self.entries[seg.video_id]
        if isinstance(entry, EncodedVideoEntry):
            video = super().video_at(video_index)
            return VideoSegment(video, *segment_frame_range(seg, video.fps))
        fps = self.infos[seg.video_id].fps
        first, last = segment_frame_range(seg, fps)
        if first >= entry.num_frames:
            raise DecodeError(
                self.paths[video_index],
                f"segment at {seg.start_time} s starts after its {entry.num_frames} frames",
            )
        last = min(last, entry.num_frames - 1)  # a segment running past the end is cut there
        numbers = range(entry.min_frame_number + first, entry.min_frame_number + last + 1)
        paths = [entry.frame_path(n, self.path_prefix) for n in numbers]
        return FrameListVideo(paths, fps)


@DATASETS.register()
class DoMSEVFrames(ClipDataset):
    """DoMSEV single frames of frame-file videos: one item per frame a segment covers, a
    one-frame clip (DATA.NUM_FRAMES 1, one pathway) labelled by :func:`frame_labels`.

    Args:
        files: the split's csv and split files (the manifest must list frame files).
        label_type: "environment", "activity" or "attention".
        path_prefix: joined to the manifest's ``location``.
        **kwargs: the other arguments of :class:`ClipDataset`, all but ``paths`` and
            ``labels``.

    Raises:
        ValueError: a clip of more than one frame, or split videos stored as encoded files.
    """

    frame_folders_supported = False

    def __init__(self, *, files: DomsevFiles, label_type: str, path_prefix: str = "", **kwargs):
        self.class_names = list(_check_label_type(label_type))
        clip = kwargs["clip"]
        if clip.num_frames != 1:
            raise ValueError(f"DoMSEVFrames items are single frames: clip of {clip.num_frames}")
        data = _read_split(files, len(self.class_names))
        encoded = [v for v in data.video_ids if isinstance(data.entries[v], EncodedVideoEntry)]
        if encoded:
            raise ValueError(
                f"{files.manifest_file}: DoMSEVFrames reads frame files, but {encoded} are "
                "encoded videos (use DoMSEV for clips of encoded videos)"
            )
        self.files = files
        self.fps: list[float] = []
        self.frames: list[tuple[str, int]] = []  # (video id, frame number) of each item
        paths, labels = [], []
        for v in data.video_ids:
            entry = data.entries[v]
            by_frame = frame_labels(
                data.segments[v], entry.min_frame_number, entry.max_frame_number
            )
            for number in sorted(by_frame):
                self.frames.append((v, number))
                self.fps.append(data.infos[v].fps)
                paths.append(entry.frame_path(number, path_prefix))
                labels.append(by_frame[number])
        super().__init__(paths=paths, labels=labels, **kwargs)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """As :meth:`DoMSEV.from_config`; DATA.NUM_FRAMES must be 1."""
        if cfg.DATA.NUM_FRAMES != 1:
            raise ValueError(
                f"config DATA.NUM_FRAMES: {cfg.DATA.NUM_FRAMES}; DoMSEVFrames items are single "
                "frames, set it to 1"
            )
        return {**_domsev_config(cfg, split), **super().from_config(cfg, split)}

    def video_at(self, video_index: int) -> Video:
        """The item's frame file as a one-frame video."""
        return FrameListVideo([self.paths[video_index]], self.fps[video_index])

    def frame_indices(self, video: Video, temporal_idx: int, rng: random.Random) -> list[int]:
        return [0]
