"""Video classification streamed from WebDataset tar shards (``TRAIN.DATASET VideoShards``).

For datasets on object storage (Kinetics-700, 650k videos) that are read as a few thousand
tar shards instead of as files: ``DATA.PATH_TO_DATA_DIR`` (a path or a URL, see
:func:`~slowvid.data.shards.open_url`) holds ``{split}.json``, the shard index written by
``tools/make_shards.py``. Clips are sampled, transformed and packed exactly as
:class:`ClipDataset` does it for files, with its DATA.* settings.

Epochs: in training each rank yields the same number of whole batches,
``total // (world_size x batch)`` of them, so that no rank waits in a collective for another
(drop-last, as the file datasets' DistributedSampler). Its loader workers share them out and
read their shards in turn, through a shuffle buffer (DATA.SHARD_SHUFFLE_BUFFER); a worker
whose shards run out before its share starts them again. When the shards hold equally many
samples and their count is a multiple of ranks x workers, every sample is read exactly once
per epoch. Evaluation reads every shard once, all views of every video.

Resuming: the shard order, the buffer and the augmentations of epoch ``e`` depend only on the
seed and ``e``, so a run resumed from a checkpoint repeats the epochs an uninterrupted run
would have run, provided the number of ranks and loader workers is unchanged (they decide
which reader reads which shard). A mid-epoch checkpoint resumes by reading its epoch's first
batches again and dropping them: exact, but it re-reads those shards.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
from collections.abc import Iterator
from typing import Any

import torch

from slowvid.data.class_names import CLASS_NAMES_FILE
from slowvid.data.decoding import DecodeError, open_video
from slowvid.data.shards import (
    StreamingDataset,
    assign_shards,
    iterate_samples,
    open_url,
    read_shard_index,
)
from slowvid.evaluation import Evaluator
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = ["VIDEO_EXTENSIONS", "VideoShards"]

logger = logging.getLogger(__name__)

# Extensions a sample's video may have, tried in this order.
VIDEO_EXTENSIONS = ("mp4", "webm", "mkv", "avi", "mov", "m4v")


@DATASETS.register()
class VideoShards(StreamingDataset):
    """Clips of the videos in a split's tar shards.

    Items are those of :class:`ClipDataset`: ``{"inputs", "label", "video_index", "failed"}``,
    one random clip per video in training, every temporal x spatial view in evaluation;
    ``video_index`` numbers the samples shard by shard in index order.

    Args:
        index_url: the split's shard index (``{split}.json``).
        shuffle_buffer: samples each reader shuffles among in training (1: shard order).
        seed: base seed of the shard order and the shuffle buffer (RNG_SEED).
        **clip_kwargs: the clip arguments of :class:`ClipDataset` (``training``, ``clip``,
            ``transform``, views, ...); not ``frame_folders``: shards hold video files.

    Raises:
        ValueError: a bad index, or ``shuffle_buffer`` < 1.
    """

    def __init__(self, *, index_url: str, shuffle_buffer: int = 64, seed: int = 0, **clip_kwargs):
        if shuffle_buffer < 1:
            raise ValueError(f"DATA.SHARD_SHUFFLE_BUFFER must be >= 1, got {shuffle_buffer}")
        if clip_kwargs.get("frame_folders") is not None:
            raise ValueError("VideoShards streams video files; DATA.VIDEO_FORMAT must be 'video'")
        # The clip pipeline of the file datasets, without their list of files.
        self.clips = ClipDataset(paths=[], labels=[], **clip_kwargs)
        self.index_url = index_url
        self.index = read_shard_index(index_url)
        self.offsets = self.index.offsets()
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.training = self.clips.training
        self.class_names = _class_names_beside(index_url)
        self.epoch = 0
        self.world_size, self.rank, self.batch_size, self.num_workers = 1, 0, 1, 0

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Reads DATA.PATH_TO_DATA_DIR, DATA.SHARD_SHUFFLE_BUFFER, RNG_SEED and the clip keys."""
        kwargs = ClipDataset.from_config(cfg, split)
        base = cfg.DATA.PATH_TO_DATA_DIR.rstrip("/")
        return {
            **kwargs,
            "index_url": f"{base}/{split}.json",
            "shuffle_buffer": cfg.DATA.SHARD_SHUFFLE_BUFFER,
            "seed": cfg.RNG_SEED,
        }

    @property
    def num_videos(self) -> int:
        return self.index.total

    @property
    def views_per_video(self) -> int:
        return self.clips.views_per_video

    @property
    def collate_fn(self):
        return self.clips.collate_fn

    def train_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        return self.clips.train_metrics(logits, labels)

    def make_evaluator(self, output_dir: str, tag: str) -> Evaluator:
        """The clip dataset's evaluator (single-label accuracy or, with multi-hot labels, mAP)
        over the split's videos, views pooled per video."""
        return self.clips.view_evaluator(self.num_videos)

    def set_share(self, *, world_size: int, rank: int, batch_size: int, num_workers: int):
        readers = world_size * max(num_workers, 1)
        if self.training and len(self.index.urls) < readers:
            raise ValueError(
                f"{self.index_url} lists {len(self.index.urls)} shards, fewer than the "
                f"{world_size} ranks x {max(num_workers, 1)} loader workers that read them: "
                "write more, smaller shards (tools/make_shards.py --samples-per-shard) or use "
                "fewer DATA_LOADER.NUM_WORKERS"
            )
        self.world_size, self.rank = world_size, rank
        self.batch_size, self.num_workers = batch_size, num_workers

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches_of(self, worker: int) -> int:
        """Training batches worker ``worker`` of this rank yields per epoch."""
        per_rank = self.index.total // (self.world_size * self.batch_size)
        workers = max(self.num_workers, 1)
        return per_rank // workers + (worker < per_rank % workers)

    def _shards_of(self, worker: int) -> list[int]:
        workers = max(self.num_workers, 1)
        return assign_shards(
            len(self.index.urls),
            reader=self.rank * workers + worker,
            num_readers=self.world_size * workers,
            epoch=self.epoch,
            seed=self.seed,
            shuffle=self.training,
        )

    def __len__(self) -> int:
        if self.training:
            return self.batch_size * sum(map(self._batches_of, range(max(self.num_workers, 1))))
        shards = itertools.chain.from_iterable(
            map(self._shards_of, range(max(self.num_workers, 1)))
        )
        return self.views_per_video * sum(self.index.num_samples[s] for s in shards)

    def _samples(self, shards: list[int]) -> Iterator[tuple[int, dict]]:
        """``(video_index, sample)`` of ``shards`` in turn."""
        for shard in shards:
            for position, sample in enumerate(iterate_samples(self.index.urls[shard])):
                yield self.offsets[shard] + position, sample

    def _shuffled(self, samples: Iterator, rng: random.Random) -> Iterator:
        buffer: list = []
        for sample in samples:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(sample)
                continue
            i = rng.randrange(len(buffer))
            buffer[i], sample = sample, buffer[i]
            yield sample
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        if (info.num_workers if info is not None else 0) != self.num_workers:
            raise RuntimeError(
                f"VideoShards was told of {self.num_workers} loader workers (set_share) but "
                f"runs in {info.num_workers if info else 0}: build its loader with build_loader"
            )
        shards = self._shards_of(worker)
        if not self.training:
            for video_index, sample in self._samples(shards):
                for view in range(self.views_per_video):
                    yield self._item(video_index, sample, view)
            return
        quota = self._batches_of(worker) * self.batch_size
        rng = random.Random(f"{self.seed}/{self.epoch}/{self.rank}/{worker}")
        # Pass after pass over this reader's shards, each pass shuffled on its own: a sample
        # comes back only once all of them have been read.
        samples = itertools.chain.from_iterable(
            self._shuffled(self._samples(shards), rng) for _ in itertools.count()
        )
        failed: list[str] = []
        while quota:
            item = self._item(*next(samples), 0)
            if item["inputs"] is None:  # skipped; counted with the next good item
                failed.extend(item["failed"])
                continue
            item["failed"] = failed + item["failed"]
            failed = []
            quota -= 1
            yield item

    def _item(self, video_index: int, sample: dict, view: int) -> dict[str, Any]:
        """One clip of ``sample`` (a random one in training, view ``view`` otherwise)."""
        name = f"{sample['__url__']}:{sample['__key__']}"
        rng = random.Random(random.getrandbits(64))  # as ClipDataset: per-item generator
        label = int(sample["cls"]) if "cls" in sample else 0
        ext = next((e for e in VIDEO_EXTENSIONS if e in sample), None)
        try:
            if ext is None or "cls" not in sample:
                raise DecodeError(name, f"the sample has no video ({VIDEO_EXTENSIONS}) or no .cls")
            temporal, spatial = divmod(view, self.clips.num_spatial_crops)
            if self.clips.num_spatial_crops == 1:
                spatial = 1  # the single crop is the centre one
            with open_video(
                f"{name}.{ext}", self.clips.decoding_backend, data=sample[ext]
            ) as video:
                indices = self.clips.frame_indices(video, -1 if self.training else temporal, rng)
                frames = video.get_frames(indices)
            inputs = self.clips.transform_and_pack(frames, spatial, rng)
        except DecodeError as err:
            logger.warning("Skipping video: %s", err)
            return {"inputs": None, "label": label, "video_index": video_index, "failed": [name]}
        return {"inputs": inputs, "label": label, "video_index": video_index, "failed": []}


def _class_names_beside(index_url: str) -> list[str] | None:
    """The class names in ``classnames.json`` next to the index, if there is one."""
    url = (
        f"{index_url.rsplit('/', 1)[0]}/{CLASS_NAMES_FILE}"
        if "/" in index_url
        else CLASS_NAMES_FILE
    )
    try:
        with open_url(url) as f:
            names = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):  # none there (remote stores raise their own OSErrors)
        return None
    return list(names) if isinstance(names, list) else None
