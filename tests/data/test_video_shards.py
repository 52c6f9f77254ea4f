"""Streaming WebDataset tar shards: tools/make_shards.py, the reader, VideoShards' shares."""

import functools
import http.server
import importlib.util
import io
import os
import tarfile
import threading

import pytest
from iopath.common.file_io import PathHandler, g_pathmgr
from synthetic import data_cfg

from slowvid.data import build_loader, shuffle_loader
from slowvid.data.datasets import VideoShards, read_split_file
from slowvid.data.shards import iterate_samples, read_shard_index

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("make_shards", f"{REPO}/tools/make_shards.py")
make_shards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_shards)


def _shards(demo_dir, out, split_file, per_shard, name="train", shuffle=True) -> str:
    args = ["--split-file", split_file, "--prefix", demo_dir, "--output", str(out)]
    args += ["--name", name, "--samples-per-shard", str(per_shard)]
    assert make_shards.main(args + ([] if shuffle else ["--no-shuffle"])) == 0
    return str(out)


@pytest.fixture(scope="module")
def train_shards(demo_dir, tmp_path_factory) -> str:
    """The 16 training videos in 8 shards of 2."""
    out = tmp_path_factory.mktemp("shards")
    return _shards(demo_dir, out, os.path.join(demo_dir, "train.csv"), 2)


def _labels_by_index(shard_dir: str, name: str = "train") -> dict[int, int]:
    index = read_shard_index(os.path.join(shard_dir, f"{name}.json"))
    labels = {}
    for offset, url in zip(index.offsets(), index.urls, strict=True):
        for i, sample in enumerate(iterate_samples(url)):
            labels[offset + i] = int(sample["cls"])
    return labels


def _loader_as_rank(cfg, split, rank, world, monkeypatch):
    monkeypatch.setattr("slowvid.data.build.world_size_and_rank", lambda: (world, rank))
    return build_loader(cfg, split)


@pytest.mark.timeout(240)
def test_two_ranks_of_two_workers_read_every_video_once_per_epoch(train_shards, monkeypatch):
    cfg = data_cfg(
        train_shards,
        **{"TRAIN.DATASET": "VideoShards", "DATA_LOADER.NUM_WORKERS": 2, "TRAIN.BATCH_SIZE": 4},
    )
    labels = _labels_by_index(train_shards)
    loaders = [_loader_as_rank(cfg, "train", rank, 2, monkeypatch) for rank in (0, 1)]
    orders = []
    for epoch in (0, 1):
        seen = []
        for loader in loaders:
            shuffle_loader(loader, epoch)
            batches = list(loader)
            assert len(batches) == len(loader) == 4  # 16 videos / (2 ranks x 2 a batch)
            for batch in batches:
                assert [tuple(x.shape) for x in batch["inputs"]] == [
                    (2, 3, 2, 56, 56),
                    (2, 3, 8, 56, 56),
                ]
                assert batch["label"].tolist() == [labels[i] for i in batch["video_index"].tolist()]
                seen += batch["video_index"].tolist()
        assert sorted(seen) == list(range(16))  # each once: no rank or worker read twice
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled per epoch


def test_a_resumed_epoch_reads_what_the_uninterrupted_one_did(train_shards, monkeypatch):
    cfg = data_cfg(train_shards, **{"TRAIN.DATASET": "VideoShards", "TRAIN.BATCH_SIZE": 4})
    runs = []
    for _ in range(2):  # two processes' worth of loaders, both at epoch 3
        loader = _loader_as_rank(cfg, "train", 1, 2, monkeypatch)
        shuffle_loader(loader, 3)
        runs.append([(b["video_index"].tolist(), b["inputs"][1].sum().item()) for b in loader])
    assert runs[0] == runs[1]


def test_evaluation_reads_every_view_once_over_unequal_ranks(demo_dir, tmp_path, monkeypatch):
    shard_dir = _shards(demo_dir, tmp_path, os.path.join(demo_dir, "val.csv"), 3, name="val")
    cfg = data_cfg(shard_dir, **{"TRAIN.DATASET": "VideoShards", "TEST.BATCH_SIZE": 4})
    seen = []
    for rank in (0, 1):
        loader = _loader_as_rank(cfg, "val", rank, 2, monkeypatch)
        indices = [i for batch in loader for i in batch["video_index"].tolist()]
        assert len(indices) == len(loader.dataset)  # shards of 3, 3, 2: ranks read 5 and 3
        seen += indices
    assert sorted(seen) == list(range(8))
    assert loader.dataset.num_videos == 8


