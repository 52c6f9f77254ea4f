"""Samplers of the data loaders, and the short cycle's per-iteration batch and crop sizes.

    train, one process:   EpochRandomSampler   (permutation seeded by RNG_SEED + epoch)
    train, many:          DistributedSampler   (shuffled, seeded, epoch via set_epoch)
    val/test:             ShardSampler         (indices[rank::world], no padding, so every
                                                view is evaluated exactly once overall)

Multigrid's short cycle (Wu et al., arXiv:1912.00998) batches through
:class:`ShortCycleBatchSampler`, whose items are ``(index, crop_size)`` pairs that datasets with
``supports_crop_override`` honour; :func:`short_cycle_shape` is its arithmetic. The long cycle's
schedule lives with the trainer hooks in ``slowvid.engine.multigrid``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence

import torch
from fvcore.common.config import CfgNode
from torch.utils.data import DistributedSampler, Sampler

__all__ = [
    "EpochRandomSampler",
    "ShardSampler",
    "ShortCycleBatchSampler",
    "default_crop",
    "short_cycle_shape",
    "short_cycle_shapes",
]


class EpochRandomSampler(Sampler[int]):
    """A random permutation that depends only on ``seed + epoch``.

    Args:
        num_items: dataset length.
        seed: base seed (RNG_SEED).
    """

    def __init__(self, num_items: int, seed: int = 0):
        self.num_items = num_items
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.num_items, generator=g).tolist())

    def __len__(self) -> int:
        return self.num_items


class ShortCycleBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches whose crop cycles through smaller sizes with proportionally larger batches.

    Iteration ``i`` takes ``batch_size_and_crop(i)`` items; each item is ``(index, crop)``.
    Incomplete last batches are dropped, as the training loader always does.

    Args:
        sampler: the per-process training sampler (EpochRandomSampler or
            DistributedSampler; its epoch is set through this one).
        batch_size_and_crop: iteration -> (batch size, crop size), e.g. multigrid's
            ``short_cycle_shape``.
    """

    def __init__(
        self,
        sampler: EpochRandomSampler | DistributedSampler,
        batch_size_and_crop: Callable[[int], tuple],
    ):
        self.sampler = sampler
        self.batch_size_and_crop = batch_size_and_crop

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _sizes(self) -> Iterator[tuple[int, int]]:
        for i in itertools.count():
            yield self.batch_size_and_crop(i)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        indices = iter(self.sampler)
        for size, crop in self._sizes():
            batch = list(itertools.islice(indices, size))
            if len(batch) < size:
                return
            yield [(index, crop) for index in batch]

    def __len__(self) -> int:
        left, count = len(self.sampler), 0
        for size, _ in self._sizes():
            if size > left:
                return count
            left, count = left - size, count + 1
        return count


class ShardSampler(Sampler[int]):
    """Items ``rank, rank + world, ...``: a disjoint cover of the dataset without padding.

    Shards differ in length by at most one; evaluation code must therefore gather
    variable-length results (or count items) rather than assume equal shards.

    Args:
        num_items: dataset length.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, num_items: int, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        self.num_items = num_items
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_items, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_items, self.world_size))


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


def default_crop(cfg: CfgNode) -> int:
    """MULTIGRID.DEFAULT_S, or DATA.TRAIN_CROP_SIZE when it is 0."""
    return cfg.MULTIGRID.DEFAULT_S or cfg.DATA.TRAIN_CROP_SIZE


def short_cycle_shapes(cfg: CfgNode, batch_size: int) -> Callable[[int], tuple[int, int]]:
    """Iteration -> ``(batch size, crop)`` of the short cycle for this process's ``batch_size``
    (MULTIGRID.SHORT_CYCLE_FACTORS, MULTIGRID.DEFAULT_S, DATA.TRAIN_CROP_SIZE)."""
    return functools.partial(
        _shape_of_iteration,
        batch_size=batch_size,
        crop_size=cfg.DATA.TRAIN_CROP_SIZE,
        default_s=default_crop(cfg),
        factors=tuple(cfg.MULTIGRID.SHORT_CYCLE_FACTORS),
    )


def _shape_of_iteration(iteration: int, **kwargs) -> tuple[int, int]:
    # Module level, so worker processes can unpickle the batch sampler's callable.
    return short_cycle_shape(iteration, **kwargs)
