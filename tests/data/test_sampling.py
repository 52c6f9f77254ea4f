"""Temporal sampling: exact indices for training and testing, frame-rate resampling."""

import random

import pytest
import torch

from slowvid.data.sampling import (
    ClipSpec,
    clip_start,
    clip_stride,
    random_clip_indices,
    uniform_clip_indices,
)

SPEC = ClipSpec(num_frames=4, sampling_rate=2, target_fps=30)


def test_stride_follows_fps():
    assert clip_stride(SPEC, 30) == 2
    assert clip_stride(SPEC, 60) == 4  # twice the frames per second: twice the stride
    assert clip_stride(SPEC, 15) == 1


def test_uniform_clips_exact():
    # 100 frames, span 8 -> starts in [0, 92], three clips at 0, 46, 92.
    assert uniform_clip_indices(SPEC, 30, 100, 0, 3) == [0, 2, 4, 6]
    assert uniform_clip_indices(SPEC, 30, 100, 1, 3) == [46, 48, 50, 52]
    assert uniform_clip_indices(SPEC, 30, 100, 2, 3) == [92, 94, 96, 98]
    # A single clip is the centre one.
    assert uniform_clip_indices(SPEC, 30, 100, 0, 1) == [46, 48, 50, 52]


def test_uniform_clips_60fps_resampled():
    # Same 8-frame span at 30 fps = 16 frames at 60 fps: stride 4.
    assert uniform_clip_indices(SPEC, 60, 200, 0, 2) == [0, 4, 8, 12]
    assert uniform_clip_indices(SPEC, 60, 200, 1, 2) == [184, 188, 192, 196]


def test_fractional_stride_25fps():
    spec = ClipSpec(num_frames=4, sampling_rate=6, target_fps=30)  # stride 5 at 25 fps
    assert uniform_clip_indices(spec, 25, 20, 0, 1) == [0, 5, 10, 15]
    spec = ClipSpec(num_frames=3, sampling_rate=8, target_fps=30)  # stride 6.666...
    assert uniform_clip_indices(spec, 25, 20, 0, 1) == [0, 6, 13]


def test_short_video_repeats_last_frame():
    assert uniform_clip_indices(SPEC, 30, 5, 0, 3) == [0, 2, 4, 4]
    assert uniform_clip_indices(SPEC, 30, 1, 2, 3) == [0, 0, 0, 0]
    assert random_clip_indices(SPEC, 30, 3, random.Random(0)) == [0, 2, 2, 2]


@pytest.mark.parametrize(
    "make_rng", [lambda s: random.Random(s), lambda s: torch.Generator().manual_seed(s)]
)
def test_random_clip_deterministic_and_in_range(make_rng):
    a = [random_clip_indices(SPEC, 30, 50, make_rng(s)) for s in range(20)]
    b = [random_clip_indices(SPEC, 30, 50, make_rng(s)) for s in range(20)]
    assert a == b
    starts = {idx[0] for idx in a}
    assert len(starts) > 5 and min(starts) >= 0 and max(starts) <= 42
    for idx in a:
        assert idx == [idx[0] + 2 * k for k in range(4)]


def test_random_start_covers_both_ends():
    rng = random.Random(0)
    starts = {clip_start(12, 8, rng=rng) for _ in range(200)}
    assert starts == {0, 1, 2, 3, 4}


def test_bad_arguments():
    with pytest.raises(ValueError):
        clip_start(100, 8, clip_idx=3, num_clips=3)
    with pytest.raises(ValueError):
        clip_start(100, 8)  # random clip without rng
    with pytest.raises(ValueError):
        ClipSpec(num_frames=0)