def test_buffer_shuffles_and_a_corrupt_video_is_skipped_and_named(demo_dir, tmp_path):
    paths, labels = read_split_file(os.path.join(demo_dir, "train.csv"))
    split = tmp_path / "with_bad.csv"
    split.write_text("".join(f"{p} {y}\n" for p, y in zip(paths, labels)) + "bad/random.mp4 3\n")
    shard_dir = _shards(demo_dir, tmp_path / "s", str(split), 17, shuffle=False)  # one shard

    def epoch_of(buffer: int):
        cfg = data_cfg(
            shard_dir,
            **{"TRAIN.DATASET": "VideoShards", "DATA.SHARD_SHUFFLE_BUFFER": buffer},
        )
        dataset = VideoShards(**VideoShards.from_config(cfg, "train"))
        dataset.set_share(world_size=1, rank=0, batch_size=4, num_workers=0)
        return list(dataset)

    in_order = epoch_of(1)
    assert [item["video_index"] for item in in_order] == list(range(16))  # the shard's order
    shuffled = epoch_of(8)
    # the corrupt video (the 17th) was skipped, named, and replaced by a re-read one
    failed = [path for item in shuffled for path in item["failed"]]
    assert len(failed) == 1 and failed[0].endswith(":000000016")
    indices = [item["video_index"] for item in shuffled]
    assert len(indices) == 16 and 16 not in indices and indices != list(range(16))


def test_the_layout_is_webdatasets(train_shards, tmp_path):
    wds = pytest.importorskip("webdataset")
    url = os.path.join(train_shards, "train-000000.tar")
    ours = list(iterate_samples(url))
    theirs = list(wds.WebDataset(url, shardshuffle=False, empty_check=False))
    assert [s["__key__"] for s in ours] == [s["__key__"] for s in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a["mp4"] == b["mp4"] and a["cls"] == b["cls"]
    # and shards that webdataset writes read back as ours
    written = str(tmp_path / "wds.tar")
    with wds.TarWriter(written) as sink:
        for sample in theirs:
            sink.write({"__key__": "x/" + sample["__key__"], "mp4": sample["mp4"], "cls": 5})
    again = list(iterate_samples(written))
    assert [s["__key__"] for s in again] == ["x/" + s["__key__"] for s in theirs]
    assert [s["cls"] for s in again] == [b"5"] * len(theirs)


class _FolderHandler(PathHandler):
    """An iopath prefix mapped onto a local folder, as a storage plugin would register one."""

    PREFIX = "slowvidtest://"

    def __init__(self, root: str):
        super().__init__()
        self.root = root

    def _get_supported_prefixes(self):
        return [self.PREFIX]

    def _open(self, path, mode="r", **kwargs):
        return open(os.path.join(self.root, path[len(self.PREFIX) :]), mode)


def test_shards_stream_from_http_and_iopath_urls(train_shards):
    local = [s["mp4"] for s in iterate_samples(os.path.join(train_shards, "train-000003.tar"))]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=train_shards)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        index = read_shard_index(f"{base}/train.json")  # fsspec
        assert index.urls[3] == f"{base}/train-000003.tar" and index.total == 16
        assert [s["mp4"] for s in iterate_samples(index.urls[3])] == local
    finally:
        server.shutdown()
    g_pathmgr.register_handler(_FolderHandler(train_shards), allow_override=True)
    index = read_shard_index("slowvidtest://train.json")  # iopath
    assert [s["mp4"] for s in iterate_samples(index.urls[3])] == local


def test_bad_shard_setups_are_named(train_shards, tmp_path, monkeypatch):
    cfg = data_cfg(
        train_shards,
        **{"TRAIN.DATASET": "VideoShards", "DATA_LOADER.NUM_WORKERS": 5, "TRAIN.BATCH_SIZE": 4},
    )
    with pytest.raises(ValueError, match="8 shards, fewer than the 2 ranks x 5 loader workers"):
        _loader_as_rank(cfg, "train", 0, 2, monkeypatch)
    (tmp_path / "train.json").write_text('{"files": []}')
    with pytest.raises(ValueError, match=r"train.json: expected a shard index"):
        read_shard_index(str(tmp_path / "train.json"))
    tar_path = tmp_path / "t.tar"
    with tarfile.open(tar_path, "w") as tar:
        info = tarfile.TarInfo("dir/000.left.mp4")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    [sample] = iterate_samples(str(tar_path))
    assert sample["__key__"] == "dir/000" and sample["left.mp4"] == b"abc"
