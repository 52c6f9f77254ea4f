"""PySlowFast's data keys by their effect: where test clips start, the jitter scale draw, BGR
inputs, its decoder and dataset names, and the ImageNet folder layout as one-frame clips."""

import json
import logging
import os
import random

import cv2
import numpy as np
import pytest
import torch
from synthetic import NUM_INDEX_FRAMES, data_cfg, index_frame

from slowvid import engine
from slowvid.config import get_cfg, load_config
from slowvid.data import build_dataset
from slowvid.data import decoding as decoding_module
from slowvid.data.augment import LightingJitter
from slowvid.data.build import dataset_class
from slowvid.data.sampling import clip_start
from slowvid.data.transforms import ClipTransform, jitter_scale
from slowvid.engine.inputs import PixelNorm


def test_offset_sampling_chooses_pyslowfast_s_test_clip_starts():
    # 90-frame video, 16-frame clips: starts range over [0, 74].
    offset = [clip_start(90, 16, clip_idx=k, num_clips=3) for k in range(3)]
    uniform = [clip_start(90, 16, clip_idx=k, num_clips=3, offset=False) for k in range(3)]
    assert offset == [0, 37, 74]  # k * floor(74 / 2): the clips reach both ends
    assert uniform == [0, 24, 49]  # floor(74 * k / 3): never the end
    assert clip_start(90, 16, num_clips=1, clip_idx=0) == 37
    assert clip_start(90, 16, num_clips=1, clip_idx=0, offset=False) == 0
    assert clip_start(91, 16, clip_idx=2, num_clips=3) == 74  # floor(75 / 2) * 2, not 75


