"""Building datasets and data loaders from the config, with distributed-aware samplers.

Batch sizes in the config are totals over all processes; each process loads
``total // world_size``. World size and rank come from ``torch.distributed`` when a process
group is initialised, so the same call works in one process and under any launcher. The
samplers are in :mod:`slowvid.data.samplers`; the dataset says how its items are batched
(``collate_fn``) and whether multigrid's short cycle may change its crop
(``supports_crop_override``).

Call :func:`shuffle_loader` before each epoch: it sets the sampler's epoch and reseeds the
generator the loader draws its worker seeds from, so epoch ``e`` of a resumed run loads the
same clips with the same augmentations as epoch ``e`` of an uninterrupted one.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from slowvid.config.pyslowfast_keys import DATASET_NAMES
from slowvid.registry import DATASETS

from .augment import Mixup, MixupCollate
from .collate import collate_clips
from .datasets.base import VideoDataset
from .samplers import (
    EpochRandomSampler,
    ShardSampler,
    ShortCycleBatchSampler,
    short_cycle_shapes,
)
from .shards import StreamingDataset

__all__ = [
    "EpochRandomSampler",
    "ShardSampler",
    "ShortCycleBatchSampler",
    "VideoLoader",
    "build_dataset",
    "build_loader",
    "collate_clips",
    "dataset_class",
    "make_loader",
    "shuffle_loader",
    "world_size_and_rank",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def world_size_and_rank() -> tuple[int, int]:
    """``(world_size, rank)`` of the default process group, or ``(1, 0)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _mix_seed(*values: int) -> int:
    return int(np.random.SeedSequence([v % (2**32) for v in values]).generate_state(1)[0])


# mallopt parameters (malloc.h); 32 MiB is the largest mmap threshold glibc accepts on 64 bit.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BELOW = 32 * 2**20


def keep_freed_buffers() -> bool:
    """Make glibc keep freed clip-sized buffers for reuse instead of returning them.

    Decoded frames and clips are a few MiB each. By default glibc maps such blocks with mmap and
    unmaps them when freed, so every clip's buffers are fresh pages the kernel faults in and
    zeroes one by one: about a third of a loader worker's transform time, measured. Called in
    each worker, whose heap then stays at its peak (tens of MiB). Returns False where there is
    no glibc (macOS, musl), which is harmless.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    kept = libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)
    return bool(kept and libc.mallopt(_M_TRIM_THRESHOLD, 4 * _KEEP_BELOW))


def _init_worker(worker_id: int, *, seed: int, rank: int) -> None:
    keep_freed_buffers()
    _seed_worker(worker_id, seed=seed, rank=rank)


def _seed_worker(worker_id: int, *, seed: int, rank: int) -> None:
    # torch.initial_seed() here is the loader's per-epoch base seed + worker_id, so mixing it
    # in gives every (epoch, rank, worker) its own stream while staying reproducible.
    s = _mix_seed(seed, rank, worker_id, torch.initial_seed())
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def build_dataset(cfg, split: str) -> VideoDataset:
    """The dataset named by TRAIN.DATASET (train, val) or TEST.DATASET (test).

    Args:
        cfg: the run config.
        split: "train", "val" or "test".
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    name = cfg.TEST.DATASET if split == "test" else cfg.TRAIN.DATASET
    cls = dataset_class(name)
    kwargs = cls.from_config(cfg, split)
    return cls(**kwargs)


def dataset_class(name: str) -> type:
    """The registered dataset ``name`` names: its class name, or a PySlowFast spelling of it
    (lower case, "kinetics"; PySlowFast's PyTorchVideo readers, "ptvkinetics").

    Raises:
        KeyError: no dataset has that name; the message lists the registered ones.
    """
    if name in DATASETS:
        return DATASETS.get(name)
    registered = [n for n, _ in DATASETS]
    target = DATASET_NAMES.get(name.lower(), name)
    matches = [n for n in registered if n.lower() == target.lower()]
    if len(matches) != 1:
        raise KeyError(
            f"TRAIN/TEST.DATASET {name!r} names no registered dataset; registered: "
            f"{sorted(registered)} (matched without regard to case)"
        )
    return DATASETS.get(matches[0])


class VideoLoader(DataLoader):
    """A DataLoader whose epoch alone decides its sampler's order and its workers' seeds.

    Args:
        dataset: the dataset.
        seed: RNG_SEED.
        rank: this process's rank.
        **kwargs: the DataLoader's other arguments.
    """

    def __init__(self, dataset: VideoDataset, *, seed: int, rank: int, **kwargs: Any):
        super().__init__(dataset, **kwargs)
        self.seed = seed
        self.rank = rank

    def set_epoch(self, epoch: int) -> None:
        """Prepare the loader for ``epoch`` (see :func:`shuffle_loader`)."""
        if isinstance(self.sampler, EpochRandomSampler | DistributedSampler):
            self.sampler.set_epoch(epoch)
        if isinstance(self.batch_sampler, ShortCycleBatchSampler):
            self.batch_sampler.set_epoch(epoch)
        if isinstance(self.dataset, StreamingDataset):
            self.dataset.set_epoch(epoch)
        self.generator.manual_seed(_mix_seed(self.seed, self.rank, epoch))
        if self.num_workers == 0:
            random.seed(_mix_seed(self.seed, self.rank, epoch, 1))


