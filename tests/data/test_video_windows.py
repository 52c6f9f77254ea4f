"""VideoWindows: labelled windows of long videos. The csv and its errors, clips inside their
window, decoding that seeks (frames decoded per clip bounded by the clip's span plus one
keyframe interval, on a 60 s video), and a short CPU train+test of
configs/VideoWindows/SLOWFAST_8x8_R50.yaml.

Videos are lossless H.264 with a keyframe exactly every GOP frames; a window's frames are its
class's colour, the footage between windows grey, and every frame carries its index.
"""

import json
import math
import os
import random

import numpy as np
import pytest
from synthetic import (
    LOSSLESS_X264,
    extract_frames,
    lossless_options,
    read_index_rows,
    write_index_rows,
)

from slowvid import engine
from slowvid.config import load_config
from slowvid.data.datasets.video_windows import VideoWindows, read_windows
from slowvid.data.demo import write_video

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(REPO, "configs/VideoWindows/SLOWFAST_8x8_R50.yaml")
FPS, SIZE, SECONDS, GOP = 10, 32, 60, 25
NAMES = ["stir", "chop", "wash"]
COLOURS = [(220, 40, 40), (40, 200, 40), (40, 60, 230)]
# video -> [(start_sec, end_sec, label)]; labels by name in every other row of the csv
WINDOWS = {
    "long/a.mp4": [(2.0, 4.0, 0), (6.34, 8.05, 1), (11.0, 12.5, 2), (19.0, 21.0, 0),
                   (27.5, 29.0, 1), (33.0, 35.2, 2), (44.0, 45.5, 0), (51.0, 53.0, 1)],
    "long/b.mp4": [(1.0, 2.5, 1), (8.0, 10.0, 2), (14.2, 16.0, 0), (23.0, 24.5, 1),
                   (30.0, 32.0, 2), (40.0, 41.6, 0), (48.0, 50.0, 2), (56.0, 58.0, 1)],
    "long/c.mp4": [(3.0, 5.0, 2), (9.0, 10.5, 0), (17.0, 19.0, 1), (25.0, 25.35, 0),
                   (31.0, 33.0, 2), (42.0, 44.0, 1), (50.5, 52.0, 0), (55.0, 57.0, 2)],
}  # fmt: skip
SPLITS = {"train": ["long/a.mp4", "long/b.mp4"], "val": ["long/c.mp4"], "test": ["long/c.mp4"]}


def shown(start: float, end: float) -> list[int]:
    """Frames shown during [start, end): frame i is on screen from i / FPS."""
    return [i for i in range(SECONDS * FPS) if start <= i / FPS < end]


