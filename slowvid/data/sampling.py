"""Temporal sampling: which frame indices of a video make up one clip.

A clip is ``num_frames`` frames taken every ``sampling_rate`` frames of a video running at
``target_fps``. A video stored at another rate is resampled in time: its own stride is
``sampling_rate * fps / target_fps`` (a 60 fps video sampled at target 30 steps twice as far),
so a clip always spans the same number of seconds whatever the file's rate.

Training takes one clip at a random start; testing takes clip ``k`` of ``num_clips`` whose
starts are spaced evenly from the first possible start to the last (a single test clip is
the centre one), PySlowFast's offset sampling (``DATA.USE_OFFSET_SAMPLING``); without it, as
PySlowFast's default, clip ``k`` starts ``k / num_clips`` into the range of starts, so no clip
reaches the end and a single clip is the first. Videos shorter than a clip repeat their last
frame.

:func:`segment_indices` is the other scheme, for sets whose actions fill the whole video
(PySlowFast's and the published SSv2 recipes): the video is cut into ``num_frames`` equal
segments and one frame is taken from each, so a clip always spans the whole video.

All functions are pure: randomness comes from the ``random.Random`` or ``torch.Generator``
passed in.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

__all__ = [
    "ClipSpec",
    "clip_indices",
    "clip_start",
    "clip_stride",
    "random_clip_indices",
    "segment_indices",
    "uniform_clip_indices",
]

Rng = random.Random | torch.Generator


@dataclass(frozen=True)
class ClipSpec:
    """What a clip is, independent of any video.

    Attributes:
        num_frames: frames per clip.
        sampling_rate: stride between sampled frames, counted at ``target_fps``.
        target_fps: frame rate the stride is counted at.
    """

    num_frames: int = 8
    sampling_rate: int = 8
    target_fps: float = 30.0

    def __post_init__(self):
        if self.num_frames < 1 or self.sampling_rate < 1 or self.target_fps <= 0:
            raise ValueError(f"invalid clip spec {self}")


def clip_stride(spec: ClipSpec, fps: float) -> float:
    """Stride between sampled frames in the video's own frames (may be fractional)."""
    if fps <= 0:
        raise ValueError(f"video fps must be positive, got {fps}")
    return spec.sampling_rate * fps / spec.target_fps


def _randint(rng: Rng, high: int) -> int:
    """Uniform integer in [0, high]."""
    if isinstance(rng, torch.Generator):
        return int(torch.randint(0, high + 1, (1,), generator=rng).item())
    return rng.randint(0, high)


