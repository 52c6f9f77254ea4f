"""Multigrid schedules (Wu et al., "A Multigrid Method for Efficiently Training Video Models",
arXiv:1912.00998), as PySlowFast's MULTIGRID keys define them; written anew from the paper and
PySlowFast's schedule rules (Apache-2.0), not copied.

Long cycle: training runs through stages of smaller clips (fewer frames, smaller crops) with
proportionally larger batches, so every stage costs about the same per iteration; each LR step
interval is split over the long-cycle shapes in proportion to their batch factors, a
fine-tuning phase on the full shape ends the run, and the epochs are rescaled so the whole
schedule lasts ``MAX_EPOCH x EPOCH_FACTOR``. The LR of a stage is the step's LR times the
stage's batch factor (linear scaling).

Short cycle: within a stage, iteration ``i`` uses crop ``i % 3`` of
``(DEFAULT_S x SHORT_CYCLE_FACTORS[0], DEFAULT_S x SHORT_CYCLE_FACTORS[1], stage crop)`` with
the batch grown by the square of the crop ratio.

In a run, :func:`apply_long_cycle` rewrites the solver keys, :class:`LongCycleLoader` (a hook)
rebuilds the training loader when a stage starts, and the short cycle is a batch sampler of the
loader (``slowvid.data.samplers.ShortCycleBatchSampler``, with :func:`short_cycle_shape`, which
this module re-exports) whose items carry their crop size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fvcore.common.config import CfgNode
from torch import nn

from slowvid.data import build_loader, shuffle_loader
from slowvid.data.samplers import default_crop, short_cycle_shape
from slowvid.distributed import comm
from slowvid.layers import AllReduceBatchNorm, SplitBatchNorm, swap_batchnorms

from .hooks import HookBase

__all__ = [
    "LongCycleBatchNorm",
    "LongCycleLoader",
    "long_cycle_eval_epochs",
    "long_cycle_norm",
    "MultigridStage",
    "apply_long_cycle",
    "default_crop",
    "long_cycle_schedule",
    "multigrid_lr_steps",
    "short_cycle_shape",
    "stage_config",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultigridStage:
    """One long-cycle stage.

    Attributes:
        step_index: the SOLVER.STEPS interval it belongs to (the last one: fine-tuning).
        batch_factor: batch size relative to TRAIN.BATCH_SIZE.
        num_frames: frames per clip.
        crop_size: training crop side.
        end_epoch: first epoch after the stage (cumulative, rounded).
    """

    step_index: int
    batch_factor: int
    num_frames: int
    crop_size: int
    end_epoch: int


def _shapes(
    num_frames: int,
    crop_size: int,
    t_factor: float,
    s_factor: float,
    short_cycle_factors: Sequence[float] | None,
) -> list[tuple[int, int, int]]:
    """``(batch factor, frames, crop)`` of one long-cycle shape, short-cycle variants first."""
    base_t, base_s = round(num_frames * t_factor), round(crop_size * s_factor)
    crops = [round(crop_size * f) for f in short_cycle_factors or ()] + [base_s]
    size = num_frames * crop_size**2  # a default clip's pixels: every shape keeps B*T*S*S
    return [(round(size / (base_t * s * s)), base_t, s) for s in crops]


def long_cycle_schedule(
    *,
    num_frames: int,
    crop_size: int,
    steps: Sequence[float],
    max_epoch: float,
    long_cycle_factors: Sequence[Sequence[float]],
    short_cycle_factors: Sequence[float] | None = None,
    epoch_factor: float = 1.5,
) -> list[MultigridStage]:
    """The long-cycle stages of a run.

    Args:
        num_frames: DATA.NUM_FRAMES of the full shape.
        crop_size: DATA.TRAIN_CROP_SIZE of the full shape (MULTIGRID.DEFAULT_S).
        steps: SOLVER.STEPS of the run without multigrid (starting at 0).
        max_epoch: SOLVER.MAX_EPOCH without multigrid.
        long_cycle_factors: ``[(t_factor, s_factor), ...]`` from the smallest shape to (1, 1).
        short_cycle_factors: the two short-cycle crop factors, or None without a short cycle
            (the average batch of a stage then counts its short-cycle iterations too).
        epoch_factor: the multigrid run lasts ``max_epoch * epoch_factor`` epochs.
    Returns:
        The stages in order; the last is the fine-tuning phase on the full shape.
    """
    all_shapes = [
        _shapes(num_frames, crop_size, t, s, short_cycle_factors) for t, s in long_cycle_factors
    ]
    avg_batch = [sum(b for b, _, _ in shapes) / len(shapes) for shapes in all_shapes]
    raw: list[tuple[int, tuple[int, int, int], float]] = []
    iters = 0.0
    for step_index in range(len(steps) - 1):
        step_epochs = steps[step_index + 1] - steps[step_index]
        for shapes, batch in zip(all_shapes, avg_batch):
            epochs = step_epochs * batch / sum(avg_batch)
            iters += epochs / batch
            raw.append((step_index, shapes[-1], epochs))
    # The fine-tuning phase saves as many iterations, relatively, as the rest of the run.
    saving = steps[-1] / iters
    raw.append((len(steps) - 1, all_shapes[-1][-1], (max_epoch - steps[-1]) / saving))
    scale = max_epoch * epoch_factor / sum(epochs for _, _, epochs in raw)
    stages, total = [], 0.0
    for step_index, (batch, frames, crop), epochs in raw:
        total += epochs * scale
        stages.append(MultigridStage(step_index, batch, frames, crop, round(total)))
    return stages


def multigrid_lr_steps(
    stages: Sequence[MultigridStage], lrs: Sequence[float]
) -> tuple[list[int], list[float], int]:
    """SOLVER.STEPS, SOLVER.LRS and SOLVER.MAX_EPOCH of a long-cycle run.

    Args:
        stages: from :func:`long_cycle_schedule`.
        lrs: SOLVER.LRS without multigrid, one per step interval.
    Returns:
        ``(steps, lrs, max_epoch)``: a step per stage; the fine-tuning phase keeps the last
        stage's rate for its first half.
    """
    ends = [stage.end_epoch for stage in stages]
    new_steps = [0, *ends[:-1], (ends[-2] + ends[-1]) // 2]
    rates = [lrs[stage.step_index] * stage.batch_factor for stage in stages]
    return new_steps, [*rates[:-1], rates[-2], rates[-1]], ends[-1]


def apply_long_cycle(cfg: CfgNode) -> tuple[CfgNode, list[MultigridStage]]:
    """The run's config with the long cycle's SOLVER.STEPS / LRS / MAX_EPOCH, and its stages.

    Returns ``(cfg, [])`` unchanged without MULTIGRID.LONG_CYCLE.
    """
    if not cfg.MULTIGRID.LONG_CYCLE:
        return cfg, []
    m = cfg.MULTIGRID
    stages = long_cycle_schedule(
        num_frames=cfg.DATA.NUM_FRAMES,
        crop_size=default_crop(cfg),
        steps=cfg.SOLVER.STEPS,
        max_epoch=cfg.SOLVER.MAX_EPOCH,
        long_cycle_factors=m.LONG_CYCLE_FACTORS,
        short_cycle_factors=m.SHORT_CYCLE_FACTORS if m.SHORT_CYCLE else None,
        epoch_factor=m.EPOCH_FACTOR,
    )
    steps, lrs, max_epoch = multigrid_lr_steps(stages, cfg.SOLVER.LRS)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.SOLVER.STEPS, cfg.SOLVER.LRS, cfg.SOLVER.MAX_EPOCH = steps, lrs, max_epoch
    cfg.freeze()
    logger.info(
        "multigrid long cycle: %s",
        ", ".join(
            f"{s.batch_factor}x{s.num_frames}x{s.crop_size} to epoch {s.end_epoch}" for s in stages
        ),
    )
    return cfg, stages


def stage_config(cfg: CfgNode, stage: MultigridStage) -> CfgNode:
    """``cfg`` for the training loader of one stage: batch, frames, crop and jitter scaled."""
    ratio = stage.crop_size / default_crop(cfg)
    out = cfg.clone()
    out.defrost()
    out.TRAIN.BATCH_SIZE = cfg.TRAIN.BATCH_SIZE * stage.batch_factor
    out.DATA.NUM_FRAMES = stage.num_frames
    out.DATA.TRAIN_CROP_SIZE = stage.crop_size
    out.DATA.TRAIN_JITTER_SCALES = [round(s * ratio) for s in cfg.DATA.TRAIN_JITTER_SCALES]
    out.freeze()
    return out


def stage_at(stages: Sequence[MultigridStage], epoch: int) -> MultigridStage:
    """The stage training ``epoch`` (0-based) belongs to."""
    return next((s for s in stages if epoch < s.end_epoch), stages[-1])


class _StageHook(HookBase):
    """A hook that acts when the epoch starting enters another long-cycle stage."""

    def __init__(self, cfg: CfgNode, stages: Sequence[MultigridStage]):
        self.cfg = cfg
        self.stages = list(stages)
        self.current: MultigridStage | None = None

    def before_epoch(self) -> None:
        stage = stage_at(self.stages, self.trainer.epoch)
        if stage != self.current:
            self.current = stage
            self.enter(stage)

    def enter(self, stage: MultigridStage) -> None:
        raise NotImplementedError


class LongCycleLoader(_StageHook):
    """Swaps in the training loader of each long-cycle stage as the stage begins.

    Runs first among the hooks: the trainer has already shuffled its old loader for the epoch,
    so the new one is shuffled here with the same epoch (a resumed run rebuilds the same one).
    """

    def enter(self, stage: MultigridStage) -> None:
        self.trainer.loader = build_loader(stage_config(self.cfg, stage), "train")
        shuffle_loader(self.trainer.loader, self.trainer.epoch)
        logger.info(
            "multigrid stage from epoch %d: batch %d, %d frames, crop %d",
            self.trainer.epoch + 1,
            self.cfg.TRAIN.BATCH_SIZE * stage.batch_factor,
            stage.num_frames,
            stage.crop_size,
        )


def long_cycle_norm(batch_per_process: int, bn_base_size: int) -> tuple[str, int]:
    """The batch norm of a long-cycle stage, as PySlowFast picks it, so statistics always
    cover about MULTIGRID.BN_BASE_SIZE clips: ``("split", k)`` normalises k splits of a larger
    batch apart, ``("sync", n)`` pools n processes' smaller batches, ``("plain", 1)`` neither."""
    factor = batch_per_process / bn_base_size
    if factor > 1:
        return "split", int(factor)
    if factor < 1:
        return "sync", int(1.0 / factor)
    return "plain", 1


