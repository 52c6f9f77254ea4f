"""One run per OUTPUT_DIR: a lease the run holds and renews, so a second launch is refused.

Two launches into one directory would interleave their checkpoints and logs. So rank 0 of a
run holds ``{OUTPUT_DIR}/run.lease``, a small JSON record of the holder (host, pid, start time,
run id) with a heartbeat time that a thread renews every ``renew_s`` seconds::

    launch -> no lease file                   -> create it (atomically), renew it while running
           -> lease of a live holder          -> OutputDirBusy naming host, pid, start time
           -> lease of the same run id        -> take over (torchrun restart, SLURM requeue)
           -> holder on this host, pid gone   -> take over (a crashed or killed run)
           -> heartbeat older than ttl_s      -> take over (a run that died on another node)

Assumptions: the directory is on a local or network file system where ``os.link`` fails on an
existing name (POSIX, NFS), and hosts' clocks agree to well within ``ttl_s`` (NTP), since a
heartbeat written on one host is judged on another. Other storage (``s3://`` and the like)
holds no lease; a warning says so.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from . import comm

__all__ = ["LEASE_NAME", "LeaseHolder", "OutputDirBusy", "OutputDirLease", "hold_output_dir"]

logger = logging.getLogger(__name__)

LEASE_NAME = "run.lease"


class OutputDirBusy(RuntimeError):
    """Another live run holds the output directory."""


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease.

    Attributes:
        host: the holder's host name.
        pid: its process id on that host.
        started: when it took the lease (ISO 8601, local time with offset).
        run_id: the launcher's id of the run (torchrun, SLURM), "" if none.
        token: random, tells this holding apart from any other.
        heartbeat: wall-clock time (seconds since the epoch) of the last renewal.
    """

    host: str
    pid: int
    started: str
    run_id: str
    token: str
    heartbeat: float

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"host {self.host}, pid {self.pid}, started {self.started}{run}"


def current_run_id(environ: dict[str, str] | None = None) -> str:
    """The id a launcher gives every attempt of one run: torch elastic's run id, else the
    SLURM job id (kept by a requeued job), else "".

    torchrun's default ``--rdzv-id`` "none" is shared by unrelated runs, so it counts as none.
    """
    env = os.environ if environ is None else environ
    elastic = env.get("TORCHELASTIC_RUN_ID", "")
    if elastic and elastic != "none":
        return f"torchelastic:{elastic}"
    if env.get("SLURM_JOB_ID"):
        return f"slurm:{env['SLURM_JOB_ID']}"
    return ""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: str) -> LeaseHolder | None:
    """The lease at ``path``; None when there is none. An unreadable file raises, naming it."""
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise OutputDirBusy(
            f"{path} exists but cannot be read as a lease ({err}); if no run uses this "
            "directory, delete the file"
        ) from err
    return LeaseHolder(**record)


def _write_new(path: str, holder: LeaseHolder) -> bool:
    """Create ``path`` holding ``holder`` unless it exists; never visible half-written."""
    tmp = f"{path}.{holder.token}.tmp"
    with open(tmp, "w") as f:
        json.dump(asdict(holder), f)
    try:
        os.link(tmp, path)  # fails if the name exists, atomically (also over NFS)
        return True
    except FileExistsError:
        return False
    finally:
        os.remove(tmp)


