"""Checkpoint-and-stop on a signal (SLURM preemption or time limit), mid-epoch if need be.

The checkpoint is the end-of-step state: weights, optimizer, GradScaler (``extra_state``), the
epoch and the batches done in it (the LR schedule is a function of both), and every rank's
RNG states. A run resumed from it skips those batches of the same per-epoch order and ends
with the weights of an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slowvid.checkpoint import get_rng_state
from slowvid.distributed import comm, preemption

from .hooks import HookBase, save_run_checkpoint

logger = logging.getLogger(__name__)


class StopCheckpoint(HookBase):
    """After each optimizer step, if any rank recorded a stop signal, save and raise.

    Args:
        output_dir: the run's output directory.
        cfg_dump: the config as yaml, stored in the checkpoint.
        extra_state: further entries to store (e.g. the GradScaler state).
    """

    def __init__(
        self, *, output_dir: str, cfg_dump: str, extra_state: Callable[[], dict] | None = None
    ):
        self.output_dir = output_dir
        self.cfg_dump = cfg_dump
        self.extra_state = extra_state

    def after_step(self) -> None:
        t = self.trainer
        # Inside a gradient-accumulation group the partial gradients would be lost; after an
        # epoch's last batch the end-of-epoch hooks come first (the next check is one step on).
        if (t.iter + 1) % t.grad_accum_steps or t.iter + 1 == t.num_iters:
            return
        signum = preemption.agreed_stop()
        if not signum:
            return
        rng_states = comm.all_gather_object(get_rng_state())
        extra = dict(self.extra_state() if self.extra_state else {})
        extra["rng_states"] = rng_states
        path = save_run_checkpoint(
            self.output_dir,
            t.epoch,
            t.model,
            t.optimizer,
            cfg=self.cfg_dump,
            extra=extra,
            iteration=t.iter + 1,
        )
        if comm.is_main_process():
            logger.warning(
                "stop requested: saved %s (epoch %d, %d of %d batches done)",
                path,
                t.epoch + 1,
                t.iter + 1,
                t.num_iters,
            )
        comm.synchronize()
        raise preemption.Preempted(signum, path)


def rank_rng_state(resumed: dict) -> dict | None:
    """This rank's RNG states from a stop checkpoint, or None (with a warning on a mismatch)."""
    states = resumed.get("rng_states")
    if not states:
        return None
    if len(states) != comm.get_world_size():
        logger.warning(
            "checkpoint holds RNG states of %d ranks, this run has %d: fresh RNG states, so the "
            "resumed run will not repeat the interrupted one exactly",
            len(states),
            comm.get_world_size(),
        )
        return None
    return states[comm.get_rank()]