@pytest.mark.timeout(60)
@pytest.mark.parametrize("offset", [True, False])
def test_a_kinetics_test_split_decodes_the_clips_the_key_asks_for(index_video, tmp_path, offset):
    (tmp_path / "test.csv").write_text(f"{os.path.basename(index_video)} 0\n")
    cfg = data_cfg(str(tmp_path), **{"DATA.USE_OFFSET_SAMPLING": offset})
    cfg.DATA.PATH_PREFIX = os.path.dirname(index_video)
    cfg.DATA.INPUT_CHANNEL_NUM, cfg.TEST.NUM_ENSEMBLE_VIEWS = [3], 3
    cfg.MODEL.MODEL_NAME = "ResNet"  # a one-pathway model: the pathways are the model's
    dataset = build_dataset(cfg, "test")
    firsts = []
    for view in range(3):
        with dataset.video_at(0) as video:
            indices = dataset.frame_indices(video, view, random.Random(0))
            frames = video.get_frames(indices)
        firsts.append(int(frames[0, 0, 0, 0]))  # the red channel encodes the frame index
    span = 8 * 2
    delta = NUM_INDEX_FRAMES - span
    assert firsts == ([0, delta // 2, delta] if offset else [0, delta // 3, 2 * delta // 3])


def test_inverse_uniform_scales_favour_small_sizes():
    rng_a, rng_b = random.Random(3), random.Random(3)
    draws = [jitter_scale(256, 320, rng_a, inverse_uniform=True) for _ in range(2000)]
    expected = [round(1 / random.Random(3).uniform(1 / 320, 1 / 256))]
    assert draws[0] == expected[0]
    plain = [jitter_scale(256, 320, rng_b) for _ in range(2000)]
    assert 256 <= min(draws) and max(draws) <= 320
    # The reciprocal of a uniform draw has its median below the middle of the range.
    assert np.median(draws) < np.median(plain) - 2
    transform = build_dataset_transform(**{"DATA.INV_UNIFORM_SAMPLE": True})
    assert transform.inverse_uniform_scale


def build_dataset_transform(**overrides) -> ClipTransform:
    from slowvid.data.datasets import ClipDataset

    return ClipDataset.from_config(data_cfg("", **overrides), "train")["transform"]


def test_reverse_input_channel_feeds_bgr_normalised_as_pyslowfast_does():
    frames = torch.from_numpy(np.stack([index_frame(i, 32, 32) for i in range(4)]))
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    common = dict(training=False, crop_size=32, mean=mean, std=std)
    rgb = ClipTransform(**common)(frames)
    bgr = ClipTransform(**common, reverse_channels=True)(frames)
    torch.testing.assert_close(bgr, rgb.flip(0))  # normalised in RGB, then reversed
    # uint8 clips are reversed in the loader and normalised on the device with reversed stats.
    pixels = ClipTransform(**common, reverse_channels=True, uint8_output=True)(frames)
    cfg = get_cfg()
    cfg.DATA.MEAN, cfg.DATA.STD, cfg.DATA.REVERSE_INPUT_CHANNEL = list(mean), list(std), True
    torch.testing.assert_close(PixelNorm.from_config(cfg)(pixels), bgr)
    assert build_dataset_transform(**{"DATA.REVERSE_INPUT_CHANNEL": True}).reverse_channels


def test_torchvision_backend_decodes_with_one_warning(monkeypatch, caplog, index_video):
    monkeypatch.setattr(decoding_module, "_WARNED_TORCHVISION", False)
    with caplog.at_level(logging.WARNING, logger=decoding_module.__name__):
        chosen = [decoding_module.resolve_backend("torchvision") for _ in range(3)]
    assert chosen[0] == decoding_module.resolve_backend("auto") and len(set(chosen)) == 1
    assert caplog.text.count("torchvision's video decoding is deprecated") == 1
    with decoding_module.open_video(index_video, "torchvision") as video:
        assert int(video.get_frames([5])[0, 0, 0, 0]) == 5


def test_pyslowfast_dataset_names_resolve():
    assert dataset_class("kinetics").__name__ == "Kinetics"
    assert dataset_class("ptvkinetics").__name__ == "Kinetics"
    assert dataset_class("ssv2").__name__ == "SSv2"
    assert dataset_class("ava").__name__ == "Ava"
    assert dataset_class("imagenet").__name__ == "ImageNet"
    with pytest.raises(KeyError, match="'kinetic' names no registered dataset"):
        dataset_class("kinetic")


def test_lighting_jitter_shifts_each_channel_by_one_pca_offset():
    eigval, eigvec = [0.2, 0.1, 0.05], [[1, 0, 0], [0, 1, 0], [0, 0.6, 0.8]]
    clip = torch.full((3, 2, 4, 4), 0.5)
    out = LightingJitter(eigval, eigvec)(clip, random.Random(7))
    rng = random.Random(7)
    alpha = [rng.gauss(0, 0.1) for _ in range(3)]
    shift = [sum(v * a * e for v, a, e in zip(row, alpha, eigval)) for row in eigvec]
    for c in range(3):
        torch.testing.assert_close(out[c], torch.full((2, 4, 4), 0.5 + shift[c]))


def _imagenet(root, split: str, per_class: int, size=(24, 40)) -> None:
    rng = np.random.default_rng(len(split))
    for wnid in ("n00000001", "n00000002"):
        folder = os.path.join(root, split, wnid)
        os.makedirs(folder)
        for i in range(per_class):
            image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            cv2.imwrite(os.path.join(folder, f"{wnid}_{i}.png"), image)
    os.makedirs(os.path.join(root, split, "not_a_class"))  # ignored, as PySlowFast does


def _imagenet_cfg(root, **overrides):
    cfg = data_cfg(str(root), **overrides)
    cfg.TRAIN.DATASET = cfg.TEST.DATASET = "imagenet"
    cfg.DATA.NUM_FRAMES, cfg.DATA.INPUT_CHANNEL_NUM = 1, [3]
    cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE = 16, 14
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH = "ResNet", "2d"
    return cfg


@pytest.mark.timeout(60)
def test_imagenet_folders_are_one_frame_clips(tmp_path):
    _imagenet(tmp_path, "train", 2)
    _imagenet(tmp_path, "val", 1)
    train = build_dataset(_imagenet_cfg(tmp_path), "train")
    assert train.class_names == ["n00000001", "n00000002"] and train.labels == [0, 0, 1, 1]
    item = train[3]
    assert item["inputs"][0].shape == (3, 1, 16, 16) and item["label"] == 1
    # Without AUG, training adds PCA lighting noise: a float clip, not loader uint8.
    assert isinstance(train.transform.augment, LightingJitter)
    val = build_dataset(_imagenet_cfg(tmp_path), "val")
    assert val.transform.test_scale == 16  # 14 / 0.875
    assert len(val) == 2  # one centre crop per image, whatever TEST.NUM_SPATIAL_CROPS says
    clip = val[0]["inputs"][0]
    image = cv2.cvtColor(cv2.imread(val.paths[0]), cv2.COLOR_BGR2RGB)
    resized = torch.nn.functional.interpolate(
        torch.from_numpy(image).permute(2, 0, 1)[None].float(),
        size=(16, 26),
        mode="bilinear",
        align_corners=False,
    )
    centre = resized[0, :, 1:15, 6:20] / 255.0
    cfg = _imagenet_cfg(tmp_path)
    mean, std = torch.tensor(cfg.DATA.MEAN), torch.tensor(cfg.DATA.STD)
    expected = (centre - mean.view(3, 1, 1)) / std.view(3, 1, 1)
    got = clip.float() if clip.dtype != torch.uint8 else PixelNorm.from_config(cfg)(clip[None])[0]
    torch.testing.assert_close(got[:, 0], expected, atol=0.03, rtol=0)


def test_imagenet_reads_pyslowfast_s_preloaded_listing(tmp_path):
    _imagenet(tmp_path, "train", 1)
    files = sorted(
        os.path.join(tmp_path, "train", w, f)
        for w in ("n00000001", "n00000002")
        for f in os.listdir(tmp_path / "train" / w)
    )
    listing = [{"im_path": p, "class": 1 - i} for i, p in enumerate(files)]
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.json").write_text(json.dumps(listing))
    cfg = _imagenet_cfg(tmp_path, **{"DATA.PATH_TO_PRELOAD_IMDB": str(tmp_path / "lists")})
    dataset = build_dataset(cfg, "train")
    assert dataset.paths == files and dataset.labels == [1, 0]


@pytest.mark.timeout(180)
def test_a_2d_resnet_trains_and_tests_on_imagenet_folders(tmp_path, one_thread):
    for split, n in (("train", 4), ("val", 1), ("test", 1)):
        _imagenet(tmp_path / "data", split, n)
    tree = {
        "TRAIN": {"DATASET": "imagenet", "BATCH_SIZE": 4, "EVAL_PERIOD": 1},
        "TEST": {"DATASET": "imagenet", "BATCH_SIZE": 2},
        "DATA": {
            "PATH_TO_DATA_DIR": str(tmp_path / "data"),
            "NUM_FRAMES": 1,
            "TRAIN_JITTER_SCALES": [16, 20],
            "TRAIN_CROP_SIZE": 16,
            "TEST_CROP_SIZE": 16,
            "INPUT_CHANNEL_NUM": [3],
            "MEAN": [0.485, 0.456, 0.406],
            "STD": [0.229, 0.224, 0.225],
        },
        "RESNET": {"DEPTH": 18, "WIDTH_PER_GROUP": 4, "TRANS_FUNC": "bottleneck_transform"},
        "MODEL": {"ARCH": "2d", "MODEL_NAME": "ResNet", "NUM_CLASSES": 2},
        "SOLVER": {"MAX_EPOCH": 1, "BASE_LR": 0.01},
        "DATA_LOADER": {"NUM_WORKERS": 0},
        "NUM_GPUS": 0,
        "OUTPUT_DIR": str(tmp_path / "run"),
        "TENSORBOARD": {"ENABLE": False},
        "LOG_MODEL_INFO": False,
    }
    path = tmp_path / "RES_TINY.yaml"
    path.write_text(json.dumps(tree))
    results = engine.train_and_test(load_config(str(path)))
    assert results["test"]["num_videos"] == 2 and results["test"]["num_missing"] == 0
