"""Building datasets and data loaders from the config, with distributed-aware samplers.

Batch sizes in the config are totals over all processes; each process loads
``total // world_size``. World size and rank come from ``torch.distributed`` when a process
group is initialised, so the same call works in one process and under any launcher.

Samplers:
    train, one process:   EpochRandomSampler   (permutation seeded by RNG_SEED + epoch)
    train, many:          DistributedSampler   (shuffled, seeded, epoch via set_epoch)
    val/test:             ShardSampler         (indices[rank::world], no padding, so every
                                                view is evaluated exactly once overall)

With MULTIGRID.SHORT_CYCLE the training loader batches through :class:`ShortCycleBatchSampler`,
whose items are ``(index, crop_size)`` pairs that clip datasets honour.

Call :func:`shuffle_loader` before each epoch: it sets the sampler's epoch and reseeds the
generator the loader draws its worker seeds from, so epoch ``e`` of a resumed run loads the
same clips with the same augmentations as epoch ``e`` of an uninterrupted one.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import logging
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from slowvid.registry import DATASETS

from .augment import Mixup, MixupCollate, build_mixup
from .device_decoding import EncodedBatch, EncodedClip
from .shards import StreamingDataset
from .transforms import is_channels_last

__all__ = [
    "EpochRandomSampler",
    "ShardSampler",
    "ShortCycleBatchSampler",
    "build_dataset",
    "build_loader",
    "collate_clips",
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
        sampler: the per-process index sampler (its epoch is set through this one).
        batch_size_and_crop: iteration -> (batch size, crop size), e.g. multigrid's
            ``short_cycle_shape``.
    """

    def __init__(self, sampler: Sampler[int], batch_size_and_crop: Callable[[int], tuple]):
        self.sampler = sampler
        self.batch_size_and_crop = batch_size_and_crop

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
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


def _short_cycle_shapes(cfg, batch_size: int) -> Callable[[int], tuple[int, int]]:
    from slowvid.engine.multigrid import default_crop, short_cycle_shape  # engine sits above

    return functools.partial(
        _shape_of_iteration,
        shape=short_cycle_shape,
        batch_size=batch_size,
        crop_size=cfg.DATA.TRAIN_CROP_SIZE,
        default_s=default_crop(cfg),
        factors=tuple(cfg.MULTIGRID.SHORT_CYCLE_FACTORS),
    )


def _shape_of_iteration(iteration: int, *, shape, **kwargs) -> tuple[int, int]:
    # Module level, so worker processes can unpickle the batch sampler's callable.
    return shape(iteration, **kwargs)


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


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch dataset items, dropping failed ones but keeping their paths.

    Args:
        items: dicts with ``inputs`` (list of ``(C, T, H, W)`` per pathway, or
            ``(N, C, T, H, W)`` for N augmented copies, or None), ``label`` (an int, or a
            tensor such as a multi-hot vector), ``video_index`` and ``failed``.

    Returns:
        ``{"inputs": list of (B, C, T, H, W) per pathway (an :class:`EncodedBatch` when the
        items are :class:`EncodedClip`), or None when every item failed,
        "label": LongTensor (B,) or the stacked label tensors, "video_index": LongTensor (B,),
        "failed": list[str]}``; with copies, B counts every copy and labels repeat.
    """
    failed = [path for item in items for path in item["failed"]]
    good = [item for item in items if item["inputs"] is not None]
    if good and isinstance(good[0]["inputs"], EncodedClip):  # decoded later, on the device
        copies = [item["inputs"].num_views for item in good]
        inputs = EncodedBatch([item["inputs"] for item in good])
    elif good:
        copies = [x[0].shape[0] if x[0].dim() == 5 else 1 for x in (i["inputs"] for i in good)]
        inputs = [_batch_clips(pathway) for pathway in zip(*(item["inputs"] for item in good))]
    else:
        copies, inputs = [], None
    labels = [item["label"] for item, n in zip(good, copies) for _ in range(n)]
    if labels and isinstance(labels[0], torch.Tensor):
        label = torch.stack(labels)
    else:
        label = torch.tensor(labels, dtype=torch.long)
    indices = [item["video_index"] for item, n in zip(good, copies) for _ in range(n)]
    return {
        "inputs": inputs,
        "label": label,
        "video_index": torch.tensor(indices, dtype=torch.long),
        "failed": failed,
    }


def _batch_clips(clips: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate ``(C, T, H, W)`` clips or ``(N, C, T, H, W)`` copies into one batch.

    Channels-last clips (uint8 pixels) are batched channels-last too (``channels_last_3d``):
    a plain cat would move every byte across the channel axis, which the device does for free.
    """
    parts = [x if x.dim() == 5 else x.unsqueeze(0) for x in clips]
    if all(is_channels_last(x) for x in parts):
        return torch.cat([x.permute(0, 2, 3, 4, 1) for x in parts]).permute(0, 4, 1, 2, 3)
    return torch.cat(parts)


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


