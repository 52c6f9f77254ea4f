"""Kinetics dataset: items, views, failure handling, split-file errors."""

import os
import random

import pytest
import torch
from synthetic import data_cfg

from slowvid.data import build_dataset
from slowvid.data.datasets import read_split_file


def write_split(data_dir, split, lines):
    with open(os.path.join(data_dir, f"{split}.csv"), "w") as f:
        f.write("".join(line + "\n" for line in lines))


@pytest.mark.timeout(60)
def test_train_item(demo_dir):
    ds = build_dataset(data_cfg(demo_dir), "train")
    assert ds.num_videos == len(ds) == 16 and len(ds.labels) == 16
    random.seed(0)
    item = ds[3]
    slow, fast = item["inputs"]
    assert fast.shape == (3, 8, 56, 56) and slow.shape == (3, 2, 56, 56)
    assert item["label"] == ds.labels[3] and item["video_index"] == 3 and item["failed"] == []
    random.seed(0)
    assert torch.equal(ds[3]["inputs"][1], fast)


@pytest.mark.timeout(60)
def test_test_views(demo_dir):
    cfg = data_cfg(demo_dir, **{"DATA.INPUT_CHANNEL_NUM": [3], "MODEL.MODEL_NAME": "ResNet"})
    ds = build_dataset(cfg, "test")
    # One item per video holds its 2 x 3 views, from one decode.
    assert ds.num_videos == len(ds) == 8 and ds.views_per_item == 6
    assert ds.view_of(7) == (1, 0, 1) and ds.view_of(11) == (1, 1, 2)
    item = ds[1]
    assert item["video_index"] == 1 and item["failed"] == []
    (views,) = item["inputs"]
    assert views.shape == (6, 3, 8, 64, 64)
    # Different temporal clips give different inputs (the square videos' 3 crops coincide).
    assert not torch.equal(views[0], views[3]) and torch.equal(views[0], views[1])
    assert torch.equal(ds[1]["inputs"][0], views)
    val = build_dataset(cfg, "val")
    assert len(val) == val.num_videos == 8 and val.views_per_item == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pathways", [[3], [3, 3]])
def test_one_decode_equals_a_decode_per_view(demo_dir, pathways):
    """The views of a video item equal each view loaded on its own (the old items)."""
    model = "ResNet" if len(pathways) == 1 else "SlowFast"  # a model taking those pathways
    cfg = data_cfg(demo_dir, **{"DATA.INPUT_CHANNEL_NUM": pathways, "MODEL.MODEL_NAME": model})
    ds = build_dataset(cfg, "test")
    inputs = ds[2]["inputs"]
    for k in range(6):
        _, temporal, spatial = ds.view_of(2 * 6 + k)
        alone = ds.load_clip(2, temporal, spatial, random.Random(0))
        for stacked, single in zip(inputs, alone):
            assert torch.equal(stacked[k], single)


@pytest.mark.timeout(60)
def test_train_replaces_failed_videos(demo_dir, tmp_path, caplog):
    good = "videos/train/left_slow/000.mp4 0"
    write_split(
        tmp_path,
        "train",
        [
            f"{demo_dir}/bad/random.mp4 5",
            f"{demo_dir}/bad/truncated.mp4 6",
            f"{demo_dir}/bad/missing.mp4 7",
            f"{demo_dir}/{good}",
        ],
    )
    cfg = data_cfg(str(tmp_path), **{"DATA.PATH_PREFIX": "", "DATA.NUM_RETRIES": 50})
    ds = build_dataset(cfg, "train")
    random.seed(1)
    for index in range(3):
        item = ds[index]
        assert item["inputs"] is not None and item["label"] == 0 and item["video_index"] == 3
        assert item["failed"][0] == ds.paths[index]
        assert all("/bad/" in p for p in item["failed"])
    assert "random.mp4" in caplog.text and "missing.mp4" in caplog.text


@pytest.mark.timeout(60)
def test_train_gives_up_after_retries(demo_dir, tmp_path):
    write_split(tmp_path, "train", [f"{demo_dir}/bad/random.mp4 5"])
    ds = build_dataset(data_cfg(str(tmp_path), **{"DATA.PATH_PREFIX": ""}), "train")
    item = ds[0]
    assert item["inputs"] is None and len(item["failed"]) == 1 + 3


@pytest.mark.timeout(60)
def test_test_returns_failed_item(demo_dir, tmp_path, caplog):
    write_split(
        tmp_path,
        "test",
        [
            "videos/test/up_fast/000.mp4 5",
            "bad/truncated.mp4 2",
            "bad/missing.mp4 3",
        ],
    )
    cfg = data_cfg(
        str(tmp_path),
        **{"DATA.PATH_PREFIX": demo_dir, "TEST.NUM_ENSEMBLE_VIEWS": 1, "TEST.NUM_SPATIAL_CROPS": 1},
    )
    ds = build_dataset(cfg, "test")
    assert ds[0]["inputs"] is not None
    assert ds.views_per_item == 1  # one view a video: items as before
    for index, name in [(1, "truncated.mp4"), (2, "missing.mp4")]:
        item = ds[index]
        assert item == {
            "inputs": None,
            "label": ds.labels[index],
            "video_index": index,
            "failed": [os.path.join(demo_dir, "bad", name)],
        }
        assert name in caplog.text


@pytest.mark.parametrize(
    "line,message",
    [
        ("a.mp4", "2 fields"),
        ("a.mp4 1 2", "2 fields"),
        ("a.mp4 cat", "not an integer"),
    ],
)
def test_malformed_split_line(tmp_path, line, message):
    path = tmp_path / "train.csv"
    path.write_text(f"good.mp4 0\n\n{line}\n")
    with pytest.raises(ValueError, match=rf"train\.csv:3: .*{message}"):
        read_split_file(str(path))


def test_separator_and_blank_lines(tmp_path):
    path = tmp_path / "val.csv"
    path.write_text("dir with space/a.mp4,3\n\n b.mp4,4\r\n")
    assert read_split_file(str(path), ",") == (["dir with space/a.mp4", " b.mp4"], [3, 4])
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="empty.csv: no videos"):
        read_split_file(str(empty))
