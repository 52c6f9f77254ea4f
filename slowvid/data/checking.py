"""Scanning a dataset split for videos that cannot be used, before a long run finds them.

Every listed video is opened and the frames of its centre clip decoded (so a file whose header
reads fine but whose stream is broken is caught too); its length is compared with the span of
one clip. Works for every :class:`~slowvid.data.datasets.clip_dataset.ClipDataset` (Kinetics,
SSv2, UCF101, HMDB51, ...), which all list ``paths`` and ``labels``; datasets of frame folders
(SSv2 or EPIC frames, Charades) are opened through their ``video_at``.
"""

from __future__ import annotations

import collections
import functools
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .decoding import DecodeError, Video, open_video
from .sampling import ClipSpec, clip_stride, uniform_clip_indices

__all__ = ["DatasetReport", "VideoCheck", "check_video", "check_videos", "write_clean_list"]


@dataclass(frozen=True)
class VideoCheck:
    """What scanning one video found.

    Attributes:
        path: the file.
        label: its class.
        problem: "" when usable, "unreadable" or "short".
        detail: the decoder's reason, or the frame counts of a short video.
    """

    path: str
    label: int
    problem: str = ""
    detail: str = ""


@dataclass
class DatasetReport:
    """All checks of a split, in list order."""

    checks: list[VideoCheck] = field(default_factory=list)

    @property
    def usable(self) -> list[VideoCheck]:
        return [c for c in self.checks if not c.problem]

    def with_problem(self, problem: str) -> list[VideoCheck]:
        return [c for c in self.checks if c.problem == problem]

    def label_counts(self, usable_only: bool = True) -> dict[int, int]:
        """Videos per label, sorted by label."""
        checks = self.usable if usable_only else self.checks
        return dict(sorted(collections.Counter(c.label for c in checks).items()))

    def summary(self) -> str:
        """A few lines for the console: totals, then every problem with its reason."""
        counts = self.label_counts()
        lines = [
            f"{len(self.checks)} videos: {len(self.usable)} usable, "
            f"{len(self.with_problem('unreadable'))} unreadable, "
            f"{len(self.with_problem('short'))} shorter than a clip",
            f"{len(counts)} labels; videos per label: min {min(counts.values(), default=0)}, "
            f"max {max(counts.values(), default=0)}",
        ]
        lines += [f"  {c.problem}: {c.path}: {c.detail}" for c in self.checks if c.problem]
        return "\n".join(lines)


def check_video(
    path: str,
    label: int,
    clip: ClipSpec,
    backend: str = "auto",
    opener: Callable[[], Video] | None = None,
) -> VideoCheck:
    """Open ``path`` (with ``opener`` when given, e.g. a frame folder), decode its centre clip
    and compare its length with one clip's span."""
    try:
        with opener() if opener is not None else open_video(path, backend) as video:
            span = math.ceil((clip.num_frames - 1) * clip_stride(clip, video.fps)) + 1
            video.get_frames(uniform_clip_indices(clip, video.fps, video.num_frames, 0, 1))
            if video.num_frames < span:
                detail = f"{video.num_frames} frames, a clip spans {span}"
                return VideoCheck(path, label, "short", detail)
    except (DecodeError, OSError, ValueError) as err:
        return VideoCheck(path, label, "unreadable", str(err))
    return VideoCheck(path, label)


def check_videos(
    paths: Sequence[str],
    labels: Sequence[int],
    clip: ClipSpec,
    backend: str = "auto",
    num_workers: int = 4,
    progress: Callable[[int], object] | None = None,
    video_at: Callable[[int], Video] | None = None,
) -> DatasetReport:
    """:func:`check_video` on every video, ``num_workers`` at a time (decoding releases the GIL).

    Args:
        paths: video files.
        labels: their classes.
        clip: the clip the run will sample (its span sets the minimum length).
        backend: decoding backend, as ``DATA.DECODING_BACKEND``.
        num_workers: videos checked concurrently.
        progress: called with 1 after each video (e.g. a tqdm bar's ``update``).
        video_at: opens video ``i`` (a dataset's ``video_at``); by default ``paths[i]`` is
            opened as a file.

    Returns:
        The checks in list order.
    """

    def one(index: int) -> VideoCheck:
        opener = functools.partial(video_at, index) if video_at is not None else None
        result = check_video(paths[index], labels[index], clip, backend, opener)
        if progress is not None:
            progress(1)
        return result

    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    with ThreadPoolExecutor(max_workers=max(num_workers, 1)) as pool:
        return DatasetReport(list(pool.map(one, range(len(paths)))))


def write_clean_list(
    report: DatasetReport, out_path: str, path_prefix: str = "", separator: str = " "
) -> int:
    """Write the usable videos as ``path label`` lines (the Kinetics csv layout).

    Args:
        report: the scan.
        out_path: the file to write.
        path_prefix: stripped from the start of each path, so the list reads like the input.
        separator: between path and label.

    Returns:
        The number of lines written.
    """
    lines = []
    for check in report.usable:
        path = check.path
        if path_prefix and path.startswith(path_prefix):
            path = os.path.relpath(path, path_prefix)
        lines.append(f"{path}{separator}{check.label}\n")
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, out_path)
    return len(lines)
