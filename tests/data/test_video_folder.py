"""Training on your own videos: ``root/<class>/<videos>`` with VideoFolder and
tools/make_splits.py, end to end through tools/run_net.py as the README shows it, on a generated
folder of mp4, webm, mkv, avi and mov files with a corrupt video, a text file and an empty class
folder (each named in the log; the run goes on).

Classes are colours (the frame's hue), so a few epochs of a tiny SlowFast learn them.
"""

import importlib.util
import json
import os
import shutil

import numpy as np
import pytest

from slowvid.config import load_config
from slowvid.data.datasets import Kinetics, VideoFolder
from slowvid.data.datasets.video_folder import scan_video_folder, stratified_split
from slowvid.data.demo import write_video

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CFG = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
CLASSES = {"blue sky": (40, 60, 230), "grass": (40, 200, 40), "lava": (220, 40, 40)}
# container -> (codec, pixel format); one of each per class, then mp4s
FORMATS = {
    ".mp4": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
}
PER_CLASS = 6


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, f"tools/{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("my_videos")
    rng = np.random.default_rng(0)
    extensions = list(FORMATS) + [".mp4"] * (PER_CLASS - len(FORMATS))
    for name, colour in CLASSES.items():
        os.makedirs(root / name)
        for k, ext in enumerate(extensions):
            noise = rng.normal(0, 12, (16, 32, 32, 3))
            frames = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            codec, pix_fmt = FORMATS[ext]
            path = root / name / f"take {k:02d}{ext}"  # spaces in names, as users have them
            write_video(str(path), frames, 10, codec=codec, pix_fmt=pix_fmt)
    (root / "grass" / "broken.mp4").write_bytes(rng.integers(0, 256, 3000, np.uint8).tobytes())
    (root / "lava" / "notes.txt").write_text("shot on a phone\n")
    (root / "lava" / "empty.mov").write_bytes(b"")
    os.makedirs(root / "empty class")
    return str(root)


def test_scan_names_what_it_leaves_out(folder):
    scan = scan_video_folder(folder)
    assert scan.classes == sorted(CLASSES)
    assert len(scan.videos) == 3 * PER_CLASS + 1  # broken.mp4 is a video until decoded
    assert {os.path.splitext(p)[1] for p, _ in scan.videos} == set(FORMATS)
    skipped = "\n".join(scan.skipped)
    for culprit in ("notes.txt: not a video", "empty.mov: empty file", "empty class: class"):
        assert culprit in skipped
    with pytest.raises(ValueError, match="not a directory"):
        scan_video_folder(os.path.join(folder, "nope"))


def test_stratified_split_is_deterministic_per_class():
    videos = [(f"c{c}/v{i}.mp4", c) for c in range(3) for i in range([10, 2, 1][c])]
    kept, held = stratified_split(videos, 0.2)
    assert [sum(1 for _, c in held if c == k) for k in range(3)] == [2, 1, 0]
    assert sorted(kept + held) == sorted(videos)
    shuffled = videos[::-1]
    assert sorted(stratified_split(shuffled, 0.2)[1]) == sorted(held)  # order-free
    grown = videos + [("c0/v10.mp4", 0)]
    assert len(set(stratified_split(grown, 0.2)[1]) - set(held)) <= 1  # adding moves few
    assert stratified_split(videos, 0.0) == (videos, [])
    with pytest.raises(ValueError, match=r"DATA.VAL_FRACTION: 1.0; must lie in \[0, 1\)"):
        load_config(DEMO_CFG, ["DATA.VAL_FRACTION", "1.0"])


def tiny_opts(root: str, output_dir: str, **overrides) -> list[str]:
    opts = {
        "TRAIN.DATASET": "VideoFolder",
        "TEST.DATASET": "VideoFolder",
        "DATA.PATH_TO_DATA_DIR": root,
        "MODEL.NUM_CLASSES": 3,
        "OUTPUT_DIR": output_dir,
        "DATA.VAL_FRACTION": 0.34,
        "DATA.NUM_FRAMES": 8,
        "DATA.TRAIN_JITTER_SCALES": [32, 36],
        "DATA.TRAIN_CROP_SIZE": 32,
        "DATA.TEST_CROP_SIZE": 32,
        "RESNET.WIDTH_PER_GROUP": 4,
        "SLOWFAST.BETA_INV": 4,
        "MODEL.DROPOUT_RATE": 0.0,
        "BN.USE_PRECISE_STATS": True,
        "BN.NUM_BATCHES_PRECISE": 3,
        "TRAIN.BATCH_SIZE": 4,
        "TEST.BATCH_SIZE": 6,
        "SOLVER.BASE_LR": 0.05,
        "SOLVER.MAX_EPOCH": 5,
        "SOLVER.WARMUP_EPOCHS": 0.0,
        "TRAIN.EVAL_PERIOD": 5,
        "TRAIN.CHECKPOINT_PERIOD": 5,
        "DATA_LOADER.NUM_WORKERS": 0,
        "LOG_PERIOD": 5,
        "TENSORBOARD.ENABLE": False,
    }
    opts.update(overrides)
    return [x for k, v in opts.items() for x in (k, v if isinstance(v, str) else repr(v))]