class OutputDirLease:
    """Hold ``{output_dir}/run.lease`` for this process; :meth:`release` gives it up.

    Args:
        output_dir: the run's output directory (a local or network file system path).
        ttl_s: a lease whose heartbeat is older than this counts as abandoned.
        renew_s: seconds between heartbeats.
        run_id: the launcher's id of this run (:func:`current_run_id`).

    Raises:
        OutputDirBusy: a live run holds the directory; the message names it.
    """

    def __init__(self, output_dir: str, *, ttl_s: float, renew_s: float, run_id: str = ""):
        self.path = os.path.join(output_dir, LEASE_NAME)
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.lost = ""  # why the lease was lost while held, "" while it is ours
        now = time.time()
        self.holder = LeaseHolder(
            host=socket.gethostname(),
            pid=os.getpid(),
            started=datetime.datetime.fromtimestamp(now).astimezone().isoformat("T", "seconds"),
            run_id=run_id,
            token=uuid.uuid4().hex,
            heartbeat=now,
        )
        os.makedirs(output_dir, exist_ok=True)
        self._acquire()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="slowvid-lease", daemon=True)
        self._thread.start()

    def takeover_reason(self, held: LeaseHolder) -> str:
        """Why ``held`` may be taken over, or "" when its holder counts as alive."""
        if held.run_id and held.run_id == self.holder.run_id:
            return f"it belongs to this run ({held.run_id}), restarted"
        if held.host == self.holder.host and not _process_alive(held.pid):
            return f"its process {held.pid} on this host is gone"
        age = time.time() - held.heartbeat
        if age > self.ttl_s:
            return f"its last heartbeat is {age:.0f} s old, more than the {self.ttl_s:g} s allowed"
        return ""

    def _acquire(self) -> None:
        for _ in range(5):
            if _write_new(self.path, self.holder):
                return
            held = _read(self.path)
            if held is None:  # released between our two looks
                continue
            reason = self.takeover_reason(held)
            if not reason:
                age = time.time() - held.heartbeat
                raise OutputDirBusy(
                    f"OUTPUT_DIR {os.path.dirname(self.path)} is in use by another run "
                    f"({held.describe()}; heartbeat {age:.0f} s ago). Use another OUTPUT_DIR, "
                    f"or stop that run; a run that died is taken over once its heartbeat is "
                    f"older than {self.ttl_s:g} s (LEASE.TTL_SECONDS)"
                )
            # Renamed, not deleted: of several launches judging the same stale lease, only
            # one moves it, and one that moved a fresher lease by mistake puts it back.
            stale = f"{self.path}.{self.holder.token}.stale"
            try:
                os.rename(self.path, stale)
            except FileNotFoundError:
                continue
            moved = _read(stale)
            if moved is not None and moved.token != held.token:
                with contextlib.suppress(FileExistsError):
                    os.link(stale, self.path)
                os.remove(stale)
                continue
            os.remove(stale)
            logger.warning("taking over %s from %s: %s", self.path, held.describe(), reason)
        raise OutputDirBusy(f"could not take {self.path}: other launches keep racing for it")

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_s):
            try:
                held = _read(self.path)
            except OutputDirBusy as err:
                held, self.lost = None, str(err)
            if held is None or held.token != self.holder.token:
                self.lost = self.lost or (
                    f"the lease {self.path} was taken over by "
                    f"{held.describe() if held else 'nobody (the file is gone)'}"
                )
                logger.error("%s: this run no longer holds its OUTPUT_DIR", self.lost)
                return
            self.holder = LeaseHolder(**{**asdict(self.holder), "heartbeat": time.time()})
            tmp = f"{self.path}.{self.holder.token}.tmp"
            with open(tmp, "w") as f:
                json.dump(asdict(self.holder), f)
            os.replace(tmp, self.path)

    def release(self) -> None:
        """Stop renewing and remove the lease if it is still ours."""
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            held = _read(self.path)
        except OutputDirBusy:
            return
        if held is not None and held.token == self.holder.token:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)


# Leases this process holds, by directory: a job inside another (train, then test) reuses it.
_HELD: dict[str, list] = {}


@contextlib.contextmanager
def hold_output_dir(
    output_dir: str, *, ttl_s: float, renew_s: float, enabled: bool = True
) -> Iterator[OutputDirLease | None]:
    """Hold ``output_dir`` for the run while the block runs (rank 0 holds; every rank waits
    for its verdict, so all stop together when the directory is busy).

    Yields:
        The lease on rank 0 (None elsewhere, when disabled, or for remote directories).

    Raises:
        OutputDirBusy: on every rank, when another live run holds the directory.
    """
    remote = "://" in output_dir and not output_dir.startswith("file://")
    if not enabled or remote:
        if remote and enabled and comm.is_main_process():
            logger.warning("OUTPUT_DIR %s is not a file system path: no lease held", output_dir)
        yield None
        return
    key = os.path.realpath(output_dir.removeprefix("file://"))
    lease, error = None, ""
    if comm.is_main_process():
        if key in _HELD:
            _HELD[key][1] += 1
            lease = _HELD[key][0]
        else:
            try:
                lease = OutputDirLease(key, ttl_s=ttl_s, renew_s=renew_s, run_id=current_run_id())
                _HELD[key] = [lease, 1]
            except OutputDirBusy as err:
                error = str(err)
    errors = comm.all_gather_object(error)
    if errors[0]:
        raise OutputDirBusy(errors[0])
    try:
        yield lease
    finally:
        if lease is not None:
            _HELD[key][1] -= 1
            if not _HELD[key][1]:
                del _HELD[key]
                lease.release()
