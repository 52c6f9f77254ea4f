"""Starting a run: one process, N local processes (GPUs or CPU/gloo), or one shard of many.

With NUM_SHARDS > 1 the same command runs on every machine with its own SHARD_ID and a shared
``--init-method tcp://host:port`` naming the first machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch
import torch.multiprocessing as mp
from fvcore.common.config import CfgNode

from slowvid.config import import_project_of

from . import comm

logger = logging.getLogger(__name__)


def processes_per_machine(cfg: CfgNode) -> int:
    return cfg.NUM_GPUS if cfg.NUM_GPUS > 0 else cfg.NUM_CPU_PROCESSES


def check_devices(cfg: CfgNode) -> None:
    """Stop before any work when the config asks for GPUs this machine does not have."""
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cfg.NUM_GPUS > available:
        raise RuntimeError(
            f"NUM_GPUS {cfg.NUM_GPUS} asks for more GPUs than this machine has ({available}). "
            "To run on the CPU, add 'NUM_GPUS 0' to the command line "
            "(and 'NUM_CPU_PROCESSES N' for N processes joined by gloo)."
        )


def backend_of(cfg: CfgNode) -> str:
    if cfg.DIST_BACKEND != "auto":
        return cfg.DIST_BACKEND
    return "nccl" if cfg.NUM_GPUS > 0 else "gloo"


def _run_worker(
    local_rank: int, func: Callable[[CfgNode], object], cfg: CfgNode, init_method: str
) -> object:
    per_machine = processes_per_machine(cfg)
    os.environ["LOCAL_RANK"] = str(local_rank)
    # A spawned worker is a fresh interpreter: the launcher's import of the project (its
    # registered models and datasets) does not reach it.
    import_project_of(cfg)
    if cfg.NUM_GPUS > 0:
        torch.cuda.set_device(local_rank)
    comm.init_process_group(
        backend=backend_of(cfg),
        init_method=init_method,
        world_size=per_machine * cfg.NUM_SHARDS,
        rank=cfg.SHARD_ID * per_machine + local_rank,
        timeout_minutes=cfg.DIST_TIMEOUT_MINUTES,
    )
    try:
        result = func(cfg)
        # Leave together: a rank tearing its group down while another still talks to it
        # can abort the process.
        comm.synchronize()
        return result
    except Exception as exc:
        # A peer's failure surfaces here as a socket or timeout error; name the rank instead,
        # and tell the peers when the failure is this rank's own.
        replacement = comm.explain_failure(exc, cfg.DIST_TIMEOUT_MINUTES)
        if replacement is None:
            raise
        logger.error("%s", replacement)
        raise replacement from exc
    finally:
        comm.destroy_process_group()


def launch_job(cfg: CfgNode, func: Callable[[CfgNode], object], init_method: str | None = None):
    """Run ``func(cfg)`` in every process of the run, on this machine's share of them.

    Args:
        cfg: the merged config; NUM_GPUS, NUM_CPU_PROCESSES, NUM_SHARDS and SHARD_ID decide
            how many processes start here and which global ranks they take.
        func: the job, e.g. ``engine.train``; it runs after the process group is joined.
        init_method: rendezvous address; required with several machines, a free local
            port otherwise.
    Returns:
        ``func``'s return value when this machine runs one process, else None.
    """
    check_devices(cfg)
    import_project_of(cfg)
    per_machine = processes_per_machine(cfg)
    if per_machine * cfg.NUM_SHARDS == 1:
        return func(cfg)
    if init_method is None:
        if cfg.NUM_SHARDS > 1:
            raise ValueError("a run over several machines needs --init-method tcp://HOST:PORT")
        init_method = f"tcp://127.0.0.1:{comm.find_free_port()}"
    if per_machine == 1:
        # One process per machine (a shard, a SLURM task): the job runs here, so killing
        # this process kills its rank, with no orphaned child left behind.
        return _run_worker(0, func, cfg, init_method)
    logger.info("starting %d processes on this machine (%s)", per_machine, init_method)
    # spawn: a child that raises makes mp.spawn stop the others and re-raise with its rank.
    mp.spawn(_run_worker, args=(func, cfg, init_method), nprocs=per_machine, join=True)
    return None
