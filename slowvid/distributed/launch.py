"""Starting a run: one process, N local processes (GPUs or CPU/gloo), one shard of many, or one
rank of a run that an external launcher (torchrun, torch elastic) started.

With NUM_SHARDS > 1 the same command runs on every machine with its own SHARD_ID and a shared
``--init-method tcp://host:port`` naming the first machine. Under torchrun every process runs
the command itself: the launcher's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` decide the layout and
the process joins the launcher's ``env://`` group (:func:`launcher_layout`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.multiprocessing as mp
from fvcore.common.config import CfgNode

from slowvid.config import import_project_of
from slowvid.config.validation import infer_and_check

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
    return _run_in_group(
        func,
        cfg,
        init_method,
        rank=cfg.SHARD_ID * per_machine + local_rank,
        world_size=per_machine * cfg.NUM_SHARDS,
        local_rank=local_rank,
    )


def _run_in_group(
    func: Callable[[CfgNode], object],
    cfg: CfgNode,
    init_method: str,
    *,
    rank: int,
    world_size: int,
    local_rank: int,
    attempt: int = 0,
) -> object:
    """Join the run's process group as ``rank``, run ``func(cfg)`` and leave the group."""
    if cfg.NUM_GPUS > 0:
        torch.cuda.set_device(local_rank)
    comm.init_process_group(
        backend=backend_of(cfg),
        init_method=init_method,
        world_size=world_size,
        rank=rank,
        timeout_minutes=cfg.DIST_TIMEOUT_MINUTES,
        attempt=attempt,
    )
    try:
        result = func(cfg)
        # Leave together: a rank tearing its group down while another still talks to it
        # can abort the process. Heartbeats stop first: rank 0 hosts the store they write to
        # and may exit right after the barrier; a heartbeat thread caught mid-call at exit
        # aborted a worker ("terminate called without an active exception").
        comm.stop_heartbeat()
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


@dataclass(frozen=True)
class LauncherLayout:
    """Where an external launcher (torchrun, torch elastic, a Kubernetes PyTorchJob) put this
    process: read from the ``env://`` variables it exports.

    Attributes:
        rank: global rank.
        world_size: processes in the run.
        local_rank: index of this process on its machine.
        local_world_size: processes on this machine.
        node_rank: index of this machine.
        num_nodes: machines in the run.
        attempt: restarts of the run so far (torch elastic's ``--max-restarts``).
        run_id: the launcher's id of the run, the same in every attempt ("" if none).
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    node_rank: int
    num_nodes: int
    attempt: int = 0
    run_id: str = ""


# What env:// rendezvous itself needs; torchrun exports all four (and more) to each worker.
_ENV_RENDEZVOUS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def launcher_layout(environ: dict[str, str] | None = None) -> LauncherLayout | None:
    """The layout an external launcher gave this process, or None when no launcher did.

    Args:
        environ: the environment to read (``os.environ`` by default).
    """
    env = os.environ if environ is None else environ
    if not all(k in env for k in _ENV_RENDEZVOUS):
        return None
    world = int(env["WORLD_SIZE"])
    local_world = int(env.get("LOCAL_WORLD_SIZE", 1))
    return LauncherLayout(
        rank=int(env["RANK"]),
        world_size=world,
        local_rank=int(env.get("LOCAL_RANK", 0)),
        local_world_size=local_world,
        node_rank=int(env.get("GROUP_RANK", int(env["RANK"]) // local_world)),
        num_nodes=int(env.get("GROUP_WORLD_SIZE", max(world // local_world, 1))),
        attempt=int(env.get("TORCHELASTIC_RESTART_COUNT", 0)),
        run_id=env.get("TORCHELASTIC_RUN_ID", ""),
    )


def config_for_layout(cfg: CfgNode, layout: LauncherLayout) -> CfgNode:
    """``cfg`` with NUM_SHARDS, SHARD_ID and the per-machine process count set from the
    launcher's layout, which is what runs; the config's own values would disagree with it.

    Raises:
        ValueError: the launcher's processes differ from machine to machine, or the batch
            sizes do not divide among them (naming the keys).
    """
    if layout.world_size != layout.local_world_size * layout.num_nodes:
        raise ValueError(
            f"the launcher started {layout.world_size} processes on {layout.num_nodes} "
            f"machines, {layout.local_world_size} on this one: slowvid needs the same number "
            "of processes on every machine (torchrun --nproc-per-node)"
        )
    asked = processes_per_machine(cfg)
    if asked not in (1, layout.local_world_size):
        logger.warning(
            "%s %d is overridden: the launcher started %d processes on this machine",
            "NUM_GPUS" if cfg.NUM_GPUS > 0 else "NUM_CPU_PROCESSES",
            asked,
            layout.local_world_size,
        )
    cfg = cfg.clone()
    cfg.defrost()
    cfg.NUM_SHARDS, cfg.SHARD_ID = layout.num_nodes, layout.node_rank
    if cfg.NUM_GPUS > 0:
        cfg.NUM_GPUS = layout.local_world_size
    else:
        cfg.NUM_CPU_PROCESSES = layout.local_world_size
    infer_and_check(cfg)  # batch sizes must divide among the launcher's processes
    cfg.freeze()
    return cfg


def launch_job(cfg: CfgNode, func: Callable[[CfgNode], object], init_method: str | None = None):
    """Run ``func(cfg)`` in every process of the run, on this machine's share of them.

    Under an external launcher (:func:`launcher_layout`) this process is one rank of the run:
    it joins the launcher's ``env://`` group and runs ``func`` itself, starting nothing.

    Args:
        cfg: the merged config; NUM_GPUS, NUM_CPU_PROCESSES, NUM_SHARDS and SHARD_ID decide
            how many processes start here and which global ranks they take.
        func: the job, e.g. ``engine.train``; it runs after the process group is joined.
        init_method: rendezvous address; required with several machines, a free local
            port otherwise. Not allowed under an external launcher, which has its own.
    Returns:
        ``func``'s return value when this machine runs one process, else None.
    """
    layout = launcher_layout()
    if layout is not None:
        return _run_under_launcher(cfg, func, layout, init_method)
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


def _run_under_launcher(
    cfg: CfgNode,
    func: Callable[[CfgNode], object],
    layout: LauncherLayout,
    init_method: str | None,
) -> object:
    if init_method is not None:
        raise ValueError(
            f"--init-method {init_method} was given, but this process was started by a "
            "launcher (torchrun) whose env:// rendezvous decides the group; drop --init-method"
        )
    cfg = config_for_layout(cfg, layout)
    check_devices(cfg)
    import_project_of(cfg)  # every torchrun worker loads the run spec itself; a no-op then
    if layout.world_size == 1:
        return func(cfg)
    return _run_in_group(
        func,
        cfg,
        "env://",
        rank=layout.rank,
        world_size=layout.world_size,
        local_rank=layout.local_rank,
        attempt=layout.attempt,
    )
