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

TODO(#7): the loader that changes shape per stage and per iteration, and the hook that drives
it, are not written yet; ``infer_and_check`` refuses MULTIGRID.LONG_CYCLE / SHORT_CYCLE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MultigridStage", "long_cycle_schedule", "multigrid_lr_steps", "short_cycle_shape"]


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


def short_cycle_shape(
    iteration: int, *, batch_size: int, crop_size: int, default_s: int, factors: Sequence[float]
) -> tuple[int, int]:
    """``(batch size, crop size)`` of a short-cycle iteration within a long-cycle stage.

    Args:
        iteration: iteration index in the epoch.
        batch_size: the stage's batch size.
        crop_size: the stage's crop.
        default_s: MULTIGRID.DEFAULT_S, the crop the short-cycle factors multiply.
        factors: the two MULTIGRID.SHORT_CYCLE_FACTORS.
    """
    crops = [round(default_s * f) for f in factors] + [crop_size]
    crop = crops[iteration % 3]
    return max(1, round(batch_size * (crop_size / crop) ** 2)), crop
