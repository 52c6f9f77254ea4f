"""Frame folders (DATA.VIDEO_FORMAT "frames") for every clip dataset: the template's numbering
and errors, Kinetics items from rawframes against the same videos decoded, failures, checks."""

import importlib.util
import os
import random
import shutil

import pytest
import torch
from synthetic import data_cfg, extract_frames

from slowvid.config import infer_and_check
from slowvid.data import build_dataset
from slowvid.data.checking import check_videos
from slowvid.data.datasets import Charades, ClipDataset, Kinetics, SSv2
from slowvid.data.decoding import DecodeError, open_video
from slowvid.data.frames import FrameFolders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def rawframes(demo_dir, tmp_path_factory) -> str:
    """``{root}/videos/{split}/{class}/{k}/img_00001.jpg ...`` for the demo's train and test
    videos (60 frames at 30 fps each), in the layout of their csv paths less ``.mp4``."""
    root = str(tmp_path_factory.mktemp("rawframes"))
    for split in ("train", "test"):
        with open(os.path.join(demo_dir, f"{split}.csv")) as f:
            for line in f:
                rel = line.split()[0]
                extract_frames(os.path.join(demo_dir, rel), os.path.join(root, rel[: -len(".mp4")]))
    return root


def frames_cfg(demo_dir, root, **overrides):
    """The demo's csv files, read as frame folders under ``root``."""
    overrides = {"DATA.VIDEO_FORMAT": "frames", "DATA.PATH_PREFIX": root, **overrides}
    return data_cfg(demo_dir, **overrides)


def mean_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().mean().item()


# ---------------------------------------------------------------------------- #
# FrameFolders
# ---------------------------------------------------------------------------- #


def write_files(folder, names):
    os.makedirs(folder, exist_ok=True)
    for name in names:
        open(os.path.join(folder, name), "wb").close()


def test_count_ignores_other_files_and_other_padding(tmp_path):
    names = [f"img_{n:05d}.jpg" for n in range(1, 13)]
    # MMAction2 keeps flow frames beside the RGB ones; img_13.jpg is not {:05d} padded.
    write_files(tmp_path, names + ["flow_x_00001.jpg", "img_13.jpg", "img_00014.png", "a.txt"])
    folders = FrameFolders("img_{:05d}.jpg", 25.0)
    assert folders.count_frames(str(tmp_path)) == 12
    video = folders.video(str(tmp_path))
    assert video.num_frames == 12 and video.fps == 25.0 and video.duration == 12 / 25
    assert video.paths[0] == os.path.join(tmp_path, "img_00001.jpg")
    assert video.paths[-1] == os.path.join(tmp_path, "img_00012.jpg")
    # Unpadded numbers are ordered by number, not by name (10 sorts before 9 as a name).
    write_files(tmp_path / "plain", [f"{n}.jpg" for n in range(1, 11)])
    plain = FrameFolders("{}.jpg").video(str(tmp_path / "plain"))
    assert [os.path.basename(p) for p in plain.paths[8:]] == ["9.jpg", "10.jpg"]


@pytest.mark.parametrize(
    "names, message",
    [
        ([], "no frames named like 'img_00001.jpg'"),
        (["flow_x_00001.jpg", "img_1.jpg"], "no frames named like 'img_00001.jpg'"),
        (
            ["img_00001.jpg", "img_00002.jpg", "img_00005.jpg"],
            "2 of frames 1..5 missing, the first",
        ),
        (["img_00000.jpg", "img_00001.jpg"], "numbered from 1 .* found 'img_00000.jpg'"),
    ],
)
def test_count_errors_name_the_folder(tmp_path, names, message):
    folder = tmp_path / "v_X_g01_c01"
    write_files(folder, names)
    with pytest.raises(DecodeError, match=message) as err:
        FrameFolders().count_frames(str(folder))
    assert err.value.path == str(folder)
    if "missing" in message:
        assert "'img_00003.jpg'" in str(err.value)


def test_missing_folder_and_file_in_place_of_folder(tmp_path):
    with pytest.raises(DecodeError, match="frame folder not found") as err:
        FrameFolders().count_frames(str(tmp_path / "nope"))
    assert err.value.path == str(tmp_path / "nope")
    write_files(tmp_path, ["clip"])
    with pytest.raises(DecodeError, match="cannot list the frame folder"):
        FrameFolders().count_frames(str(tmp_path / "clip"))


@pytest.mark.parametrize(
    "template", ["img.jpg", "{}_{}.jpg", "{name}.jpg", "{:x>q}.jpg", "sub/{:05d}.jpg"]
)
def test_bad_templates(template):
    with pytest.raises(ValueError, match="frame template"):
        FrameFolders(template)


