"""Hooks: what happens around the training loop without being written into it.

The loop (``Trainer``) only trains. Checkpointing, evaluation and logging are hooks, and a
project adds its own by registering a ``HookBase`` subclass in ``HOOKS`` and naming it in
``TRAIN.HOOKS``; the loop itself is never edited for a project.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from slowvid.checkpoint import is_sharded_model, save_checkpoint
from slowvid.distributed import comm
from slowvid.distributed.lease import OutputDirBusy, OutputDirLease
from slowvid.registry import HOOKS
from slowvid.visualization import write_input_clips

from .parallel import sync_buffers

if TYPE_CHECKING:
    from .trainer import Trainer

logger = logging.getLogger(__name__)


class HookBase:
    """Called by the Trainer at fixed points; ``self.trainer`` is set before ``before_train``."""

    trainer: Trainer

    def before_train(self) -> None: ...

    def before_epoch(self) -> None: ...

    def after_step(self) -> None: ...

    def after_epoch(self) -> None: ...

    def after_train(self) -> None: ...


class PeriodicCheckpoint(HookBase):
    """Save after every ``period`` epochs and after the last one (rank 0 writes)."""

    def __init__(
        self,
        *,
        output_dir: str,
        period: int,
        extra_state: Callable[[], dict] | None = None,
        cfg_dump: str | None = None,
    ):
        self.output_dir = output_dir
        self.period = period
        self.extra_state = extra_state
        self.cfg_dump = cfg_dump

    def after_epoch(self) -> None:
        trainer = self.trainer
        done = trainer.epoch + 1
        if done % self.period and done != trainer.max_epoch:
            return
        path = save_run_checkpoint(
            self.output_dir,
            done,
            trainer.model,
            trainer.optimizer,
            cfg=self.cfg_dump,
            extra=self.extra_state() if self.extra_state else None,
        )
        if path:
            logger.info("saved checkpoint %s", path)
        comm.synchronize()  # no rank runs ahead of a checkpoint it might need to resume from


def every_period(period: int, max_epoch: int) -> Callable[[int], bool]:
    """``epochs done -> evaluate?``: every ``period`` epochs and after the last one."""
    return lambda done: period > 0 and (done % period == 0 or done == max_epoch)


def save_run_checkpoint(output_dir: str, epoch: int, model, optimizer, **kwargs) -> str | None:
    """Save the run's state: rank 0 writes a file, or, for an FSDP model, every rank writes
    its shards (with rank 0's BatchNorm statistics, as a DDP run saves them).

    Returns:
        The path written, on the ranks that wrote; None elsewhere.
    """
    if is_sharded_model(model):
        sync_buffers(model)
        return save_checkpoint(output_dir, epoch, model, optimizer, **kwargs)
    if comm.is_main_process():
        return save_checkpoint(output_dir, epoch, model, optimizer, **kwargs)
    return None


class LeaseWatch(HookBase):
    """Stops training once the run has lost its OUTPUT_DIR lease to another launch."""

    def __init__(self, lease: OutputDirLease):
        self.lease = lease

    def after_step(self) -> None:
        if self.lease.lost:
            raise OutputDirBusy(self.lease.lost)


class PeriodicEval(HookBase):
    """Evaluate on the validation loader every ``period`` epochs and after the last one, or on
    the epochs ``when(epochs done)`` picks (multigrid's long cycle)."""

    def __init__(
        self,
        *,
        period: int,
        evaluate: Callable[[int], dict],
        when: Callable[[int], bool] | None = None,
    ):
        self.period = period
        self.evaluate = evaluate
        self.when = when

    def after_epoch(self) -> None:
        done = self.trainer.epoch + 1
        when = self.when or every_period(self.period, self.trainer.max_epoch)
        if self.period > 0 and when(done):
            self.evaluate(done)


class LossExplosion(Exception):
    """A step's loss jumped past TRAIN.KILL_LOSS_EXPLOSION_FACTOR times its recent mean."""


class StopOnLossExplosion(HookBase):
    """Stops training when a step's loss (averaged over processes) exceeds ``factor`` times the
    mean of the 5 losses before it, as PySlowFast's TRAIN.KILL_LOSS_EXPLOSION_FACTOR: the last
    ``window`` losses of the epoch are kept (its LOG_PERIOD), and the check starts once they
    hold 7, so a window under 7 never stops."""

    def __init__(self, *, factor: float, window: int):
        self.factor = factor
        self.window = window

    def before_epoch(self) -> None:
        self.losses: deque[float] = deque(maxlen=self.window)

    def after_step(self) -> None:
        (total,) = comm.all_reduce_sum([self.trainer.step_stats["loss"]])
        loss = total / comm.get_world_size()
        self.losses.append(loss)
        if len(self.losses) <= 6:
            return
        recent = sum(list(self.losses)[-6:-1]) / 5
        if loss > self.factor * recent:
            raise LossExplosion(
                f"loss {loss:.4g} at epoch {self.trainer.epoch + 1}, iteration "
                f"{self.trainer.iter + 1} exceeds TRAIN.KILL_LOSS_EXPLOSION_FACTOR "
                f"{self.factor} x {recent:.4g} (the mean of the 5 steps before it)"
            )


class InputClipsToTensorboard(HookBase):
    """After the run's first step, write that batch's clips (augmented) to TensorBoard.

    Args:
        writer: a ``TensorboardWriter``.
        mean, std: DATA.MEAN / DATA.STD, to show normalised clips as pixels.
        max_clips: clips written per pathway.
    """

    def __init__(self, *, writer, mean, std, max_clips: int):
        self.writer, self.mean, self.std, self.max_clips = writer, mean, std, max_clips
        self.done = False

    def after_step(self) -> None:
        summary = self.writer.summary_writer()
        if self.done or summary is None:
            return
        self.done = True
        step = self.trainer.epoch * self.trainer.num_iters + self.trainer.iter
        write_input_clips(
            summary, self.trainer.batch["inputs"], step, self.mean, self.std, self.max_clips
        )


def build_extra_hooks(names: list[str]) -> list[HookBase]:
    """Instantiate the HOOKS named in ``TRAIN.HOOKS``."""
    return [HOOKS.get(name)() for name in names]
