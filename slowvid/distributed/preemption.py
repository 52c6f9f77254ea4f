"""Stop requests from signals (SLURM preemption, time limits), acted on at a step boundary.

A signal can arrive anywhere, e.g. halfway through an optimizer step, so the handler only
records it; the training loop polls :func:`agreed_stop` after each step, where the state is
consistent, and every rank takes the same decision because the flag is all-reduced.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterable

from . import comm

__all__ = ["Preempted", "agreed_stop", "arm", "disarm", "is_armed", "requested_signal"]

logger = logging.getLogger(__name__)

_armed = False
_signal = 0


class Preempted(RuntimeError):
    """Raised out of training once the stop checkpoint is written.

    Args:
        signum: the signal that asked for the stop.
        path: the checkpoint written.
    """

    def __init__(self, signum: int, path: str | None):
        super().__init__(f"stopped by {signal.Signals(signum).name}; checkpoint {path}")
        self.signum = signum
        self.path = path


def _record(signum: int, frame) -> None:
    global _signal
    # Keep the first one: USR2 (requeue me) is followed by TERM when the grace time ends.
    _signal = _signal or signum


def arm(signums: Iterable[int] = (signal.SIGUSR2, signal.SIGTERM)) -> dict[int, object]:
    """Record ``signums`` instead of acting on them; training then checkpoints and stops.

    Returns:
        The handlers replaced, by signal number (to call once the checkpoint is written).
    """
    global _armed, _signal
    _armed, _signal = True, 0
    return {s: signal.signal(s, _record) for s in signums}


def disarm(previous: dict[int, object]) -> None:
    """Put back the handlers :func:`arm` returned and forget any recorded signal."""
    global _armed, _signal
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    _armed, _signal = False, 0


def is_armed() -> bool:
    return _armed


def requested_signal() -> int:
    """The signal recorded in this process, 0 if none."""
    return _signal


def agreed_stop() -> int:
    """The signal any rank recorded, 0 if none; a collective call.

    USR2 wins over TERM: a rank that saw USR2 knows the job is meant to be requeued.
    """
    usr2, term = comm.all_reduce_sum(
        [float(_signal == signal.SIGUSR2), float(_signal not in (0, signal.SIGUSR2))]
    )
    if usr2:
        return int(signal.SIGUSR2)
    return int(signal.SIGTERM) if term else 0
