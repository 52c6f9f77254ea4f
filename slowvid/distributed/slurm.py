"""One task of a SLURM job submitted with submitit: join the run, train/test, requeue on a signal.

Every task of the job (``--ntasks-per-node`` = processes per machine) runs :class:`SlurmTask`.
It reads its rank from submitit's ``JobEnvironment``, rendezvouses at the job's first node on
a port derived from the job id (so tasks agree without talking, and a requeued job reuses it),
and runs the jobs (``engine.train``, ``engine.test``) in one process group.

Preemption and time limits: SLURM sends USR2 (``--signal``; with ``preempt_send_user_signal``
also on preemption) or TERM. Training records it and, at the next step boundary, every rank
writes a mid-epoch checkpoint together (``slowvid.engine.preempt``). After a USR2 rank 0 hands
over to submitit's own handler, which calls :meth:`SlurmTask.checkpoint` and requeues the job;
after a TERM the sender decides (``scontrol requeue`` requeues, ``scancel`` ends the job). The
requeued job auto-resumes from the checkpoint.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

import submitit
import torch
from fvcore.common.config import CfgNode

from slowvid.config import import_project_of

from . import comm, preemption
from .launch import backend_of, check_devices

logger = logging.getLogger(__name__)


def rendezvous_port(job_id: str) -> int:
    """A port every task of job ``job_id`` computes alike (array jobs: ``123_4``)."""
    digits = "".join(c for c in job_id if c.isdigit()) or "0"
    return 20_000 + int(digits) % 20_000


class SlurmTask(submitit.helpers.Checkpointable):
    """The callable submitit runs in every task.

    Args:
        load_cfg: builds the run's config in the task (a ``functools.partial`` of
            ``load_config``), so a project's parts are registered there too.
        jobs: run in order with the config, e.g. ``(engine.train, engine.test)``.
    """

    def __init__(
        self, load_cfg: Callable[[], CfgNode], jobs: Sequence[Callable[[CfgNode], object]]
    ):
        self.load_cfg = load_cfg
        self.jobs = list(jobs)

    def _config(self, env: submitit.JobEnvironment) -> CfgNode:
        cfg = self.load_cfg()
        per_node = env.num_tasks // env.num_nodes
        cfg.defrost()
        # SLURM's allocation decides the layout; the yaml's values would disagree with it.
        cfg.NUM_SHARDS, cfg.SHARD_ID = env.num_nodes, env.node
        if cfg.NUM_GPUS > 0:
            cfg.NUM_GPUS = per_node
        else:
            cfg.NUM_CPU_PROCESSES = per_node
        cfg.freeze()
        return cfg

    def __call__(self) -> list:
        env = submitit.JobEnvironment()
        cfg = self._config(env)
        import_project_of(cfg)  # load_cfg did when it merged the yaml; a custom one may not
        check_devices(cfg)
        os.environ["LOCAL_RANK"] = str(env.local_rank)
        if cfg.NUM_GPUS > 0:
            torch.cuda.set_device(env.local_rank)
        if env.num_tasks > 1:
            init_method = f"tcp://{env.hostnames[0]}:{rendezvous_port(env.job_id)}"
            comm.init_process_group(
                backend=backend_of(cfg),
                init_method=init_method,
                world_size=env.num_tasks,
                rank=env.global_rank,
                timeout_minutes=cfg.DIST_TIMEOUT_MINUTES,
            )
        submitit_handlers = preemption.arm()
        try:
            results = [job(cfg) for job in self.jobs]
            comm.stop_heartbeat()  # before the barrier, as launch.py: rank 0 hosts its store
            comm.synchronize()
        except preemption.Preempted as stop:
            self._requeue_or_exit(stop, env, submitit_handlers)
        finally:
            preemption.disarm(submitit_handlers)
        comm.destroy_process_group()
        return results

    @staticmethod
    def _requeue_or_exit(
        stop: preemption.Preempted, env: submitit.JobEnvironment, handlers: dict
    ) -> None:
        logger.warning("job %s rank %d: %s", env.job_id, env.global_rank, stop)
        handler = handlers.get(signal.SIGUSR2)
        if stop.signum == signal.SIGUSR2 and env.global_rank == 0 and callable(handler):
            # submitit's handler: calls self.checkpoint(), requeues, and exits with -1.
            handler(signal.SIGUSR2, None)
        # No result file: to submitit the job is not over, whatever SLURM does next.
        sys.exit(-1)