@pytest.mark.parametrize(
    "path, folder",
    [
        ("a/b_000010_000020.mp4", "a/b_000010_000020"),
        ("UCF/v_X_g01_c01.avi", "UCF/v_X_g01_c01"),
        ("P01/videos/P01_01.MP4", "P01/videos/P01_01"),
        ("a/b.webm", "a/b"),
        ("a/b", "a/b"),
        ("a/b.c", "a/b.c"),  # not a video extension: part of the folder name
    ],
)
def test_folder_of(path, folder):
    assert FrameFolders.folder_of(path) == folder


@pytest.mark.parametrize(
    "key, value",
    [
        ("DATA.VIDEO_FORMAT", "rawframes"),
        ("DATA.FRAME_FPS", 0.0),
        ("DATA.FRAME_TEMPLATE", "img.jpg"),
        ("DATA.FRAME_TEMPLATE", "{x}.jpg"),
        ("DATA.FRAME_TEMPLATE", "a/{:05d}.jpg"),
    ],
)
def test_bad_keys_are_named(key, value):
    with pytest.raises(ValueError, match=f"config {key}"):
        infer_and_check(data_cfg("", **{key: value}))


def test_datasets_with_their_own_frames_refuse_frame_folders(tmp_path):
    kwargs = ClipDataset.from_config(data_cfg("", **{"DATA.VIDEO_FORMAT": "frames"}), "val")
    assert kwargs["frame_folders"] == FrameFolders("img_{:05d}.jpg", 30.0)
    frame_list = tmp_path / "val.csv"
    frame_list.write_text('original_vido_id video_id frame_id path labels\nA 0 0 A/1.jpg ""\n')
    with pytest.raises(ValueError, match="Charades cannot read frame folders"):
        Charades(frame_list=str(frame_list), **kwargs)
    # SSv2's own frame lists and the core frame folders are two layouts: one must be chosen.
    with pytest.raises(ValueError, match="exclude each other"):
        SSv2(labels_file="", split_file="", video_format="frames", frame_list="x", **kwargs)


# ---------------------------------------------------------------------------- #
# Kinetics from frame folders
# ---------------------------------------------------------------------------- #


def test_frames_are_the_videos_frames(demo_dir, rawframes):
    ds = build_dataset(frames_cfg(demo_dir, rawframes), "train")
    assert isinstance(ds, Kinetics) and ds.frame_folders is not None
    assert ds.paths[1] == os.path.join(rawframes, "videos/train/left_slow/001")
    for index in (1, 3, 14):
        mp4 = os.path.join(demo_dir, os.path.relpath(ds.paths[index], rawframes) + ".mp4")
        with open_video(mp4) as video, ds.video_at(index) as frames:
            assert (frames.num_frames, frames.fps) == (video.num_frames, video.fps) == (60, 30.0)
            decoded = video.get_frames(range(60)).float()
            jpegs = frames.get_frames(range(60)).float()
        assert jpegs.shape == decoded.shape == (60, 112, 112, 3)
        # Each jpeg's closest decoded frame is the one with its index (1-based names read as
        # 0-based indices; an off-by-one would pair every jpeg with its neighbour).
        dist = (jpegs[:, None] - decoded[None]).abs().mean(dim=(2, 3, 4))
        assert torch.equal(dist.diagonal(), dist.min(dim=1).values)
        assert dist.diagonal().max() < 4.0  # jpeg at quality 95
    assert ds._frame_counts == {1: 60, 3: 60, 14: 60}  # each folder listed once


def test_test_items_match_the_videos(demo_dir, rawframes):
    cfg = {"DATA.INPUT_CHANNEL_NUM": [3], "MODEL.MODEL_NAME": "ResNet"}
    videos = build_dataset(data_cfg(demo_dir, **cfg), "test")
    frames = build_dataset(frames_cfg(demo_dir, rawframes, **cfg), "test")
    assert len(frames) == len(videos) == 8 and frames.labels == videos.labels
    for index in range(2):  # every view of videos 0 and 1
        a, b = frames[index], videos[index]
        assert a["failed"] == [] and (a["label"], a["video_index"]) == (
            b["label"],
            b["video_index"],
        )
        assert a["inputs"][0].shape == b["inputs"][0].shape == (6, 3, 8, 64, 64)
        assert a["inputs"][0].dtype == b["inputs"][0].dtype == torch.uint8
        for k in range(6):
            near = mean_abs_diff(a["inputs"][0][k], b["inputs"][0][k])
            # The other temporal view of the same crop (the shape elsewhere) is further away.
            other = k + 3 if k < 3 else k - 3
            assert near < 4.0 and near < mean_abs_diff(a["inputs"][0][k], b["inputs"][0][other])


