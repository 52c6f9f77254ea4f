"""UCF101 and HMDB51: split parsing per DATA.SPLIT, errors naming file and line, items, on tiny
fixtures in the published layouts (CRLF line ends and trailing spaces as in the releases)."""

import os
import random

import numpy as np
import pytest
import torch
from synthetic import data_cfg, extract_frames

from slowvid.data import build_dataset
from slowvid.data.datasets import HMDB51, UCF101, ClipDataset
from slowvid.data.datasets.ucf_hmdb import (
    read_hmdb_splits,
    read_ucf_class_index,
    read_ucf_split,
)
from slowvid.data.demo import DemoSpec, render_video, write_video

UCF_CLASSES = ["ApplyEyeMakeup", "Archery", "HandstandPushups"]
HMDB_CLASSES = ["brush_hair", "cartwheel", "wave"]  # sorted, as the labels are
SPEC = DemoSpec(size=40, num_frames=20)


def write_lines(path, lines, end="\r\n"):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(line + end for line in lines))


def write_avi(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frames = render_video(seed % 8, SPEC, np.random.default_rng(seed))
    write_video(path, frames, 25, codec="mpeg4", options={"threads": "1"})


def ucf_name(c, g):
    return f"{UCF_CLASSES[c]}/v_{UCF_CLASSES[c]}_g{g:02d}_c01.avi"


def hmdb_name(c, k):
    return f"{HMDB_CLASSES[c]}_u_nm_np1_fr_goo_{k}.avi"


@pytest.fixture(scope="module")
def ucf_dir(tmp_path_factory) -> str:
    """``ucfTrainTestlist/`` + ``UCF-101/``: 3 classes x 3 groups; split N tests group N."""
    out = tmp_path_factory.mktemp("ucf101")
    lists = out / "ucfTrainTestlist"
    lists.mkdir()
    write_lines(
        lists / "classInd.txt",
        [f"{i + 1} {name}" for i, name in enumerate(UCF_CLASSES)],
    )
    for n in (1, 2, 3):
        train = [f"{ucf_name(c, g)} {c + 1}" for c in range(3) for g in (1, 2, 3) if g != n]
        write_lines(lists / f"trainlist0{n}.txt", train)
        write_lines(lists / f"testlist0{n}.txt", [ucf_name(c, n) for c in range(3)])
    for c in range(3):
        for g in (1, 2, 3):
            write_avi(str(out / "UCF-101" / ucf_name(c, g)), 3 * c + g)
    return str(out)


@pytest.fixture(scope="module")
def hmdb_dir(tmp_path_factory) -> str:
    """``testTrainMulti_7030_splits/`` + ``hmdb51_org/``: 3 classes x 3 videos; in split N
    video N-1 is test, video N % 3 unused, the other train."""
    out = tmp_path_factory.mktemp("hmdb51")
    splits = out / "testTrainMulti_7030_splits"
    splits.mkdir()
    for c, name in enumerate(HMDB_CLASSES):
        for n in (1, 2, 3):
            marks = {n - 1: 2, n % 3: 0}
            lines = [f"{hmdb_name(c, k)} {marks.get(k, 1)} " for k in range(3)]
            write_lines(splits / f"{name}_test_split{n}.txt", lines)
        for k in range(3):
            write_avi(str(out / "hmdb51_org" / name / hmdb_name(c, k)), 10 + 3 * c + k)
    return str(out)


def ucf_cfg(root, **overrides):
    overrides = {
        "TRAIN.DATASET": "UCF101",
        "TEST.DATASET": "UCF101",
        "DATA.PATH_PREFIX": os.path.join(root, "UCF-101"),
        **overrides,
    }
    return data_cfg(os.path.join(root, "ucfTrainTestlist"), **overrides)


def hmdb_cfg(root, **overrides):
    overrides = {
        "TRAIN.DATASET": "HMDB51",
        "TEST.DATASET": "HMDB51",
        "DATA.PATH_PREFIX": os.path.join(root, "hmdb51_org"),
        **overrides,
    }
    return data_cfg(os.path.join(root, "testTrainMulti_7030_splits"), **overrides)


def relative(ds, root):
    return [os.path.relpath(p, root) for p in ds.paths]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ucf_splits(ucf_dir, n):
    prefix = os.path.join(ucf_dir, "UCF-101")
    train = build_dataset(ucf_cfg(ucf_dir, **{"DATA.SPLIT": n}), "train")
    assert isinstance(train, UCF101) and train.classes == train.class_names == UCF_CLASSES
    groups = [g for g in (1, 2, 3) if g != n]
    assert relative(train, prefix) == [ucf_name(c, g) for c in range(3) for g in groups]
    assert train.labels == [0, 0, 1, 1, 2, 2]
    for split in ("val", "test"):
        ds = build_dataset(ucf_cfg(ucf_dir, **{"DATA.SPLIT": n}), split)
        assert relative(ds, prefix) == [ucf_name(c, n) for c in range(3)]
        assert ds.labels == [0, 1, 2]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_hmdb_splits(hmdb_dir, n):
    prefix = os.path.join(hmdb_dir, "hmdb51_org")
    train = build_dataset(hmdb_cfg(hmdb_dir, **{"DATA.SPLIT": n}), "train")
    assert isinstance(train, HMDB51) and train.classes == train.class_names == HMDB_CLASSES
    k_train = 3 - (n - 1) - n % 3  # the one index that is neither test nor unused
    assert relative(train, prefix) == [
        f"{HMDB_CLASSES[c]}/{hmdb_name(c, k_train)}" for c in range(3)
    ]
    assert train.labels == [0, 1, 2]
    for split in ("val", "test"):
        ds = build_dataset(hmdb_cfg(hmdb_dir, **{"DATA.SPLIT": n}), split)
        assert relative(ds, prefix) == [
            f"{HMDB_CLASSES[c]}/{hmdb_name(c, n - 1)}" for c in range(3)
        ]
        assert ds.labels == [0, 1, 2]


@pytest.mark.parametrize("make_cfg", [ucf_cfg, hmdb_cfg])
def test_split_out_of_range_names_the_key(ucf_dir, make_cfg):
    with pytest.raises(ValueError, match="config DATA.SPLIT: 4"):
        build_dataset(make_cfg(ucf_dir, **{"DATA.SPLIT": 4}), "train")


@pytest.mark.parametrize(
    "lines, message",
    [
        (["1 ApplyEyeMakeup", "2"], r"classInd\.txt:2: expected '<id> <ClassName>'"),
        (["1 ApplyEyeMakeup", "x Archery"], r"classInd\.txt:2: expected"),
        (["1 ApplyEyeMakeup", "1 Archery"], r"classInd\.txt:2: id 1 listed twice"),
        (["1 ApplyEyeMakeup", "3 Archery"], r"classInd\.txt: class ids must be 1\.\.N"),
    ],
)
def test_malformed_class_index(tmp_path, lines, message):
    path = tmp_path / "classInd.txt"
    write_lines(path, lines)
    with pytest.raises(ValueError, match=message):
        read_ucf_class_index(str(path))


@pytest.mark.parametrize(
    "line, message",
    [
        ("Archery/v_Archery_g01_c01.avi 2 x", "expected 'Class/video.avi"),
        (
            "Archery/v_Archery_g01_c01.avi 3",
            "label '3' disagrees with folder 'Archery'",
        ),
        ("Rowing/v_Rowing_g01_c01.avi", "class folder 'Rowing'"),
        ("v_Archery_g01_c01.avi 2", "class folder ''"),
    ],
)
def test_malformed_ucf_line(tmp_path, line, message):
    path = tmp_path / "trainlist01.txt"
    write_lines(path, ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1", "", line])
    with pytest.raises(ValueError, match=rf"trainlist01\.txt:3: {message}"):
        read_ucf_split(str(path), UCF_CLASSES)


@pytest.mark.parametrize("line", ["a.avi 3", "a.avi", "a.avi 1 2"])
def test_malformed_hmdb_line(tmp_path, line):
    write_lines(tmp_path / "wave_test_split2.txt", ["b.avi 1 ", line])
    with pytest.raises(ValueError, match=r"wave_test_split2\.txt:2: expected 'video.avi 0\|1\|2'"):
        read_hmdb_splits(str(tmp_path), 2, "train")
    with pytest.raises(ValueError, match="no '<class>_test_split1.txt' files"):
        read_hmdb_splits(str(tmp_path), 1, "train")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make_cfg, fixture", [(ucf_cfg, "ucf_dir"), (hmdb_cfg, "hmdb_dir")])
def test_items_decode(request, make_cfg, fixture):
    root = request.getfixturevalue(fixture)
    ds = build_dataset(make_cfg(root), "train")
    random.seed(0)
    item = ds[1]
    slow, fast = item["inputs"]
    assert slow.shape == (3, 2, 56, 56) and fast.shape == (3, 8, 56, 56)
    assert item["label"] == ds.labels[1] and item["failed"] == []
    test = build_dataset(
        make_cfg(root, **{"DATA.INPUT_CHANNEL_NUM": [3], "MODEL.MODEL_NAME": "ResNet"}), "test"
    )
    assert len(test) == 3 and test.views_per_item == 2 * 3  # a video's views in one item
    item = test[1]
    assert item["video_index"] == 1 and item["inputs"][0].shape == (6, 3, 8, 64, 64)


def test_direct_construction(hmdb_dir):
    clip = ClipDataset.from_config(data_cfg(""), "val")
    ds = HMDB51(
        split_dir=os.path.join(hmdb_dir, "testTrainMulti_7030_splits"),
        split=1,
        subset="test",
        **clip,
    )
    assert ds.num_videos == 3 and ds.paths[0].startswith("brush_hair/")


def with_rawframes(root: str, videos: str) -> str:
    """``{root}/rawframes``: every ``{class}/{video}.avi`` under ``{root}/{videos}`` extracted to
    ``{class}/{video}/img_00001.jpg ...`` at its own 25 fps (MMAction2's rawframes layout)."""
    out = os.path.join(root, "rawframes")
    if not os.path.isdir(out):
        for name in sorted(os.listdir(os.path.join(root, videos))):
            for avi in sorted(os.listdir(os.path.join(root, videos, name))):
                folder = os.path.join(out, name, avi[: -len(".avi")])
                extract_frames(os.path.join(root, videos, name, avi), folder)
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "make_cfg, fixture, videos",
    [(ucf_cfg, "ucf_dir", "UCF-101"), (hmdb_cfg, "hmdb_dir", "hmdb51_org")],
)
def test_frame_folders_read_like_the_videos(request, make_cfg, fixture, videos):
    root = request.getfixturevalue(fixture)
    raw = with_rawframes(root, videos)
    frames_keys = {"DATA.VIDEO_FORMAT": "frames", "DATA.FRAME_FPS": 25.0, "DATA.PATH_PREFIX": raw}
    one_path = {"DATA.INPUT_CHANNEL_NUM": [3], "MODEL.MODEL_NAME": "ResNet"}
    for split in ("train", "test"):
        from_videos = build_dataset(make_cfg(root, **one_path), split)
        from_frames = build_dataset(make_cfg(root, **one_path, **frames_keys), split)
        # Split-file names class/v_X_gNN_cNN.avi are the folders class/v_X_gNN_cNN/.
        assert relative(from_frames, raw) == [
            p[: -len(".avi")] for p in relative(from_videos, os.path.join(root, videos))
        ]
        assert from_frames.labels == from_videos.labels
        for index in range(from_frames.num_videos):
            with from_videos.video_at(index) as video, from_frames.video_at(index) as folder:
                assert (folder.num_frames, folder.fps) == (video.num_frames, video.fps) == (20, 25)
                decoded = video.get_frames(range(20)).float()
                jpegs = folder.get_frames(range(20)).float()
            dist = (jpegs[:, None] - decoded[None]).abs().mean(dim=(2, 3, 4))
            # Each jpeg is closest to the decoded frame of its index (ties: repeated frames).
            assert torch.equal(dist.diagonal(), dist.min(dim=1).values) and dist.max() > 4.0
            assert dist.diagonal().max() < 4.0
        for index in range(0, len(from_frames), 5):
            random.seed(index)
            a = from_frames[index]
            random.seed(index)
            b = from_videos[index]
            assert (a["label"], a["video_index"], a["failed"]) == (b["label"], b["video_index"], [])
            assert a["inputs"][0].shape == b["inputs"][0].shape
            assert (a["inputs"][0].float() - b["inputs"][0].float()).abs().mean() < 4.0
