"""Videos stored as folders of extracted frames (AVA, Charades, SSv2 frames).

:class:`FrameListVideo` gives a list of image files the interface of
:class:`~slowvid.data.decoding.Video`: ``get_frames(indices)`` returns the same uint8
``(T, H, W, 3)`` RGB tensor the video decoders give, so sampling and transforms are shared.
A missing or unreadable frame raises :class:`~slowvid.data.decoding.DecodeError` naming the
file, which datasets treat like a video that fails to decode (logged, counted, replaced in
training).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from .decoding import DecodeError, Video

__all__ = ["FrameListVideo", "read_frame"]


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
