"""Decoding on the model's device (DATA.DECODING_BACKEND torchcodec_cuda): the batched
transforms equal the per-clip ones, the whole path runs on CPU tensors, and without a GPU the
loader falls back with one message."""

import dataclasses
import logging
import random

import pytest
import torch
from synthetic import data_cfg

from slowvid.data import build_dataset, collate_clips
from slowvid.data.datasets import Kinetics
from slowvid.data.decoding import torchcodec_available
from slowvid.data.device_decoding import (
    EncodedBatch,
    apply_geometries,
    draw_geometry,
    resolve_device_decoding,
)
from slowvid.data.transforms import ClipTransform
from slowvid.engine.inputs import PixelNorm, to_device

TORCHCODEC_OK, TORCHCODEC_REASON = torchcodec_available()
needs_torchcodec = pytest.mark.skipif(not TORCHCODEC_OK, reason=TORCHCODEC_REASON)

# Pixels in, pixels out: normalising with these leaves values on [0, 255].
PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1 / 255, 1 / 255, 1 / 255)}

TRANSFORMS = {
    "train": ClipTransform(training=True, jitter_scales=(40, 52), crop_size=32),
    "train relative": ClipTransform(training=True, crop_size=32, jitter_scales_relative=(0.2, 1.0)),
    "test": ClipTransform(training=False, crop_size=32),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_batched_transforms_equal_per_clip_ones(name):
    transform = dataclasses.replace(TRANSFORMS[name], uint8_output=True)
    gen = torch.Generator().manual_seed(0)
    # Noise frames: a window off by one pixel would differ by tens of grey levels.
    shapes = [(4, 40, 56), (4, 56, 40), (4, 48, 48), (4, 40, 56), (4, 36, 64), (4, 40, 56)]
    clips = [torch.randint(0, 256, (*s, 3), dtype=torch.uint8, generator=gen) for s in shapes]
    expected, geometries = [], []
    for seed, frames in enumerate(clips):
        spatial_idx = seed % 3
        expected.append(transform(frames, spatial_idx=spatial_idx, rng=random.Random(seed)))
        _, h, w, _ = frames.shape
        geometries.append(draw_geometry(transform, h, w, spatial_idx, random.Random(seed)))
    batch = apply_geometries(clips, geometries, **PIXELS)
    assert batch.shape == (6, 3, 4, 32, 32) and batch.dtype == torch.float32
    if name.startswith("train"):
        assert any(g.flip for g in geometries) and not all(g.flip for g in geometries)
    # The per-clip path rounds to uint8 where this one stays float: at most one grey level.
    diff = (batch - torch.stack(expected).float()).abs()
    assert diff.max() <= 1.0 + 1e-3 and diff.mean() < 0.5


def test_geometry_refuses_float_steps_and_bicubic():
    transform = ClipTransform(training=True, augment=lambda clip, rng: clip)
    with pytest.raises(ValueError, match="float steps"):
        draw_geometry(transform, 64, 64, 1, random.Random(0))
    with pytest.raises(ValueError, match="bicubic"):
        draw_geometry(
            ClipTransform(training=True, jitter_scales_relative=(0.2, 1), interpolation="bicubic"),
            64,
            64,
            1,
            None,
        )


def _same_items(cfg, split, indices):
    """Items of ``split`` decoded in the worker (torchcodec on the CPU) and on the device."""
    cpu = build_dataset(cfg, split)
    on_device = build_dataset(cfg, split)
    on_device.decode_on_device = True  # what torchcodec_cuda sets where a GPU decodes
    pairs = []
    for index in indices:
        random.seed(index)
        a = cpu[index]
        random.seed(index)
        b = on_device[index]
        pairs.append((a, b))
    return pairs


@needs_torchcodec
@pytest.mark.timeout(120)
@pytest.mark.parametrize("split", ["train", "test"])
def test_device_path_on_cpu_tensors_matches_worker_decoding(demo_dir, split):
    cfg = data_cfg(demo_dir, **{"DATA.DECODING_BACKEND": "torchcodec"})
    norm = PixelNorm.from_config(cfg)
    pairs = _same_items(cfg, split, [0, 4, 5])  # test: every view of videos 0, 4 and 5
    worker = collate_clips([a for a, _ in pairs])
    device = collate_clips([b for _, b in pairs])
    views = 3 * (1 if split == "train" else 2 * 3)
    assert isinstance(device["inputs"], EncodedBatch) and len(device["inputs"]) == views
    assert torch.equal(worker["label"], device["label"])
    assert torch.equal(worker["video_index"], device["video_index"])
    expected = to_device(worker["inputs"], torch.device("cpu"), norm)
    decoded = to_device(device["inputs"], torch.device("cpu"), norm)
    for x, y in zip(expected, decoded):  # slow, fast
        assert x.shape == y.shape
        # One grey level of uint8 rounding, in normalised units.
        assert (x - y).abs().max() <= 1.0 / (255 * min(cfg.DATA.STD)) + 1e-5


@needs_torchcodec
@pytest.mark.timeout(60)
def test_copies_share_one_decode(demo_dir):
    cfg = data_cfg(
        demo_dir,
        **{"DATA.DECODING_BACKEND": "torchcodec", "AUG.ENABLE": True, "AUG.NUM_SAMPLE": 2},
    )
    cfg.AUG.AA_TYPE = ""  # no float augmentation: the copies differ by crop and flip only
    cfg.AUG.COLOR_JITTER = 0.0
    cfg.AUG.RE_PROB = 0.0
    ((a, b),) = _same_items(cfg, "train", [2])
    assert b["inputs"].num_views == 2
    batch = collate_clips([b])
    assert batch["label"].tolist() == [a["label"]] * 2
    slow, fast = to_device(batch["inputs"], torch.device("cpu"))
    assert fast.shape == (2, 3, 8, 56, 56) and slow.shape == (2, 3, 2, 56, 56)
    expected = to_device([x.float() for x in a["inputs"]], torch.device("cpu"))
    scale = 255 * torch.tensor(cfg.DATA.STD).view(1, 3, 1, 1, 1)
    mean = torch.tensor(cfg.DATA.MEAN).view(1, 3, 1, 1, 1)
    assert ((fast * scale + 255 * mean) - expected[1]).abs().max() <= 1.0 + 1e-3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallback")
def test_torchcodec_cuda_falls_back_with_one_message(demo_dir, caplog):
    import slowvid.data.device_decoding as dd

    dd._WARNED = False
    with caplog.at_level(logging.WARNING):
        assert resolve_device_decoding("torchcodec_cuda", num_gpus=1) == ("auto", False)
        assert resolve_device_decoding("torchcodec_cuda", num_gpus=1) == ("auto", False)
    messages = [r.getMessage() for r in caplog.records if "torchcodec_cuda" in r.getMessage()]
    assert len(messages) == 1 and "no CUDA device" in messages[0]
    assert "decoding on the CPU in the loader workers" in messages[0]
    # The dataset then decodes in its workers, as with "auto".
    ds = build_dataset(data_cfg(demo_dir, **{"DATA.DECODING_BACKEND": "torchcodec_cuda"}), "val")
    assert not ds.decode_on_device and ds[0]["inputs"][0].dtype == torch.uint8


def test_decode_on_device_refuses_what_it_cannot_do(demo_dir):
    cfg = data_cfg(demo_dir, **{"DATA.VIDEO_FORMAT": "frames"})
    kwargs = Kinetics.from_config(cfg, "train")
    kwargs["transform"] = ClipTransform(training=True, erase=lambda clip, rng: clip)
    kwargs["decode_on_device"] = True
    with pytest.raises(ValueError, match="frame folders.*float steps"):
        Kinetics(**kwargs)


@pytest.mark.gpu
@pytest.mark.timeout(120)
def test_nvdec_matches_cpu_decoding(demo_dir):
    ok, reason = resolve_device_decoding("torchcodec_cuda", num_gpus=1)[1], ""
    if not ok:
        pytest.skip("torchcodec cannot decode on this GPU")
    cfg = data_cfg(demo_dir, **{"DATA.DECODING_BACKEND": "torchcodec"})
    pairs = _same_items(cfg, "test", [0, 1, 2])
    cpu = to_device(collate_clips([b for _, b in pairs])["inputs"], torch.device("cpu"))
    gpu = to_device(collate_clips([b for _, b in pairs])["inputs"], torch.device("cuda"))
    # NVDEC's colour conversion may round differently from swscale's.
    for x, y in zip(cpu, gpu):
        assert (x - y.cpu()).abs().mean() < 0.05, reason
