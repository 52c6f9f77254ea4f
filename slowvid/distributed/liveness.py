"""Telling every rank why a run stops, so that none waits forever and the message names the rank.

Gloo fails a collective at once when a peer's sockets close, and after DIST_TIMEOUT_MINUTES
when a live peer never joins; either way the error names a socket, not a rank. So each process
keeps a heartbeat counter in the rendezvous store, and a rank whose job raises writes its
error there before it exits. A rank whose collective then fails asks the store what happened:

    rank r raises -> store["slowvid/failed"] = "rank r: Error: ..." -> exits, sockets close
    rank q: collective error -> "slowvid/failed" set?     -> PeerFailed("rank r failed: ...")
                             -> a heartbeat stopped?      -> PeerFailed("rank r stopped: killed?")
                             -> the store is gone?        -> PeerFailed("rank 0 ... gone")
                             -> all alive (timeout)       -> PeerFailed("... a rank is stuck")

Assumes a ``TCPStore`` (``tcp://`` or ``env://`` rendezvous), which lives in rank 0's process;
with another store the failed key still works but stopped ranks cannot be told apart.
"""

from __future__ import annotations

import datetime
import threading
import time

import torch.distributed as dist

__all__ = ["FAILED_KEY", "Liveness", "PeerFailed", "is_collective_error"]

FAILED_KEY = "slowvid/failed"


class PeerFailed(RuntimeError):
    """This rank stops because another rank failed, vanished or hangs."""


def is_collective_error(exc: BaseException) -> bool:
    """Whether ``exc`` came out of the communication layer rather than this rank's own work."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or any(s in text for s in ("gloo", "NCCL", "c10d"))


def _heartbeat_key(rank: int, attempt: int = 0) -> str:
    return f"slowvid/heartbeat/{rank}" if not attempt else f"slowvid/{attempt}/heartbeat/{rank}"


def _failed_key(attempt: int = 0) -> str:
    return FAILED_KEY if not attempt else f"slowvid/{attempt}/failed"


class Liveness:
    """Heartbeat of this rank, and the failure reports of all ranks, in the rendezvous store.

    Args:
        store: the run's rendezvous store.
        rank: this process's global rank.
        world_size: processes in the run.
        period_s: seconds between heartbeats; a rank is taken for dead when its counter does
            not move for three periods.
        attempt: the launcher's restart count; each attempt keeps its own keys.
    """

    def __init__(
        self,
        store: dist.Store,
        *,
        rank: int,
        world_size: int,
        period_s: float = 0.5,
        attempt: int = 0,
    ):
        self.store = store
        self.rank = rank
        self.world_size = world_size
        self.attempt = attempt
        self.failed_key = _failed_key(attempt)
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if isinstance(store, dist.TCPStore):
            # A client of its own: the heartbeat thread must not share a socket with the
            # main thread's store calls.
            beat_store = dist.TCPStore(
                store.host, store.port, is_master=False, timeout=datetime.timedelta(seconds=30)
            )
            self._thread = threading.Thread(
                target=self._beat, args=(beat_store,), name="slowvid-heartbeat", daemon=True
            )
            self._thread.start()

    def _beat(self, store: dist.Store) -> None:
        key = _heartbeat_key(self.rank, self.attempt)
        while not self._stop.is_set():
            try:
                store.add(key, 1)
            except Exception:  # the store's host is gone; the failing collective reports it
                return
            self._stop.wait(self.period_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.period_s)

    def report(self, exc: BaseException) -> None:
        """Publish this rank's error; the first report of the run wins."""
        message = f"rank {self.rank}: {type(exc).__name__}: {exc}"[:2000]
        try:
            self.store.compare_set(self.failed_key, "", message)
        except Exception:  # best effort: the store may already be gone
            pass

    def stopped_ranks(self) -> list[int]:
        """Other ranks whose heartbeat does not move (killed, or crashed without a Python error)."""
        if self._thread is None:
            return []
        keys = [_heartbeat_key(r, self.attempt) for r in range(self.world_size)]
        before = [self.store.add(key, 0) for key in keys]
        time.sleep(3 * self.period_s)
        after = [self.store.add(key, 0) for key in keys]
        return [r for r in range(self.world_size) if r != self.rank and after[r] == before[r]]

    def explain(self, exc: BaseException, timeout_minutes: float) -> PeerFailed | None:
        """The error this rank should stop with instead of ``exc``.

        Returns:
            None when ``exc`` is this rank's own failure (then it is reported to the others
            first), else a PeerFailed naming the rank that failed, vanished or hangs.
        """
        if not is_collective_error(exc):
            self.report(exc)
            return None
        try:
            if self.store.check([self.failed_key]):
                first = self.store.get(self.failed_key).decode()
                return PeerFailed(f"stopping because {first.replace(':', ' failed:', 1)}")
            stopped = self.stopped_ranks()
        except Exception:
            return PeerFailed(
                "lost contact with rank 0, which hosts the rendezvous store: rank 0 exited or "
                f"was killed (see its log). Collective error: {exc}"
            )
        if stopped:
            message = (
                f"rank(s) {', '.join(map(str, stopped))} stopped responding (killed or crashed "
                f"without a Python error). Collective error: {exc}"
            )
        else:
            message = (
                "a collective failed while every rank is alive: a rank is stuck or skipped a "
                f"collective (DIST_TIMEOUT_MINUTES={timeout_minutes}). Collective error: {exc}"
            )
        self.report(PeerFailed(message))
        return PeerFailed(message)
