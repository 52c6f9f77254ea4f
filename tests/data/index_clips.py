"""Index videos and the promises of each temporal sampling rule, for the end-to-end
temporal-exactness tests (``test_temporal_exactness.py``).

Every pixel of frame ``i`` of an index video encodes ``i`` in steps of 16 per channel, so the
index survives lossy frame formats (JPEG), colour conversion and any spatial transform of a
uniform image; :func:`read_indices` reads it back from a loader's output, uint8 or
normalised. The rules below are written from each data set's documentation (and PySlowFast's
code where the data set follows it), independently of ``slowvid.data.sampling``, so that the
loader's output is compared with what the sampling promises, not with another path through
the same code.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from slowvid.data import build_loader, shuffle_loader
from slowvid.data.demo import write_video

STEP = 16  # index levels per channel: 16 ** 3 frames
SIZE = 32  # pixels a side


def index_image(i: int, size: int = SIZE) -> np.ndarray:
    """uint8 ``(size, size, 3)`` RGB frame whose every pixel encodes ``i``."""
    if not 0 <= i < STEP**3:
        raise ValueError(f"frame index {i} outside [0, {STEP**3})")
    rgb = [STEP * (i // STEP**c % STEP) + STEP // 2 for c in range(3)]
    return np.broadcast_to(np.array(rgb, np.uint8), (size, size, 3)).copy()


def read_indices(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> list[int]:
    """Frame index of each time step of a ``(3, T, H, W)`` RGB clip (uint8, or normalised
    float ``(x / 255 - mean) / std``)."""
    x = clip.double().mean(dim=(2, 3))  # (3, T): frames are uniform
    if clip.dtype != torch.uint8:
        x = (x * torch.tensor(std).double()[:, None] + torch.tensor(mean).double()[:, None]) * 255
    levels = torch.floor(x / STEP).long()
    return (levels[0] + STEP * levels[1] + STEP**2 * levels[2]).tolist()


# Lossless encoders per container (B-frames on in H.264, so decode order != display order).
_ENCODERS = {
    ".mp4": ("libx264rgb", "rgb24", {"qp": "0", "x264-params": "keyint=10:scenecut=0"}),
    ".webm": ("libvpx-vp9", "yuv420p", {"lossless": "1"}),
    ".avi": ("ffv1", "bgr0", {}),
}


def write_index_video(path: str, num_frames: int, fps: int) -> None:
    """A lossless video whose frame ``i`` is :func:`index_image` ``(i)``."""
    codec, pix_fmt, options = _ENCODERS[os.path.splitext(path)[1].lower()]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frames = np.stack([index_image(i) for i in range(num_frames)])
    write_video(
        path, frames, fps, codec=codec, pix_fmt=pix_fmt, options={**options, "threads": "1"}
    )


def write_index_frames(paths: Sequence[str], first: int = 0) -> None:
    """Image files, ``paths[k]`` showing index ``first + k`` (format from the extension)."""
    import cv2

    for k, path in enumerate(paths):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, index_image(first + k)[..., ::-1])


# ---------------------------------------------------------------------------------------------
# The rules. ``n``: frames in the video (or segment); ``clip``: (frames, rate, target fps).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """DATA.NUM_FRAMES, DATA.SAMPLING_RATE and DATA.TARGET_FPS of a case."""

    frames: int
    rate: int
    target_fps: int


def _stride(clip: Clip, fps: float) -> Fraction:
    return Fraction(clip.rate) * Fraction(fps) / clip.target_fps


def _clip_at(start: int, clip: Clip, fps: float, n: int) -> list[int]:
    stride = _stride(clip, fps)
    return [min(math.floor(start + i * stride), n - 1) for i in range(clip.frames)]


def _last_start(clip: Clip, fps: float, n: int) -> int:
    return max(math.floor(n - clip.frames * _stride(clip, fps)), 0)


def uniform_clip(clip: Clip, fps: float, n: int, view: int, views: int) -> list[int]:
    """Kinetics-style test view ``view`` of ``views``: ``frames`` frames every ``rate *
    fps / target_fps`` (floored), the starts spread evenly from the first frame to the last
    start that fits, ``view * floor(last / (views - 1))`` (PySlowFast's offset sampling,
    DATA.USE_OFFSET_SAMPLING's default); a single view is the centre one; short videos repeat
    the last frame."""
    last = _last_start(clip, fps, n)
    start = last // 2 if views == 1 else view * (last // (views - 1))
    return _clip_at(start, clip, fps, n)


def random_clips(clip: Clip, fps: float, n: int) -> set[tuple[int, ...]]:
    """Every clip a Kinetics-style training draw may return."""
    return {tuple(_clip_at(s, clip, fps, n)) for s in range(_last_start(clip, fps, n) + 1)}


def _segments(n: int, count: int) -> list[tuple[int, int]]:
    # PySlowFast's SSv2 segments: round() of (n - 1) / count steps, ties to even.
    step = Fraction(max(n - 1, 0), count)
    return [(round(step * i), round(step * (i + 1))) for i in range(count)]


def segment_view(n: int, count: int, view: int, views: int) -> list[int]:
    """SSv2 test view: in each segment the frame at ``(2 view + 1) / (2 views)`` of it."""
    return [a + (b - a) * (2 * view + 1) // (2 * views) for a, b in _segments(n, count)]


def in_segments(n: int, count: int, indices: Sequence[int]) -> bool:
    """Whether a training draw takes one frame from each segment, in order."""
    return len(indices) == count and all(
        a <= i <= b for i, (a, b) in zip(indices, _segments(n, count))
    )


def charades_view(clip: Clip, n: int, view: int, views: int) -> list[int]:
    """PySlowFast's Charades test window: ``rate`` in the extracted frames (no fps)."""
    spare = max(n - ((clip.frames - 1) * clip.rate + 1), 0)
    start = spare // 2 if views == 1 else int(round(spare / (views - 1) * view))
    return [min(start + i * clip.rate, n - 1) for i in range(clip.frames)]


def charades_random(clip: Clip, n: int) -> set[tuple[int, ...]]:
    spare = n - ((clip.frames - 1) * clip.rate + 1)
    return {
        tuple(min(max(s + i * clip.rate, 0), n - 1) for i in range(clip.frames))
        for s in range(min(spare, 0), max(spare, 0) + 1)
    }


def centred_clip(clip: Clip, fps: float, centre: int, n: int) -> list[int]:
    """AVA: ``frames`` frames every ``rate`` (at ``fps``), centred on the keyframe: the
    first at ``centre - frames * stride / 2``, clamped to the video (PySlowFast's
    ``get_sequence``)."""
    stride = _stride(clip, fps)
    first = centre - clip.frames * stride / 2
    return [min(max(math.floor(first + i * stride), 0), n - 1) for i in range(clip.frames)]


def slow_of(fast: Sequence[int], alpha: int) -> list[int]:
    """PySlowFast's slow pathway: ``T // alpha`` frames at ``linspace(0, T - 1)``, truncated."""
    t = len(fast)
    count = t // alpha
    picks = [math.floor(Fraction(j * (t - 1), count - 1)) if count > 1 else 0 for j in range(count)]
    return [fast[p] for p in picks]


# ---------------------------------------------------------------------------------------------
# The harness.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetCase:
    """One data set layout and the frames its loaders must deliver.

    Attributes:
        name: test id.
        dataset: registered name (TRAIN.DATASET and TEST.DATASET).
        write: writes the data set under a root directory; returns its config overrides.
        test_clips: the test loader's clips (fast pathway frame indices), in loader order.
        train_clip_ok: ``(item key, indices)`` -> whether a training draw may be this clip.
        item_keys: the key of each item of a batch (default: its video index).
        jittered: training draws random clips (False: deterministic, e.g. AVA's centred).
    """

    name: str
    dataset: str
    write: Callable[[str], dict]
    test_clips: Callable[[], list[list[int]]]
    train_clip_ok: Callable[[object, list[int]], bool]
    item_keys: Callable[[dict], list] = lambda batch: batch["video_index"].tolist()
    jittered: bool = True


def clips_of(batch: dict, mean, std, alpha: int) -> list[list[int]]:
    """(Fast-)pathway frame indices of every item of a batch; checks each slow pathway."""
    fast = batch["inputs"][-1]
    clips = []
    for b in range(fast.shape[0]):
        indices = read_indices(fast[b], mean, std)
        if len(batch["inputs"]) == 2:
            slow = read_indices(batch["inputs"][0][b], mean, std)
            assert slow == slow_of(indices, alpha), (indices, slow, b)
        clips.append(indices)
    return clips


def check_test_split(cfg, case: DatasetCase) -> int:
    """The test loader delivers exactly ``case.test_clips()``, in order; returns the count."""
    d = cfg.DATA
    got = []
    for batch in build_loader(cfg, "test"):
        assert not batch["failed"], batch["failed"]
        got += clips_of(batch, d.MEAN, d.STD, cfg.SLOWFAST.ALPHA)
    expected = case.test_clips()
    assert len(got) == len(expected)
    for k, (clip, promise) in enumerate(zip(got, expected)):
        assert clip == promise, f"item {k}: read {clip}, promised {promise}"
    return len(got)


def check_train_split(cfg, case: DatasetCase, epochs: int = 4) -> None:
    """Every training clip is one the rule allows; draws differ when the rule is random."""
    d = cfg.DATA
    loader = build_loader(cfg, "train")
    seen: dict = {}
    for epoch in range(epochs):
        shuffle_loader(loader, epoch)
        for batch in loader:
            assert not batch["failed"], batch["failed"]
            clips = clips_of(batch, d.MEAN, d.STD, cfg.SLOWFAST.ALPHA)
            for key, clip in zip(case.item_keys(batch), clips):
                assert case.train_clip_ok(key, clip), f"{key}: {clip} is not a legal draw"
                seen.setdefault(key, set()).add(tuple(clip))
    assert seen, "the training loader gave no items"
    if case.jittered:
        assert max(len(clips) for clips in seen.values()) > 1, seen