@pytest.fixture(scope="module")
def windows_dir(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("windows")
    for video, windows in WINDOWS.items():
        frames = np.full((SECONDS * FPS, SIZE, SIZE, 3), 128, np.uint8)
        for start, end, label in windows:
            frames[shown(start, end)] = COLOURS[label]
        os.makedirs(root / os.path.dirname(video), exist_ok=True)
        write_video(
            str(root / video),
            write_index_rows(frames),
            FPS,
            options=lossless_options(GOP),
            **LOSSLESS_X264,
        )
    for split, videos in SPLITS.items():
        rows = ["video,start_sec,end_sec,label,narration"]
        for video in videos:
            for k, (start, end, label) in enumerate(WINDOWS[video]):
                rows.append(f"{video},{start},{end},{NAMES[label] if k % 2 else label},text")
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    (root / "classnames.json").write_text(json.dumps(NAMES))
    return str(root)


def tiny_opts(data_dir: str, output_dir: str, **overrides) -> list[str]:
    opts = {
        "DATA.PATH_TO_DATA_DIR": data_dir,
        "DATA.PATH_PREFIX": data_dir,
        "DATA.NUM_FRAMES": 4,
        "DATA.SAMPLING_RATE": 2,
        "DATA.TARGET_FPS": FPS,
        "DATA.TRAIN_JITTER_SCALES": [32, 36],
        "DATA.TRAIN_CROP_SIZE": 32,
        "DATA.TEST_CROP_SIZE": 32,
        "DATA.DECODING_BACKEND": "pyav",
        "SLOWFAST.ALPHA": 2,
        "SLOWFAST.BETA_INV": 4,
        "RESNET.DEPTH": 18,
        "RESNET.WIDTH_PER_GROUP": 4,
        "MODEL.NUM_CLASSES": 3,
        "MODEL.DROPOUT_RATE": 0.0,
        "BN.USE_PRECISE_STATS": True,  # 16 steps leave the running statistics short
        "BN.NUM_BATCHES_PRECISE": 4,
        "TRAIN.BATCH_SIZE": 4,
        "TEST.BATCH_SIZE": 8,
        "TEST.NUM_ENSEMBLE_VIEWS": 2,
        "TEST.NUM_SPATIAL_CROPS": 1,
        "SOLVER.BASE_LR": 0.05,
        "SOLVER.MAX_EPOCH": 6,  # 4 epochs: one seed in 8 stops at 62 %; 6: 100 % for seeds 1-8
        "SOLVER.WARMUP_EPOCHS": 0.0,
        "TRAIN.EVAL_PERIOD": 6,
        "TRAIN.CHECKPOINT_PERIOD": 6,
        "DATA_LOADER.NUM_WORKERS": 0,
        "DATA_LOADER.PIN_MEMORY": False,
        "TENSORBOARD.ENABLE": False,
        "NUM_GPUS": 0,
        "OUTPUT_DIR": output_dir,
    }
    opts.update(overrides)
    return [x for k, v in opts.items() for x in (k, v if isinstance(v, str) else repr(v))]


def test_csv_labels_by_index_or_name(windows_dir):
    windows = read_windows(os.path.join(windows_dir, "train.csv"), 3, NAMES)
    first_two = [(w.start_sec, w.end_sec, w.label) for w in windows[:2]]
    assert first_two == [(2.0, 4.0, 0), (6.34, 8.05, 1)]
    assert windows[1].video == "long/a.mp4" and len(windows) == 16


@pytest.mark.parametrize(
    "row, problem",
    [
        ("a.mp4,3.0,2.0,1", r"window \[3.0, 2.0\) is empty"),
        ("a.mp4,1.0,2.0,peel", "label 'peel' is neither a class index nor a name"),
        ("a.mp4,1.0,2.0,3", r"label 3 outside \[0, 3\)"),
        ("a.mp4,1.0,two,1", "could not convert"),
        ("a.mp4,1.0,2.0", "expected 4 fields"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, row, problem):
    path = tmp_path / "train.csv"
    path.write_text(f"video,start_sec,end_sec,label\na.mp4,0,1,chop\n{row}\n")
    with pytest.raises(ValueError, match=rf"train.csv:3: .*{problem}"):
        read_windows(str(path), 3, NAMES)


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "val.csv"
    path.write_text("video,start,end_sec,label\n")
    with pytest.raises(ValueError, match=r"val.csv:1: header lacks columns \['start_sec'\]"):
        read_windows(str(path), 3)


@pytest.mark.timeout(120)
def test_clips_stay_inside_and_decoding_seeks(windows_dir, tmp_path):
    """Every clip's frames lie in its window; each clip decodes at most its span plus one
    GOP, wherever the window lies in the 600-frame video."""
    cfg = load_config(CFG, tiny_opts(windows_dir, str(tmp_path)))
    rng = random.Random(0)
    deepest = 0
    for split, views in (("train", [-1, -1]), ("test", [0, 1])):
        data = VideoWindows(**VideoWindows.from_config(cfg, split))
        assert data.class_names == NAMES
        windows = [w for v in SPLITS[split] for w in WINDOWS[v]]
        assert data.labels == [label for _, _, label in windows]
        for i, (start, end, _) in enumerate(windows):
            frames = shown(start, end)
            for view in views:
                with data.video_at(i) as segment:
                    clip = segment.get_frames(data.frame_indices(segment, view, rng))
                    decoded_count = segment.video.last_decoded_count
                got = read_index_rows(clip)
                assert set(got) <= set(frames), (start, end, got)
                span = got[-1] - got[0] + 1
                assert decoded_count <= span + GOP, (start, decoded_count, span)
                deepest = max(deepest, got[0])
                if len(frames) < 7:  # 25.0-25.35 s: 4 frames, shorter than a clip
                    assert got[-1] == frames[-1] and got.count(frames[-1]) >= 2
    assert deepest > 20 * GOP  # without seeking, that clip alone would decode > 500 frames


def test_frame_folders_read_the_same_windows(windows_dir, tmp_path):
    """DATA.VIDEO_FORMAT frames: ``long/c.mp4`` names the folder ``long/c`` of png frames."""
    prefix = tmp_path / "frames"
    extract_frames(os.path.join(windows_dir, "long/c.mp4"), str(prefix / "long/c"), "f{:04d}.png")
    frames = {"DATA.VIDEO_FORMAT": "frames", "DATA.FRAME_FPS": float(FPS)}
    frames.update({"DATA.FRAME_TEMPLATE": "f{:04d}.png", "DATA.PATH_PREFIX": str(prefix)})
    cfg = load_config(CFG, tiny_opts(windows_dir, str(tmp_path), **frames))
    data = VideoWindows(**VideoWindows.from_config(cfg, "test"))
    video_cfg = load_config(CFG, tiny_opts(windows_dir, str(tmp_path)))
    videos = VideoWindows(**VideoWindows.from_config(video_cfg, "test"))
    for i, (start, end, _) in enumerate(WINDOWS["long/c.mp4"]):
        clips = []
        for dataset in (data, videos):
            with dataset.video_at(i) as segment:
                clip = segment.get_frames(dataset.frame_indices(segment, 1, None))
            clips.append(read_index_rows(clip))
        assert clips[0] == clips[1] and set(clips[0]) <= set(shown(start, end))


def test_window_past_the_end_is_a_named_failure(windows_dir, tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(f"video,start_sec,end_sec,label\n{windows_dir}/long/a.mp4,70.0,72.0,1\n")
    cfg = load_config(CFG, tiny_opts(str(tmp_path), str(tmp_path), **{"DATA.PATH_PREFIX": ""}))
    item = VideoWindows(**VideoWindows.from_config(cfg, "test"))[0]
    # One failed entry per view (2 temporal views), as views are what the evaluation counts.
    assert item["inputs"] is None and item["failed"] == [f"{windows_dir}/long/a.mp4"] * 2


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_short_cpu_run_learns(windows_dir, tmp_path, one_thread):
    cfg = load_config(CFG, tiny_opts(windows_dir, str(tmp_path / "run")))
    out = engine.train(cfg)
    assert math.isfinite(out["train"]["loss"])
    results = engine.test(cfg)
    print("VideoWindows test top-1", results["top1_acc"])
    assert results["num_videos"] == 8 and results["failed_views"] == 0
    assert results["top1_acc"] >= 75.0  # chance 33 %
