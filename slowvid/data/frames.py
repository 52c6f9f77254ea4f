"""Videos stored as folders of extracted frames (AVA, Charades, SSv2 frames).

:class:`FrameListVideo` gives a list of image files the interface of
:class:`~slowvid.data.decoding.Video`: ``get_frames(indices)`` returns the same uint8
``(T, H, W, 3)`` RGB tensor the video decoders give, so sampling and transforms are shared.
A missing or unreadable frame raises :class:`~slowvid.data.decoding.DecodeError` naming the
file, which datasets treat like a video that fails to decode (logged, counted, replaced in
training).

:func:`read_frame_list` reads PySlowFast's frame lists (AVA, Charades, SSv2), one extracted
frame a line after an optional header::

    original_vido_id video_id frame_id path labels
    46GP8 0 0 46GP8/46GP8-000001.jpg ""
    46GP8 0 1 46GP8/46GP8-000002.jpg 147,149

space separated, ``path`` relative to the frame root and ``labels`` the comma-separated
classes active at that frame (``""`` for none). Frames are grouped by ``original_vido_id``;
``video_id`` and ``frame_id`` are not used (the file order is the frame order).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .decoding import DecodeError, Video

__all__ = ["FRAME_LIST_HEADER", "FrameListVideo", "ListedVideo", "read_frame", "read_frame_list"]

FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"


def read_frame(path: str) -> np.ndarray:
    """One image file as uint8 ``(H, W, 3)`` RGB.

    Raises:
        DecodeError: the file is missing or opencv cannot decode it.
    """
    import cv2

    if not os.path.isfile(path):
        raise DecodeError(path, "frame file not found")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DecodeError(path, "opencv cannot decode this image (corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class FrameListVideo(Video):
    """A video given as its frame files, in temporal order.

    Args:
        paths: one image file per frame.
        fps: the rate the frames were extracted at.
    """

    backend = "opencv"

    def __init__(self, paths: Sequence[str], fps: float = 30.0):
        if not paths:
            raise ValueError("a frame-list video needs at least one frame")
        self.paths = list(paths)
        self.path = os.path.dirname(self.paths[0]) or "."
        self.fps = float(fps)
        self.num_frames = len(self.paths)
        self.duration = self.num_frames / self.fps

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """Frames at ``indices`` (clamped to the last frame), uint8 ``(T, H, W, 3)`` RGB."""
        if len(indices) == 0:
            raise ValueError("no frame indices requested")
        wanted = [min(max(int(i), 0), self.num_frames - 1) for i in indices]
        # Each distinct file is read once, however often a short clip repeats it.
        frames = {i: read_frame(self.paths[i]) for i in sorted(set(wanted))}
        shapes = {f.shape for f in frames.values()}
        if len(shapes) > 1:
            raise DecodeError(self.path, f"frames differ in size: {sorted(shapes)}")
        return torch.from_numpy(np.stack([frames[i] for i in wanted]))

    def close(self) -> None:
        pass  # nothing is held open between calls


@dataclass
class ListedVideo:
    """One video of a frame list.

    Attributes:
        frames: its frame files in list order, each joined to the frame root.
        labels: the union of its frames' labels (empty when labels are not read).
    """

    frames: list[str] = field(default_factory=list)
    labels: set[int] = field(default_factory=set)


def read_frame_list(
    path: str, frame_dir: str = "", num_classes: int | None = None
) -> dict[str, ListedVideo]:
    """Read one frame list.

    A first line whose first field is ``original_vido_id`` is a header and skipped (AVA's
    lists name the second column ``video_idx``); blank lines are skipped.

    Args:
        path: the list, e.g. ``train.csv``.
        frame_dir: joined in front of every frame path.
        num_classes: read the labels column, each label an integer in
            ``[0, num_classes)``; None leaves the column unread (for sets whose labels come
            from other files, as AVA and SSv2).

    Returns:
        Video name (``original_vido_id``) to its frames and labels, videos in order of first
        appearance.

    Raises:
        ValueError: a line without 5 fields, a label that is not an integer in range, or no
            frames at all; the message names the file and, for a line, its 1-based number.
    """
    videos: dict[str, ListedVideo] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields or (lineno == 1 and fields[0] == "original_vido_id"):
                continue
            if len(fields) != 5:
                raise ValueError(
                    f"{path}:{lineno}: expected 5 fields ({FRAME_LIST_HEADER}), "
                    f"got {len(fields)}: {line.strip()!r}"
                )
            video = videos.setdefault(fields[0], ListedVideo())
            video.frames.append(os.path.join(frame_dir, fields[3]))
            if num_classes is None:
                continue
            for item in fields[4].strip('"').split(","):
                if not item:
                    continue
                if not item.isdigit() or int(item) >= num_classes:
                    raise ValueError(
                        f"{path}:{lineno}: label {item!r} is not a class in [0, {num_classes})"
                    )
                video.labels.add(int(item))
    if not videos:
        raise ValueError(f"{path}: no frames listed")
    return videos
