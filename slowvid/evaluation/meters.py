"""Top-k counting, running scalar statistics and epoch timing for progress/ETA lines."""

import datetime
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence

import torch

__all__ = ["AverageMeter", "EpochTimer", "ScalarMeter", "format_eta", "topk_correct"]


def topk_correct(
    scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> list[int]:
    """Count samples whose label is among the k highest scores, for each k.

    Args:
        scores (Tensor): (N, K) logits or probabilities.
        labels (Tensor): (N,) integer class indices.
        ks (Sequence[int]): the k values; each is clipped to K, so top-5 of a 3-class problem
            is top-3 (always all correct) rather than an error.

    Returns:
        list[int]: one count per entry of ``ks``.
    """
    if scores.dim() != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(
            f"topk_correct expects scores (N, K) and labels (N,), got {tuple(scores.shape)} "
            f"and {tuple(labels.shape)}"
        )
    num_classes = scores.shape[1]
    if scores.shape[0] == 0 or num_classes == 0:
        return [0 for _ in ks]
    max_k = min(max(ks), num_classes)
    # (N, max_k) indices of the best classes, best first; one topk serves every k.
    top = scores.topk(max_k, dim=1, largest=True, sorted=True).indices
    hits = top == labels.to(top.device).view(-1, 1)
    return [int(hits[:, : min(k, num_classes)].any(dim=1).sum()) for k in ks]


class ScalarMeter:
    """Tracks a scalar series: median over a recent window and the global (weighted) average.

    The window median is what console lines show (robust to one slow iteration); the global
    average is what epoch summaries report.
    """

    def __init__(self, window_size: int = 20):
        """
        Args:
            window_size (int): number of recent values the median and window average cover.
        """
        if window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {window_size}")
        self._window: deque[float] = deque(maxlen=window_size)
        self._total = 0.0
        self._count = 0

    def reset(self) -> None:
        """Forget every value."""
        self._window.clear()
        self._total = 0.0
        self._count = 0

    def add_value(self, value: float, n: int = 1) -> None:
        """Record ``value``, weighted by ``n`` in the global average (e.g. the batch size)."""
        value = float(value)
        self._window.append(value)
        self._total += value * n
        self._count += n

    @property
    def count(self) -> int:
        """Total weight recorded since the last reset."""
        return self._count

    def get_win_median(self) -> float:
        """Median of the window (nan when empty)."""
        return statistics.median(self._window) if self._window else float("nan")

    def get_win_avg(self) -> float:
        """Unweighted mean of the window (nan when empty)."""
        return sum(self._window) / len(self._window) if self._window else float("nan")

    def get_global_avg(self) -> float:
        """Weighted mean of every value since the last reset (nan when empty)."""
        return self._total / self._count if self._count else float("nan")


class AverageMeter:
    """A weighted running average, e.g. of a loss over an epoch."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget every value."""
        self.sum = 0.0
        self.count = 0
        self.last = float("nan")

    def update(self, value: float, n: int = 1) -> None:
        """Record ``value`` observed ``n`` times (e.g. a batch mean with batch size ``n``)."""
        self.last = float(value)
        self.sum += self.last * n
        self.count += n

    @property
    def avg(self) -> float:
        """The average so far (nan when empty)."""
        return self.sum / self.count if self.count else float("nan")


class EpochTimer:
    """Measures epoch durations and predicts the time left in a run."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        """
        Args:
            clock (Callable[[], float]): seconds source; injectable so tests need not sleep.
        """
        self._clock = clock
        self._start: float | None = None
        self.epoch_times: list[float] = []

    def start(self) -> None:
        """Mark the start of an epoch."""
        self._start = self._clock()

    def stop(self) -> float:
        """Mark the end of the epoch started last; returns its duration in seconds."""
        if self._start is None:
            raise RuntimeError("EpochTimer.stop() called before start()")
        elapsed = self._clock() - self._start
        self._start = None
        self.epoch_times.append(elapsed)
        return elapsed

    def last_epoch_time(self) -> float:
        """Duration of the last finished epoch (nan before the first)."""
        return self.epoch_times[-1] if self.epoch_times else float("nan")

    def avg_epoch_time(self) -> float:
        """Mean epoch duration (nan before the first)."""
        return statistics.fmean(self.epoch_times) if self.epoch_times else float("nan")

    def median_epoch_time(self) -> float:
        """Median epoch duration (nan before the first)."""
        return statistics.median(self.epoch_times) if self.epoch_times else float("nan")

    def eta_seconds(self, epochs_left: float) -> float:
        """Seconds to finish ``epochs_left`` epochs at the median pace so far."""
        return self.median_epoch_time() * epochs_left


def format_eta(seconds: float) -> str:
    """Format a duration as ``H:MM:SS`` (``D days, H:MM:SS`` beyond a day); "?" if unknown."""
    if not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=max(0, round(seconds))))
