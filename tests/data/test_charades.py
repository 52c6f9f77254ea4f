"""Charades: frame-list parsing and its errors, clip sampling, items, and a short CPU run of
configs/Charades/SLOW_8x8_R50.yaml that ends in an mAP, on a tiny fixture in PySlowFast's layout
(header line, ``original_vido_id video_id frame_id path labels``, jpg frames)."""

import math
import os
import random

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from slowvid import engine
from slowvid.checkpoint import find_latest_checkpoint, load_checkpoint
from slowvid.config import load_config
from slowvid.data import build_loader
from slowvid.data.datasets.charades import (
    Charades,
    charades_clip_indices,
    read_charades_frame_list,
)
from slowvid.engine.inputs import PixelNorm, to_device
from slowvid.models import build_model

NUM_CLASSES = 5
# video -> per-frame labels (a string per frame, as in the csv)
TRAIN = {
    "46GP8": ['""', '""', "1,3", "1,3", "3", "3", '""', '""', "2", "2"],
    "N11GT": ["0", "0", "0", "4", "4", "4", "4", '""', '""', '""'],
    "0IH69": ['""', "2", "2", "2", "1", "1", '""', '""', '""', '""'],
    "KRF68": ["0,4", "0,4", "0", '""', '""', '""', '""', '""', '""', '""'],
}
VAL = {
    "YSKX3": ["1", "1", "1", '""', '""', '""', "3", "3", '""', '""'],
    "ZZXQF": ["0", "0", '""', '""', "4", "4", "4", '""', '""', '""'],
}
CHARADES_CFG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "configs/Charades/SLOW_8x8_R50.yaml",
)


