"""Process-group helpers that also work when no process group exists (one process)."""

from __future__ import annotations

import datetime
import os
import socket
from typing import Any

import torch
import torch.distributed as dist

from .liveness import Liveness, PeerFailed


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op in a single-process run."""
    if is_dist() and get_world_size() > 1:
        dist.barrier()


def consecutive_subgroup(group_size: int) -> dist.ProcessGroup | None:
    """The process group of this rank and its neighbours: ranks are cut into consecutive
    groups of ``group_size``. Every rank must call this (torch creates all groups everywhere).

    Returns:
        The group; None (the default group) when it would hold every rank.

    Raises:
        ValueError: ``group_size`` does not divide the world size.
    """
    world = get_world_size()
    if group_size == world:
        return None
    if group_size < 1 or world % group_size:
        raise ValueError(f"a group of {group_size} processes does not divide {world}")
    mine = None
    for start in range(0, world, group_size):
        ranks = list(range(start, start + group_size))
        group = dist.new_group(ranks)
        if get_rank() in ranks:
            mine = group
    return mine


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj from rank 0, obj from rank 1, ...]``; ``[obj]`` without a process group."""
    if not is_dist() or get_world_size() == 1:
        return [obj]
    gathered: list[Any] = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum a list of numbers over all processes."""
    if not is_dist() or get_world_size() == 1:
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def find_free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# This process's heartbeat and failure reports while it belongs to a process group.
_LIVENESS: Liveness | None = None


def init_process_group(
    *,
    backend: str,
    init_method: str,
    world_size: int,
    rank: int,
    timeout_minutes: float,
    attempt: int = 0,
) -> None:
    """Join the run's process group; collectives that wait longer than the timeout fail.

    The rendezvous store is kept for :func:`explain_failure`, and a heartbeat thread starts.
    ``attempt`` (a launcher's restart count) gives each attempt keys of its own: torchrun's
    store outlives its workers, and a restarted rank reading a dead rank's address from the
    previous attempt fails to connect (seen with ``--max-restarts``).
    """
    global _LIVENESS
    timeout = datetime.timedelta(minutes=timeout_minutes)
    store, rank, world_size = next(
        dist.rendezvous(init_method, rank=rank, world_size=world_size, timeout=timeout)
    )
    group_store = dist.PrefixStore(f"slowvid/attempt_{attempt}", store) if attempt else store
    dist.init_process_group(
        backend=backend, store=group_store, world_size=world_size, rank=rank, timeout=timeout
    )
    _LIVENESS = Liveness(store, rank=rank, world_size=world_size, attempt=attempt)


def explain_failure(exc: BaseException, timeout_minutes: float) -> PeerFailed | None:
    """See :meth:`Liveness.explain`: None for this rank's own error (reported to the others)."""
    return _LIVENESS.explain(exc, timeout_minutes) if _LIVENESS is not None else None


def stop_heartbeat() -> None:
    """Stop this rank's heartbeat thread (joined while the store it writes to is alive)."""
    global _LIVENESS
    if _LIVENESS is not None:
        _LIVENESS.close()
        _LIVENESS = None


def destroy_process_group() -> None:
    """Leave the process group and stop the heartbeat."""
    stop_heartbeat()
    if is_dist():
        dist.destroy_process_group()