def test_split_written_beside_the_run_and_reused(folder, tmp_path, caplog):
    cfg = load_config(DEMO_CFG, tiny_opts(folder, str(tmp_path)))
    train = VideoFolder(**VideoFolder.from_config(cfg, "train"))
    val = VideoFolder(**VideoFolder.from_config(cfg, "val"))
    test = VideoFolder(**VideoFolder.from_config(cfg, "test"))
    written = json.loads((tmp_path / "classnames.json").read_text())
    assert train.class_names == sorted(CLASSES) == written
    assert sorted(os.listdir(tmp_path / "splits")) == ["train.csv", "val.csv"]
    assert test.paths == val.paths and not set(val.paths) & set(train.paths)
    assert len(val.paths) == 6 and len(train.paths) == 13  # 2 of each class held out
    assert all(" " in p for p in val.paths)  # "take 03.mp4" read back whole
    # a re-run reads the saved split, even with a new video in the folder
    extra = os.path.join(folder, "lava", "take 99.mp4")
    shutil.copy(os.path.join(folder, "lava", "take 00.mp4"), extra)
    try:
        again = VideoFolder(**VideoFolder.from_config(cfg, "train"))
    finally:
        os.remove(extra)
    assert again.paths == train.paths and again.labels == train.labels
    assert "1 videos of" in caplog.text and "not in the split saved" in caplog.text


def test_wrong_class_count_and_kinetics_do_not_switch_modes(folder, tmp_path):
    cfg = load_config(DEMO_CFG, tiny_opts(folder, str(tmp_path), **{"MODEL.NUM_CLASSES": 8}))
    with pytest.raises(ValueError, match=r"has 3 classes \(blue sky, grass, lava\) but MODEL"):
        VideoFolder(**VideoFolder.from_config(cfg, "train"))
    # A Kinetics run pointed at a folder of class folders fails on the missing split file.
    kinetics = load_config(DEMO_CFG, ["DATA.PATH_TO_DATA_DIR", folder])
    with pytest.raises(FileNotFoundError, match="train.csv"):
        Kinetics(**Kinetics.from_config(kinetics, "train"))


def test_make_splits_files_are_read_by_video_folder(folder, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(folder, root)
    make_splits = _load_tool("make_splits")
    assert make_splits.main([root, "--val-fraction", "0.2", "--test-fraction", "0.2"]) == 0
    counts = {}
    for split in ("train", "val", "test"):
        with open(os.path.join(root, f"{split}.csv")) as f:
            counts[split] = len(f.read().splitlines())
    # test: round(0.2 n) of grass (7 with broken.mp4) and of the others (6): 1 each; val:
    # round(0.25 n) of what is left (6 -> 2, 5 -> 1)
    assert counts == {"train": 12, "val": 4, "test": 3}
    cfg = load_config(DEMO_CFG, tiny_opts(root, str(tmp_path / "run")))
    test = VideoFolder(**VideoFolder.from_config(cfg, "test"))
    assert len(test.paths) == 3 and test.class_names == sorted(CLASSES)
    assert not os.path.exists(tmp_path / "run" / "splits")  # the root's files were used
    os.remove(os.path.join(root, "classnames.json"))  # split files alone: labels are checked
    cfg = load_config(DEMO_CFG, tiny_opts(root, str(tmp_path / "run"), **{"MODEL.NUM_CLASSES": 2}))
    with pytest.raises(ValueError, match=r"test.csv: label 2 but MODEL.NUM_CLASSES is 2"):
        VideoFolder(**VideoFolder.from_config(cfg, "test"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_readme_command_trains_and_tests(folder, tmp_path, one_thread):
    """``tools/run_net.py --cfg ... TRAIN.DATASET VideoFolder ...``: trains, tests, names the
    corrupt file, the text file and the empty class folder, and the classes in the test log."""
    run_net = _load_tool("run_net")
    out = tmp_path / "run"
    assert run_net.main(["--cfg", DEMO_CFG, *tiny_opts(folder, str(out))]) == 0
    log = (out / "logs" / "log_rank0.txt").read_text()
    for culprit in ("broken.mp4", "notes.txt: not a video", "empty class: class folder"):
        assert culprit in log, culprit
    stats = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    test = [s for s in stats if s["_type"] == "test"][-1]
    print("VideoFolder test top-1", test["top1_acc"])
    assert test["top1_acc"] >= 66.0  # chance 33 %; the broken video (if held out) is missing
    assert "test per class: " in log and "blue sky" in log
