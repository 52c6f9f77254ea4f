"""Videos stored as folders of extracted frames (AVA, Charades, SSv2 frames, and any clip
data set through :class:`FrameFolders`).

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

:class:`FrameFolders` reads the other common layout, one folder of numbered frames per video
(MMAction2's "rawframes", ``ffmpeg -i v.mp4 v/img_%05d.jpg``), which needs no list.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .decoding import DecodeError, Video

__all__ = [
    "FRAME_LIST_HEADER",
    "VIDEO_EXTENSIONS",
    "FrameFolders",
    "FrameListVideo",
    "ListedVideo",
    "read_frame",
    "read_frame_list",
]

FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"
# Stripped from a listed path to name its frame folder (compared without case: EPIC's .MP4).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")


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


def _number_pattern(template: str) -> re.Pattern:
    """A regex whose group 1 is the frame number of a file named by ``template``.

    Raises:
        ValueError: ``template`` is not a file name with exactly one ``{}`` field taking the
            frame number.
    """
    try:
        parts = list(string.Formatter().parse(template))
        names = {template.format(1), template.format(2)}
    except (ValueError, IndexError, KeyError) as err:
        raise ValueError(f"frame template {template!r} does not format a number: {err}") from None
    fields = [field_name for _, field_name, _, _ in parts if field_name is not None]
    if len(fields) != 1 or fields[0] not in ("", "0") or len(names) != 2:
        raise ValueError(f"frame template {template!r} needs exactly one '{{}}' field, the number")
    if "/" in template or os.sep in template:
        raise ValueError(f"frame template {template!r} must name a file, not a path")
    # Literal text before and after the field; escaped braces come back single, as in names.
    before, after, seen = [], [], False
    for literal, field_name, _, _ in parts:
        (after if seen else before).append(literal)
        seen = seen or field_name is not None
    return re.compile(re.escape("".join(before)) + r"(\d+)" + re.escape("".join(after)))


@dataclass(frozen=True)
class FrameFolders:
    """Videos stored as one folder of frame files each, named by a template numbered from 1.

    A video listed as ``abseiling/x.mp4`` (or ``UCF/v_X_g01_c01.avi``, or already
    ``abseiling/x``) is the folder ``abseiling/x/`` holding ``img_00001.jpg``,
    ``img_00002.jpg``, ..., the files ``ffmpeg -i x.mp4 x/img_%05d.jpg`` writes and MMAction2's
    rawframes use.

    Frames are found through the template rather than by listing the folder's ``*.jpg``
    sorted by name: the number in each name is the frame's position, so a frame missing from
    the middle is an error naming that file (a sorted listing would close the gap and shift
    every later frame in time, unnoticed); numbers without zero padding (``img_10.jpg``
    sorting before ``img_9.jpg``) are read in the right order; and other files in the folder
    (MMAction2 keeps ``flow_x_00001.jpg`` and ``flow_y_00001.jpg`` next to the RGB frames) are
    ignored.

    Attributes:
        template: file name of frame ``n`` (1-based) as ``template.format(n)``.
        fps: the rate the frames were extracted at.

    Raises:
        ValueError: ``template`` has not exactly one number field or names a path, or ``fps``
            is not positive.
    """

    template: str = "img_{:05d}.jpg"
    fps: float = 30.0

    def __post_init__(self):
        _number_pattern(self.template)
        if not self.fps > 0:
            raise ValueError(f"frame fps must be positive, got {self.fps}")

    @staticmethod
    def folder_of(path: str) -> str:
        """The frame folder standing for a listed video path: its video extension (one of
        :data:`VIDEO_EXTENSIONS`) stripped, any other path unchanged."""
        root, ext = os.path.splitext(path)
        return root if ext.lower() in VIDEO_EXTENSIONS else path

    def count_frames(self, folder: str) -> int:
        """The number of frames in ``folder``, from its listing (no image is read).

        Returns:
            ``N``, when the folder holds exactly the frames ``1..N`` (other files ignored).

        Raises:
            DecodeError: the folder is missing or cannot be listed, holds no frame named by
                the template, holds a frame 0, or lacks some of ``1..N`` (the first missing
                file named).
        """
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            raise DecodeError(folder, "frame folder not found") from None
        except OSError as err:
            raise DecodeError(folder, f"cannot list the frame folder: {err}") from None
        pattern = _number_pattern(self.template)
        numbers = set()
        for name in names:
            match = pattern.fullmatch(name)
            # Formatting back rejects names the padding does not produce (img_1.jpg for {:05d}).
            if match and self.template.format(int(match[1])) == name:
                numbers.add(int(match[1]))
        if not numbers:
            raise DecodeError(folder, f"no frames named like {self.template.format(1)!r}")
        if 0 in numbers:
            raise DecodeError(
                folder,
                f"frames are numbered from 1 (as ffmpeg writes them), found "
                f"{self.template.format(0)!r}",
            )
        count = max(numbers)
        if len(numbers) < count:
            first = min(set(range(1, count + 1)) - numbers)
            raise DecodeError(
                folder,
                f"{count - len(numbers)} of frames 1..{count} missing, the first "
                f"{self.template.format(first)!r}",
            )
        return count

    def video(self, folder: str, num_frames: int | None = None) -> FrameListVideo:
        """The frames of ``folder`` as a video; ``num_frames`` (a cached
        :meth:`count_frames`) saves listing the folder again.

        Raises:
            DecodeError: as :meth:`count_frames` when the folder is listed.
        """
        if num_frames is None:
            num_frames = self.count_frames(folder)
        paths = [os.path.join(folder, self.template.format(n)) for n in range(1, num_frames + 1)]
        return FrameListVideo(paths, fps=self.fps)


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