def test_train_items_match_and_csv_may_name_folders(demo_dir, rawframes, tmp_path):
    # A csv listing the folders themselves (no extension) reads the same folders.
    with open(os.path.join(demo_dir, "train.csv")) as f:
        lines = [line.replace(".mp4 ", " ") for line in f]
    (tmp_path / "train.csv").write_text("".join(lines))
    by_folder = build_dataset(
        data_cfg(str(tmp_path), **{"DATA.VIDEO_FORMAT": "frames", "DATA.PATH_PREFIX": rawframes}),
        "train",
    )
    frames = build_dataset(frames_cfg(demo_dir, rawframes), "train")
    videos = build_dataset(data_cfg(demo_dir), "train")
    assert by_folder.paths == frames.paths and by_folder.labels == frames.labels == videos.labels
    for index in (0, 9):
        # Same seed, same frame count and rate: the same random clip start and crop.
        items = []
        for ds in (frames, by_folder, videos):
            random.seed(5)
            items.append(ds[index])
        (a_slow, a_fast), (b_slow, b_fast), (v_slow, v_fast) = (it["inputs"] for it in items)
        assert a_fast.shape == v_fast.shape == (3, 8, 56, 56) and a_slow.shape == (3, 2, 56, 56)
        assert torch.equal(a_fast, b_fast) and torch.equal(a_slow, b_slow)
        assert mean_abs_diff(a_fast, v_fast) < 4.0
        assert items[0]["label"] == items[2]["label"] == videos.labels[index]


def test_missing_folder_fails_like_a_bad_video(demo_dir, rawframes, tmp_path, caplog):
    root = tmp_path / "raw"
    shutil.copytree(os.path.join(rawframes, "videos/train/up_fast"), root / "up_fast")
    os.makedirs(root / "empty")
    (tmp_path / "train.csv").write_text("missing/000.mp4 5\nempty.avi 6\nup_fast/001.mp4 5\n")
    (tmp_path / "test.csv").write_text("up_fast/000.mp4 5\nmissing/000.mp4 3\n")
    cfg = {"DATA.VIDEO_FORMAT": "frames", "DATA.PATH_PREFIX": str(root), "DATA.NUM_RETRIES": 50}
    train = build_dataset(data_cfg(str(tmp_path), **cfg), "train")
    random.seed(0)
    for index in (0, 1):
        item = train[index]
        assert item["inputs"] is not None and item["video_index"] == 2 and item["label"] == 5
        assert item["failed"][0] == str(root / ["missing/000", "empty"][index])
    assert "frame folder not found" in caplog.text and "no frames named like" in caplog.text
    cfg.update({"TEST.NUM_ENSEMBLE_VIEWS": 1, "TEST.NUM_SPATIAL_CROPS": 1})
    test = build_dataset(data_cfg(str(tmp_path), **cfg), "test")
    assert test[0]["inputs"] is not None
    assert test[1] == {
        "inputs": None,
        "label": 3,
        "video_index": 1,
        "failed": [str(root / "missing/000")],
    }


def test_check_videos_reports_a_missing_centre_frame(demo_dir, rawframes, tmp_path, capsys):
    root = tmp_path / "raw"
    shutil.copytree(os.path.join(rawframes, "videos/test"), root / "videos/test")
    ds = build_dataset(frames_cfg(demo_dir, str(root)), "test")
    # The centre clip of 60 frames, 8 frames every 2: frames 23..37, file img_00031.jpg.
    os.remove(root / "videos/test/right_fast/000/img_00031.jpg")
    report = check_videos(ds.paths, ds.labels, ds.clip, num_workers=2, video_at=ds.video_at)
    (bad,) = report.with_problem("unreadable")
    assert bad.path == str(root / "videos/test/right_fast/000") and bad.label == 3
    assert "1 of frames 1..60 missing, the first 'img_00031.jpg'" in bad.detail
    assert len(report.usable) == 7 and not report.with_problem("short")
    # The command-line tool builds the same dataset from the config.
    spec = importlib.util.spec_from_file_location("check_dataset", f"{REPO}/tools/check_dataset.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    argv = ["--cfg", f"{REPO}/configs/Demo/SLOWFAST_DEMO.yaml", "--split", "test", "--workers", "1"]
    argv += ["DATA.PATH_TO_DATA_DIR", demo_dir, "DATA.PATH_PREFIX", str(root)]
    argv += ["DATA.NUM_FRAMES", "8", "DATA.SAMPLING_RATE", "2", "DATA.VIDEO_FORMAT", "frames"]
    assert tool.main(argv) == 1
    printed = capsys.readouterr().out
    assert "8 videos: 7 usable, 1 unreadable" in printed and "'img_00031.jpg'" in printed
