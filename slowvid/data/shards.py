"""Reading WebDataset tar shards: opening URLs, grouping tar members into samples, the shard
index, and which shards each rank and loader worker reads.

A large video dataset on object storage is stored as a few thousand tar files ("shards") of a
few hundred videos each, read front to back (the WebDataset layout): the members of one sample
share a key, the path up to the first dot of the file name, and follow one another::

    train-000000.tar:  000000.mp4  000000.cls  000000.json  000001.mp4  000001.cls  ...

``.cls`` holds the class index as text, ``.json`` the source path and label. The shard list
with each shard's sample count is a JSON index in webdataset's ``wids`` format
(``{"__kind__": "wids-shard-index-v1", "shardlist": [{"url", "nsamples"}]}``); shard URLs are
relative to the index (or to its ``base_path``). ``tools/make_shards.py`` writes both.

Every process reads different shards: with W loader workers on each of N ranks there are
N x W readers, and reader ``rank * W + worker`` takes every (N x W)-th shard of the epoch's
shard order (shuffled alike on every rank in training).
"""

from __future__ import annotations

import json
import os
import random
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import fsspec
from iopath.common.file_io import g_pathmgr
from torch.utils.data import IterableDataset

__all__ = [
    "ShardIndex",
    "StreamingDataset",
    "assign_shards",
    "iterate_samples",
    "open_url",
    "read_shard_index",
    "write_shard_index",
]

INDEX_KIND = "wids-shard-index-v1"


class StreamingDataset(IterableDataset):
    """A dataset read as streams, without random access: the loader tells it its share.

    ``build_loader`` calls :meth:`set_share` once before making the loader and
    ``shuffle_loader`` calls :meth:`set_epoch` before each epoch. ``len()`` is the number of
    items this rank yields in an epoch.
    """

    def set_share(self, *, world_size: int, rank: int, batch_size: int, num_workers: int):
        """This rank's place among ``world_size`` ranks, each loading ``batch_size`` items a
        batch with ``num_workers`` loader workers (0: in the main process)."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        raise NotImplementedError

    # The rest of the VideoDataset protocol (slowvid.data.datasets.base) the engine uses.
    @property
    def collate_fn(self):
        """Batches a list of items."""
        raise NotImplementedError

    def train_metrics(self, logits, labels) -> dict[str, float]:
        """Numbers the trainer logs for a training batch besides the loss; none by default."""
        return {}

    def make_evaluator(self, output_dir: str, tag: str):
        """The evaluator of this split, as :meth:`VideoDataset.make_evaluator`."""
        raise NotImplementedError


def open_url(url: str) -> IO[bytes]:
    """A binary stream of ``url``, read front to back.

    Local paths and ``file://`` open directly; a protocol fsspec knows (``http(s)://``,
    ``s3://``, ``gs://``, ... given its package, e.g. s3fs) streams through fsspec; any other
    prefix goes to iopath's ``g_pathmgr`` (handlers registered there, e.g. ``manifold://``).

    Raises:
        ImportError: fsspec knows the protocol but its package is missing (named).
    """
    if "://" not in url:
        return open(url, "rb")
    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:  # not an fsspec protocol
        return g_pathmgr.open(url, "rb")
    except ImportError as err:
        raise ImportError(f"reading {url} needs fsspec's {protocol!r} support: {err}") from err
    return fsspec.open(url, "rb").open()


def _split_name(name: str) -> tuple[str, str] | None:
    """WebDataset's key and extension of a member name: ``a/b/000001.left.mp4`` ->
    (``a/b/000001``, ``left.mp4``); None for names without an extension."""
    directory, base = os.path.split(name)
    if "." not in base or base.startswith("."):
        return None
    stem, ext = base.split(".", 1)
    return (f"{directory}/{stem}" if directory else stem), ext.lower()


def iterate_samples(url: str) -> Iterator[dict]:
    """The samples of one tar shard, in order: ``{"__key__", "__url__", ext: bytes, ...}``.

    Read as a stream (no seeking), so it works on object storage as on a local disk.
    """
    with open_url(url) as stream, tarfile.open(fileobj=stream, mode="r|*") as tar:
        sample: dict = {}
        for member in tar:
            if not member.isfile():
                continue
            parts = _split_name(member.name)
            if parts is None:
                continue
            key, ext = parts
            if sample and sample["__key__"] != key:
                yield sample
                sample = {}
            if not sample:
                sample = {"__key__": key, "__url__": url}
            sample[ext] = tar.extractfile(member).read()
        if sample:
            yield sample


@dataclass(frozen=True)
class ShardIndex:
    """The shards of one split, in order, and their sample counts.

    Attributes:
        urls: each shard's URL, resolved against the index's location.
        num_samples: samples in each shard.
    """

    urls: tuple[str, ...]
    num_samples: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.num_samples)

    def offsets(self) -> list[int]:
        """Global index of each shard's first sample (samples numbered shard by shard)."""
        out, running = [], 0
        for n in self.num_samples:
            out.append(running)
            running += n
        return out


def _parent(url: str) -> str:
    """The folder of ``url`` (``s3://bucket/a/x.json`` -> ``s3://bucket/a``)."""
    if "://" not in url:
        return os.path.dirname(url) or "."
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.rsplit('/', 1)[0] if '/' in rest else ''}"


def _join(base: str, url: str) -> str:
    if "://" in url or os.path.isabs(url):
        return url
    if "://" not in base:
        return os.path.join(base, url)
    return base + url if base.endswith("://") else f"{base.rstrip('/')}/{url}"


def read_shard_index(url: str) -> ShardIndex:
    """Read a ``wids`` shard index.

    Raises:
        ValueError: the file is not such an index, or lists no shards (naming the file).
    """
    with open_url(url) as f:
        try:
            record = json.loads(f.read().decode("utf-8"))
        except ValueError as err:
            raise ValueError(f"{url} is not a JSON shard index: {err}") from err
    shards = record.get("shardlist") if isinstance(record, dict) else None
    if not shards or not all(
        isinstance(s, dict) and "url" in s and "nsamples" in s for s in shards
    ):
        raise ValueError(
            f"{url}: expected a shard index {{'shardlist': [{{'url': ..., 'nsamples': ...}}, "
            "...]}} (tools/make_shards.py writes one)"
        )
    base = record.get("base_path") or _parent(url)
    return ShardIndex(
        urls=tuple(_join(base, s["url"]) for s in shards),
        num_samples=tuple(int(s["nsamples"]) for s in shards),
    )


def write_shard_index(path: str, shards: list[tuple[str, int, int]], name: str) -> None:
    """Write a ``wids`` index of ``(url relative to the index, samples, bytes)`` shards."""
    record = {
        "__kind__": INDEX_KIND,
        "wids_version": 1,
        "name": name,
        "shardlist": [{"url": u, "nsamples": n, "filesize": b} for u, n, b in shards],
    }
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)


def assign_shards(
    num_shards: int,
    *,
    reader: int,
    num_readers: int,
    epoch: int = 0,
    seed: int = 0,
    shuffle: bool = False,
) -> list[int]:
    """The shards reader ``reader`` of ``num_readers`` reads in ``epoch``, in order.

    The epoch's order is the same on every rank (a permutation seeded by ``seed`` and
    ``epoch`` when shuffling), and reader ``r`` takes its positions ``r, r + num_readers, ...``:
    every shard is read by exactly one reader.
    """
    order = list(range(num_shards))
    if shuffle:
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order[reader::num_readers]
