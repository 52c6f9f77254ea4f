"""Loaders: batch shapes with workers, failed-sample collation, sharding, epoch seeding."""

import platform
import sys

import pytest
import torch
from synthetic import data_cfg

from slowvid.data import build_loader, collate_clips, shuffle_loader
from slowvid.data.build import EpochRandomSampler, ShardSampler, keep_freed_buffers
from slowvid.engine.inputs import PixelNorm


@pytest.mark.timeout(60)
def test_two_worker_train_loader(demo_dir):
    cfg = data_cfg(demo_dir, **{"DATA_LOADER.NUM_WORKERS": 2, "TRAIN.BATCH_SIZE": 3})
    loader = build_loader(cfg, "train")
    shuffle_loader(loader, 0)
    batches = list(loader)
    assert len(batches) == 16 // 3  # drop_last
    slow, fast = batches[0]["inputs"]
    assert slow.shape == (3, 3, 2, 56, 56) and fast.shape == (3, 3, 8, 56, 56)
    assert batches[0]["label"].dtype == torch.long and batches[0]["label"].shape == (3,)
    assert batches[0]["failed"] == []


@pytest.mark.timeout(60)
def test_epochs_reproducible(demo_dir):
    cfg = data_cfg(demo_dir, **{"DATA_LOADER.NUM_WORKERS": 1})

    def run(epoch):
        loader = build_loader(cfg, "train")
        shuffle_loader(loader, epoch)
        batch = next(iter(loader))
        return batch["video_index"], batch["inputs"][1]

    (i0, x0), (i0b, x0b), (i1, _) = run(0), run(0), run(1)
    assert torch.equal(i0, i0b) and torch.equal(x0, x0b)
    assert not torch.equal(i0, i1)


@pytest.mark.timeout(60)
def test_test_loader_covers_every_view(demo_dir):
    cfg = data_cfg(demo_dir, **{"TEST.NUM_ENSEMBLE_VIEWS": 1, "TEST.BATCH_SIZE": 3})
    loader = build_loader(cfg, "test")
    seen = torch.cat([b["video_index"] for b in loader])
    assert sorted(seen.tolist()) == sorted(list(range(8)) * 3)


def test_collate_drops_failed():
    ok = {
        "inputs": [torch.zeros(3, 2, 4, 4), torch.zeros(3, 8, 4, 4)],
        "label": 1,
        "video_index": 0,
        "failed": ["x.mp4"],
    }
    bad = {"inputs": None, "label": 2, "video_index": 1, "failed": ["y.mp4"]}
    batch = collate_clips([ok, bad, ok])
    assert [t.shape for t in batch["inputs"]] == [(2, 3, 2, 4, 4), (2, 3, 8, 4, 4)]
    assert batch["label"].tolist() == [1, 1] and batch["failed"] == ["x.mp4", "y.mp4", "x.mp4"]
    empty = collate_clips([bad])
    assert empty["inputs"] is None and empty["label"].shape == (0,)
    assert empty["failed"] == ["y.mp4"]


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 7, 60])
def test_shard_sampler_partitions(world, n):
    shards = [list(ShardSampler(n, rank, world)) for rank in range(world)]
    assert sorted(i for s in shards for i in s) == list(range(n))
    assert [len(ShardSampler(n, r, world)) for r in range(world)] == [len(s) for s in shards]


def test_epoch_random_sampler():
    s = EpochRandomSampler(10, seed=3)
    a = list(s)
    assert sorted(a) == list(range(10)) and list(s) == a
    s.set_epoch(1)
    assert list(s) != a


def test_batch_smaller_than_world_is_an_error(demo_dir, monkeypatch):
    from slowvid.data import build

    monkeypatch.setattr(build, "world_size_and_rank", lambda: (4, 1))
    with pytest.raises(ValueError, match="TEST.BATCH_SIZE"):
        build_loader(data_cfg(demo_dir, **{"TEST.BATCH_SIZE": 2}), "test")
    loader = build_loader(data_cfg(demo_dir, **{"TEST.BATCH_SIZE": 8}), "test")
    # 2 clips a rank, but an item is a video's 6 views: one item a batch, videos 1 and 5.
    assert loader.batch_size == 1 and list(loader.sampler) == [1, 5]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("split", ["train", "test"])
def test_uint8_batches_normalise_to_the_float_batches(demo_dir, split):
    def first_batch(**opts):
        cfg = data_cfg(demo_dir, **{"DATA.RANDOM_FLIP": True, **opts})
        loader = build_loader(cfg, split)
        shuffle_loader(loader, 0)
        return cfg, next(iter(loader))

    cfg, pixels = first_batch()
    _, floats = first_batch(**{"DATA.NORMALIZE_ON_DEVICE": False})
    assert torch.equal(pixels["video_index"], floats["video_index"])
    for p, f in zip(pixels["inputs"], floats["inputs"], strict=True):
        assert p.dtype == torch.uint8 and p.is_contiguous(memory_format=torch.channels_last_3d)
        assert f.dtype == torch.float32 and f.shape == p.shape
        assert torch.allclose(PixelNorm.from_config(cfg)(p), f, atol=1e-6)


@pytest.mark.timeout(60)
def test_mixup_and_augmentation_keep_float_batches(demo_dir):
    for opts in ({"MIXUP.ENABLE": True}, {"AUG.ENABLE": True, "AUG.AA_TYPE": "rand-m9-n2"}):
        cfg = data_cfg(demo_dir, **{"MODEL.NUM_CLASSES": 8, **opts})
        loader = build_loader(cfg, "train")
        shuffle_loader(loader, 0)
        assert next(iter(loader))["inputs"][0].dtype == torch.float32, opts


def test_collate_batches_channels_last_clips_channels_last():
    clips = [torch.randint(0, 256, (4, 5, 6, 3), dtype=torch.uint8).permute(3, 0, 1, 2)] * 2
    items = [{"inputs": [c], "label": 0, "video_index": 0, "failed": []} for c in clips]
    (batch,) = collate_clips(items)["inputs"]
    assert batch.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(batch, torch.stack(clips))


def test_keep_freed_buffers_on_glibc():
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert keep_freed_buffers()