def build_dataset(cfg, split: str) -> Dataset:
    """The dataset named by TRAIN.DATASET (train, val) or TEST.DATASET (test).

    Args:
        cfg: the run config.
        split: "train", "val" or "test".
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    name = cfg.TEST.DATASET if split == "test" else cfg.TRAIN.DATASET
    cls = DATASETS.get(name)
    kwargs = cls.from_config(cfg, split)
    return cls(**kwargs)


def build_loader(cfg, split: str) -> DataLoader:
    """A data loader for this process's share of ``split``.

    Args:
        cfg: the run config.
        split: "train", "val" or "test".

    Returns:
        A DataLoader yielding :func:`collate_clips` batches; call :func:`shuffle_loader`
        with the epoch before iterating it.
    """
    dataset = build_dataset(cfg, split)
    training = split == "train"
    short_cycle = None
    if training and cfg.MULTIGRID.SHORT_CYCLE:
        world, _ = world_size_and_rank()
        short_cycle = _short_cycle_shapes(cfg, cfg.TRAIN.BATCH_SIZE // world)
    return make_loader(
        dataset,
        training=training,
        batch_size=cfg.TRAIN.BATCH_SIZE if training else cfg.TEST.BATCH_SIZE,
        num_workers=cfg.DATA_LOADER.NUM_WORKERS,
        seed=cfg.RNG_SEED,
        mixup=build_mixup(cfg) if training else None,
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
) -> DataLoader:
    """A data loader for this process's share of ``dataset``, without a config.

    Args:
        dataset: any dataset whose items ``collate_clips`` (or the dataset's own
            ``collate_fn``) batches.
        training: shuffled, sharded with padding-free drop-last batches (True), or every item
            exactly once across processes, in order (False).
        batch_size: total over all processes; each loads ``batch_size // world_size``.
        num_workers: loader worker processes.
        seed: base seed of the shuffling and of the workers' random streams.
        mixup: mixes each training batch in the collate (targets become probabilities).
        pin_memory: pin batches (only where CUDA is available).
        short_cycle: multigrid's iteration -> (batch size, crop) (training only).
        batch_size_key: how messages name ``batch_size`` (the config key).

    Returns:
        A DataLoader yielding :func:`collate_clips` batches; call :func:`shuffle_loader`
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
    if isinstance(dataset, StreamingDataset):
        if training and (short_cycle is not None or mixup is not None):
            raise ValueError(
                f"{type(dataset).__name__} streams its items: MULTIGRID.SHORT_CYCLE and "
                "MIXUP.ENABLE are not supported with it"
            )
        dataset.set_share(
            world_size=world, rank=rank, batch_size=batch_size // world, num_workers=num_workers
        )
        sampler: Sampler | None = None
    elif training and world > 1:
        sampler = DistributedSampler(
            dataset,
            num_replicas=world,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=True,
        )
    elif training:
        sampler = EpochRandomSampler(len(dataset), seed=seed)
    else:
        sampler = ShardSampler(len(dataset), rank=rank, world_size=world)
    # A dataset whose items are not single clips (e.g. AVA's boxes) brings its own.
    collate_fn = getattr(dataset, "collate_fn", collate_clips)
    if mixup is not None:
        collate_fn = MixupCollate(collate_fn, mixup)
    # Evaluation items may hold every view of a video (ClipDataset.views_per_item): the batch
    # size counts clips, as in PySlowFast, so such batches take fewer items.
    per_item = 1 if training else getattr(dataset, "views_per_item", 1)
    batching: dict[str, Any] = {"batch_size": max(batch_size // world // per_item, 1)}
    batching["sampler"] = sampler
    batching["drop_last"] = training
    if short_cycle is not None:
        if not hasattr(dataset, "crop_override"):
            raise ValueError(
                f"MULTIGRID.SHORT_CYCLE: {type(dataset).__name__} cannot change its crop size "
                "per batch (clip datasets can)"
            )
        batching = {"batch_sampler": ShortCycleBatchSampler(sampler, short_cycle)}
    loader = DataLoader(
        dataset,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory and torch.cuda.is_available(),
        worker_init_fn=functools.partial(_init_worker, seed=seed, rank=rank),
        generator=torch.Generator().manual_seed(_mix_seed(seed, rank, 0)),
        **batching,
    )
    # Kept on the loader so shuffle_loader can derive each epoch's generator seed.
    loader.slowvid_seed = (seed, rank)
    return loader


def shuffle_loader(loader: DataLoader, epoch: int) -> None:
    """Prepare ``loader`` for ``epoch``: sampler order and worker seeds depend on it only.

    With ``NUM_WORKERS 0`` items draw from the main process's ``random`` module, so that is
    reseeded here instead, for the same per-epoch reproducibility.
    """
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    if hasattr(loader.batch_sampler, "set_epoch"):  # multigrid's short cycle
        loader.batch_sampler.set_epoch(epoch)
    if isinstance(loader.dataset, StreamingDataset):
        loader.dataset.set_epoch(epoch)
    seed, rank = getattr(loader, "slowvid_seed", (0, 0))
    if loader.generator is not None:
        loader.generator.manual_seed(_mix_seed(seed, rank, epoch))
    if loader.num_workers == 0:
        random.seed(_mix_seed(seed, rank, epoch, 1))