def write_frame_list(path, videos, frame_dir):
    lines = ["original_vido_id video_id frame_id path labels"]
    for vid, (name, labels) in enumerate(videos.items()):
        os.makedirs(os.path.join(frame_dir, name), exist_ok=True)
        for i, label in enumerate(labels):
            rel = f"{name}/{name}-{i + 1:06d}.jpg"
            shade = 20 * vid + 10 * i
            frame = np.full((24, 32, 3), shade % 256, np.uint8)
            cv2.imwrite(os.path.join(frame_dir, rel), frame)
            lines.append(f"{name} {vid} {i} {rel} {label}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def charades_dir(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("charades"))
    frames = os.path.join(out, "Charades_v1_rgb")
    write_frame_list(os.path.join(out, "train.csv"), TRAIN, frames)
    write_frame_list(os.path.join(out, "val.csv"), VAL, frames)
    return out


def test_frame_list_gives_videos_frames_and_label_unions(charades_dir):
    frames = os.path.join(charades_dir, "Charades_v1_rgb")
    names, paths, labels = read_charades_frame_list(
        os.path.join(charades_dir, "train.csv"), frames, NUM_CLASSES
    )
    assert names == list(TRAIN)
    assert [len(p) for p in paths] == [10] * 4
    assert paths[0][2] == os.path.join(frames, "46GP8/46GP8-000003.jpg")
    assert labels == [{1, 2, 3}, {0, 4}, {1, 2}, {0, 4}]


@pytest.mark.parametrize(
    "line, problem",
    [("46GP8 0 0 46GP8/46GP8-000001.jpg", "expected 5 fields"), ("a 0 0 a.jpg 1,9", "'9'")],
)
def test_malformed_line_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "train.csv"
    path.write_text(f"original_vido_id video_id frame_id path labels\na 0 0 a.jpg 1\n{line}\n")
    with pytest.raises(ValueError, match=rf"train.csv:3: .*{problem}"):
        read_charades_frame_list(str(path), "", NUM_CLASSES)


def test_clip_indices():
    rng = random.Random(0)
    # 10 frames, clip of 4 every 2 (length 7): test views start at 0 and 3.
    assert charades_clip_indices(10, 4, 2, 0, 2, rng) == [0, 2, 4, 6]
    assert charades_clip_indices(10, 4, 2, 1, 2, rng) == [3, 5, 7, 9]
    assert charades_clip_indices(3, 4, 2, 0, 1, rng) == [0, 2, 2, 2]  # clamped
    for _ in range(20):
        idx = charades_clip_indices(10, 4, 2, -1, 1, rng)
        assert idx[0] in range(4) and idx[1:] == [idx[0] + 2, idx[0] + 4, idx[0] + 6]


def tiny_opts(data_dir, output_dir):
    opts = {
        "DATA.PATH_TO_DATA_DIR": data_dir,
        "DATA.PATH_PREFIX": os.path.join(data_dir, "Charades_v1_rgb"),
        "DATA.NUM_FRAMES": 4,
        "DATA.SAMPLING_RATE": 2,
        "DATA.TRAIN_JITTER_SCALES": [24, 28],
        "DATA.TRAIN_CROP_SIZE": 24,
        "DATA.TEST_CROP_SIZE": 24,
        "MODEL.NUM_CLASSES": NUM_CLASSES,
        "RESNET.WIDTH_PER_GROUP": 4,
        "BN.NORM_TYPE": "batchnorm",
        "BN.USE_PRECISE_STATS": False,
        "TRAIN.BATCH_SIZE": 2,
        "TEST.BATCH_SIZE": 4,
        "TEST.NUM_ENSEMBLE_VIEWS": 2,
        "SOLVER.MAX_EPOCH": 1,
        "SOLVER.WARMUP_EPOCHS": 0.0,
        "SOLVER.STEPS": [0],
        "SOLVER.LRS": [1],
        "TRAIN.EVAL_PERIOD": 1,
        "DATA_LOADER.NUM_WORKERS": 0,
        "DATA_LOADER.PIN_MEMORY": False,
        "TENSORBOARD.ENABLE": False,
        "NUM_GPUS": 0,
        "OUTPUT_DIR": output_dir,
    }
    return [x for k, v in opts.items() for x in (k, v if isinstance(v, str) else repr(v))]


def test_items_are_multi_hot(charades_dir, tmp_path):
    cfg = load_config(CHARADES_CFG, tiny_opts(charades_dir, str(tmp_path)))
    test = Charades(**Charades.from_config(cfg, "test"))
    assert test.num_videos == 2 and len(test) == 2 and test.views_per_item == 2 * 3
    item = test[0]  # every view of video 0, from one decode
    assert item["inputs"][0].shape == (6, 3, 4, 24, 24)
    assert item["label"].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_short_cpu_run_reports_map(charades_dir, tmp_path):
    cfg = load_config(CHARADES_CFG, tiny_opts(charades_dir, str(tmp_path / "run")))
    out = engine.train(cfg)
    assert math.isfinite(out["train"]["loss"]) and math.isfinite(out["val"]["mAP"])
    results = engine.test(cfg)
    assert results["num_videos"] == 2 and results["num_missing"] == 0
    # the reported mAP is sklearn's over the max-pooled sigmoid scores of each video's 6 views
    model = build_model(cfg).eval()
    load_checkpoint(find_latest_checkpoint(cfg.OUTPUT_DIR), model)
    scores = np.full((2, NUM_CLASSES), -np.inf)
    labels = np.zeros((2, NUM_CLASSES), dtype=bool)
    views = 0
    with torch.no_grad():
        for batch in build_loader(cfg, "test"):
            inputs = to_device(batch["inputs"], torch.device("cpu"), PixelNorm.from_config(cfg))
            probs = model(inputs).sigmoid().double().numpy()
            for video, p, label in zip(batch["video_index"].tolist(), probs, batch["label"]):
                scores[video] = np.maximum(scores[video], p)
                labels[video] = label.numpy() > 0
                views += 1
    assert views == 2 * 2 * 3
    aps = [average_precision_score(labels[:, k], scores[:, k]) for k in range(NUM_CLASSES)]
    valid = [ap for ap, positive in zip(aps, labels.any(0)) if positive]
    assert results["mAP"] == pytest.approx(100.0 * np.mean(valid), abs=1e-6)
    torch.manual_seed(0)  # leave no state to other tests
