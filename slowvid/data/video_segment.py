"""A stretch of a longer video seen as a video of its own.

Datasets whose items are labelled stretches of long videos (DoMSEV segments, timestamped
windows) wrap the opened video in a :class:`VideoSegment`: the usual temporal sampling then
draws clips inside the stretch (repeating its last frame when it is shorter than a clip), and
the decoder still seeks straight to the stretch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .decoding import DecodeError, Video

__all__ = ["VideoSegment", "frames_in_seconds"]

# Times on exact frame boundaries (2.3 s * 30 fps = 68.99999...) must not round a frame off.
_EPS = 1e-6


def frames_in_seconds(start_sec: float, end_sec: float, fps: float) -> tuple[int, int]:
    """``(first, last)`` 0-based frame indices (inclusive) of the frames shown in
    ``[start_sec, end_sec)``: frame ``i`` is shown from ``i / fps``, so these are
    ``ceil(start_sec * fps)`` to ``ceil(end_sec * fps) - 1``, at least one frame."""
    first = math.ceil(start_sec * fps - _EPS)
    end = math.ceil(end_sec * fps - _EPS)
    return first, max(end - 1, first)


class VideoSegment(Video):
    """Frames ``first..last`` (inclusive) of ``video`` as frames ``0..last - first``.

    A segment running past the video's end is cut at its last frame. Closing the segment
    closes the video.

    Args:
        video: the open video.
        first: index of the segment's first frame in ``video``.
        last: index of its last frame.

    Raises:
        DecodeError: the segment starts after the video's last frame (the video is closed).
    """

    def __init__(self, video: Video, first: int, last: int):
        if last < first or first < 0:
            raise ValueError(f"segment [{first}, {last}] is empty or starts before frame 0")
        if first >= video.num_frames:
            video.close()
            raise DecodeError(
                video.path,
                f"segment [{first}, {last}] starts after the last of its {video.num_frames} "
                f"frames ({video.duration:.2f} s)",
            )
        self.video = video
        self.first = first
        self.last = min(last, video.num_frames - 1)
        self.path = video.path
        self.backend = video.backend
        self.fps = video.fps
        self.num_frames = self.last - self.first + 1
        self.duration = self.num_frames / self.fps

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """Frames at segment indices (clamped to the segment's last frame)."""
        return self.video.get_frames(
            [self.first + min(int(i), self.num_frames - 1) for i in indices]
        )

    def get_audio(self, start_sec: float, end_sec: float, sample_rate: int) -> torch.Tensor:
        """Audio over a window on the segment's clock (its frame 0 plays at 0 s)."""
        offset = self.first / self.fps
        return self.video.get_audio(start_sec + offset, end_sec + offset, sample_rate)

    def close(self) -> None:
        self.video.close()