class LongCycleBatchNorm(_StageHook):
    """Switches the model's batch norms as each long-cycle stage begins (MULTIGRID.BN_BASE_SIZE).

    The layers are swapped for another kind holding the same parameters and buffers, so the
    optimizer, DDP and checkpoints see no change. Runs after :class:`LongCycleLoader`.
    """

    def enter(self, stage: MultigridStage) -> None:
        world = comm.get_world_size()
        per_process = self.cfg.TRAIN.BATCH_SIZE * stage.batch_factor // world
        kind, n = long_cycle_norm(per_process, self.cfg.MULTIGRID.BN_BASE_SIZE)
        make = _norm_maker(kind, n, world, world // self.cfg.NUM_SHARDS, self.trainer.device)
        model = self.trainer.model
        inner = model.module if hasattr(model, "module") else model
        for name, child in list(inner.named_children()):
            setattr(inner, name, swap_batchnorms(child, make))
        logger.info(
            "multigrid stage batch norm: %s over %d (batch %d per process)", kind, n, per_process
        )


def _norm_maker(kind: str, n: int, world: int, per_machine: int, device):
    """``make(old_norm) -> new norm`` of a stage (see :func:`long_cycle_norm`)."""

    def args(bn):
        return dict(eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                    track_running_stats=bn.track_running_stats)  # fmt: skip

    if kind == "split":
        return lambda bn: SplitBatchNorm(bn.num_features, num_splits=n, **args(bn))
    if kind == "sync" and world > 1:
        if per_machine % n:
            raise ValueError(
                f"MULTIGRID.BN_BASE_SIZE: the stage pools batch norm over {n} processes, which "
                f"does not divide the {per_machine} of a machine"
            )
        group = comm.consecutive_subgroup(n)
        if device.type == "cuda":
            return lambda bn: nn.SyncBatchNorm(bn.num_features, process_group=group, **args(bn))
        return lambda bn: AllReduceBatchNorm(bn.num_features, process_group=group, **args(bn))
    # One process has no one to pool with: plain batch norm, as PySlowFast's falls back.
    return lambda bn: nn.BatchNorm3d(bn.num_features, **args(bn))


def long_cycle_eval_epochs(stages: Sequence[MultigridStage], eval_freq: int, max_epoch: int):
    """``done -> evaluate?`` of a long-cycle run (PySlowFast's rule): about ``eval_freq``
    evaluations per stage, the last one at its end, and one after the last epoch."""
    ends = [s.end_epoch for s in stages]

    def is_eval_epoch(done: int) -> bool:
        if done == max_epoch:
            return True
        previous = 0
        for end in ends:
            if done - 1 < end:
                period = max((end - previous) // eval_freq + 1, 1)
                return (end - done) % period == 0
            previous = end
        return False

    return is_eval_epoch