def clip_start(
    num_video_frames: int,
    span: float,
    *,
    clip_idx: int = -1,
    num_clips: int = 1,
    rng: Rng | None = None,
    offset: bool = True,
) -> int:
    """First frame of a clip covering ``span`` frames.

    Args:
        num_video_frames: frames in the video.
        span: frames the clip covers in the video's own frames.
        clip_idx: -1 for a random start (training), else which of ``num_clips`` evenly
            spaced starts to take (testing).
        num_clips: number of test clips per video.
        rng: source of randomness, needed when ``clip_idx`` is -1.
        offset: test starts ``clip_idx * floor(delta / (num_clips - 1))`` (the centre for one
            clip); False: ``floor(delta * clip_idx / num_clips)``, where ``delta`` is the last
            possible start (PySlowFast's two rules).

    Returns:
        Index of the clip's first frame.
    """
    # Starts range over [0, delta]; delta is 0 for videos shorter than a clip.
    delta = max(math.floor(num_video_frames - span), 0)
    if clip_idx == -1:
        if rng is None:
            raise ValueError("a random clip (clip_idx=-1) needs an rng")
        return _randint(rng, delta)
    if not 0 <= clip_idx < num_clips:
        raise ValueError(f"clip_idx {clip_idx} outside [0, {num_clips})")
    if not offset:
        return math.floor(delta * clip_idx / num_clips)
    if num_clips == 1:
        return delta // 2
    return clip_idx * (delta // (num_clips - 1))


def clip_indices(start: int, spec: ClipSpec, fps: float, num_video_frames: int) -> list[int]:
    """Frame indices of the clip beginning at ``start``, clamped to the last frame.

    Args:
        start: first frame.
        spec: clip length and stride.
        fps: the video's frame rate.
        num_video_frames: frames in the video.

    Returns:
        ``spec.num_frames`` indices, non-decreasing; repeats of the last frame pad short videos.
    """
    stride = clip_stride(spec, fps)
    last = max(num_video_frames - 1, 0)
    # A tiny epsilon keeps e.g. 3 * (8 * 25 / 30) from flooring to one frame short.
    return [min(math.floor(start + i * stride + 1e-6), last) for i in range(spec.num_frames)]


def random_clip_indices(spec: ClipSpec, fps: float, num_video_frames: int, rng: Rng) -> list[int]:
    """Indices of one random clip (training).

    Args:
        spec: clip length and stride.
        fps: the video's frame rate.
        num_video_frames: frames in the video.
        rng: ``random.Random`` or ``torch.Generator``.

    Returns:
        ``spec.num_frames`` frame indices.
    """
    span = spec.num_frames * clip_stride(spec, fps)
    start = clip_start(num_video_frames, span, clip_idx=-1, rng=rng)
    return clip_indices(start, spec, fps, num_video_frames)


def uniform_clip_indices(
    spec: ClipSpec,
    fps: float,
    num_video_frames: int,
    clip_idx: int,
    num_clips: int,
    offset: bool = True,
) -> list[int]:
    """Indices of clip ``clip_idx`` of ``num_clips`` evenly spaced clips (testing).

    Args:
        spec: clip length and stride.
        fps: the video's frame rate.
        num_video_frames: frames in the video.
        clip_idx: which clip, in ``[0, num_clips)``.
        num_clips: clips per video.
        offset: PySlowFast's offset sampling (see :func:`clip_start`).

    Returns:
        ``spec.num_frames`` frame indices.
    """
    span = spec.num_frames * clip_stride(spec, fps)
    start = clip_start(
        num_video_frames, span, clip_idx=clip_idx, num_clips=num_clips, offset=offset
    )
    return clip_indices(start, spec, fps, num_video_frames)


def segment_indices(
    num_video_frames: int,
    num_segments: int,
    segment_idx: int = -1,
    num_views: int = 1,
    rng: Rng | None = None,
) -> list[int]:
    """One frame from each of ``num_segments`` equal segments spanning the whole video.

    Frame positions ``[0, num_video_frames - 1]`` are cut into ``num_segments`` equal spans;
    segment ``i`` holds the frames from ``round(i * s)`` to ``round((i + 1) * s)``, both
    included, with ``s = (num_video_frames - 1) / num_segments`` and ties rounded to even (as
    numpy), so neighbouring segments share their boundary frame. These are PySlowFast's SSv2
    segments, which keeps its released SSv2 checkpoints evaluating on the frames they were
    tested on. Videos with fewer frames than segments repeat frames.

    Args:
        num_video_frames: frames in the video.
        num_segments: segments, i.e. frames in the clip.
        segment_idx: -1 for a uniformly random frame of each segment (training); else view
            ``k`` of ``num_views`` takes, in every segment, the frame at ``(2k + 1) / (2 *
            num_views)`` of its span, rounded down: the middle frame for a single view (as
            PySlowFast), views spread evenly inside the segments for several.
        num_views: test views per video.
        rng: ``random.Random`` or ``torch.Generator``, needed when ``segment_idx`` is -1.

    Returns:
        ``num_segments`` non-decreasing frame indices in ``[0, num_video_frames)``.

    Raises:
        ValueError: no segments, a random draw without ``rng``, or ``segment_idx`` outside
            ``[0, num_views)``.
    """
    if num_segments < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")
    if segment_idx == -1 and rng is None:
        raise ValueError("random segment frames (segment_idx=-1) need an rng")
    if segment_idx != -1 and not 0 <= segment_idx < num_views:
        raise ValueError(f"segment_idx {segment_idx} outside [0, {num_views})")
    step = max(num_video_frames - 1, 0) / num_segments
    indices = []
    for i in range(num_segments):
        first, last = round(step * i), round(step * (i + 1))
        if segment_idx == -1:
            indices.append(first + _randint(rng, last - first))
        else:
            # Integer arithmetic: for one view this is PySlowFast's (first + last) // 2.
            indices.append(first + (last - first) * (2 * segment_idx + 1) // (2 * num_views))
    return indices