def build_loader(cfg, split: str) -> VideoLoader:
    """A data loader for this process's share of ``split``.

    Args:
        cfg: the run config.
        split: "train", "val" or "test".

    Returns:
        A loader yielding the dataset's ``collate_fn`` batches; call :func:`shuffle_loader`
        with the epoch before iterating it.
    """
    dataset = build_dataset(cfg, split)
    training = split == "train"
    short_cycle = None
    if training and cfg.MULTIGRID.SHORT_CYCLE:
        world, _ = world_size_and_rank()
        short_cycle = short_cycle_shapes(cfg, cfg.TRAIN.BATCH_SIZE // world)
    return make_loader(
        dataset,
        training=training,
        batch_size=cfg.TRAIN.BATCH_SIZE if training else cfg.TEST.BATCH_SIZE,
        num_workers=cfg.DATA_LOADER.NUM_WORKERS,
        seed=cfg.RNG_SEED,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY,
        short_cycle=short_cycle,
        batch_size_key="TRAIN.BATCH_SIZE" if training else "TEST.BATCH_SIZE",
    )


def make_loader(
    dataset: Dataset,
    *,
    training: bool,
    batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    mixup: Mixup | None = None,
    pin_memory: bool = False,
    short_cycle: Callable[[int], tuple[int, int]] | None = None,
    batch_size_key: str = "batch_size",
) -> VideoLoader:
    """A data loader for this process's share of ``dataset``, without a config.

    Args:
        dataset: a :class:`VideoDataset` (batched by its ``collate_fn``), a
            :class:`StreamingDataset` (it picks its own share), or any map-style dataset whose
            items :func:`collate_clips` batches (one clip per item).
        training: shuffled, sharded with padding-free drop-last batches (True), or every item
            exactly once across processes, in order (False).
        batch_size: total over all processes; each loads ``batch_size // world_size`` clips.
        num_workers: loader worker processes.
        seed: base seed of the shuffling and of the workers' random streams.
        mixup: mixes each training batch in the collate (targets become probabilities), for
            a dataset not built with its own (``build_loader``'s datasets mix in their
            ``collate_fn`` from MIXUP.*).
        pin_memory: pin batches (only where CUDA is available).
        short_cycle: multigrid's iteration -> (batch size, crop) (training only).
        batch_size_key: how messages name ``batch_size`` (the config key).

    Returns:
        A loader yielding the dataset's ``collate_fn`` batches; call :func:`shuffle_loader`
        with the epoch before iterating it.
    """
    world, rank = world_size_and_rank()
    if batch_size < world:
        raise ValueError(
            f"{batch_size_key}={batch_size} is smaller than the number of processes ({world})"
        )
    if batch_size % world:
        logger.warning(
            "%s=%d is not a multiple of %d processes; each loads %d",
            batch_size_key,
            batch_size,
            world,
            batch_size // world,
        )
    declared = isinstance(dataset, VideoDataset | StreamingDataset)
    collate_fn = dataset.collate_fn if declared else collate_clips
    if training and mixup is not None:
        collate_fn = MixupCollate(collate_fn, mixup)
    batching: dict[str, Any] = {"drop_last": training}
    if isinstance(dataset, StreamingDataset):
        if training and (short_cycle is not None or mixup is not None):
            raise ValueError(
                f"{type(dataset).__name__} streams its items: MULTIGRID.SHORT_CYCLE and "
                "MIXUP.ENABLE are not supported with it"
            )
        per_rank = batch_size // world
        dataset.set_share(world_size=world, rank=rank, batch_size=per_rank, num_workers=num_workers)
        batching["batch_size"] = per_rank
    else:
        if training and world > 1:
            sampler: Sampler = DistributedSampler(
                dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
            )
        elif training:
            sampler = EpochRandomSampler(len(dataset), seed=seed)
        else:
            sampler = ShardSampler(len(dataset), rank=rank, world_size=world)
        # Evaluation items may hold every view of a video (views_per_item): the batch size
        # counts clips, as in PySlowFast, so such batches take fewer items.
        per_item = dataset.views_per_item if declared and not training else 1
        batching.update(batch_size=max(batch_size // world // per_item, 1), sampler=sampler)
        if training and short_cycle is not None:
            if not (declared and dataset.supports_crop_override):
                raise ValueError(
                    f"MULTIGRID.SHORT_CYCLE: {type(dataset).__name__} cannot change its crop "
                    "size per batch (clip datasets can)"
                )
            batching = {"batch_sampler": ShortCycleBatchSampler(sampler, short_cycle)}
    return VideoLoader(
        dataset,
        seed=seed,
        rank=rank,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory and torch.cuda.is_available(),
        worker_init_fn=functools.partial(_init_worker, seed=seed, rank=rank),
        generator=torch.Generator().manual_seed(_mix_seed(seed, rank, 0)),
        **batching,
    )


def shuffle_loader(loader: DataLoader, epoch: int) -> None:
    """Prepare ``loader`` for ``epoch``: sampler order and worker seeds depend on it only.

    With ``NUM_WORKERS 0`` items draw from the main process's ``random`` module, so that is
    reseeded here instead, for the same per-epoch reproducibility. A plain ``DataLoader``
    (not from :func:`build_loader`) only has that stream reseeded, as from seed 0, rank 0.
    """
    if isinstance(loader, VideoLoader):
        loader.set_epoch(epoch)
    elif loader.num_workers == 0:
        random.seed(_mix_seed(0, 0, epoch, 1))
