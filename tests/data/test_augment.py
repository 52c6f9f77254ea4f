"""Clip augmentations: frame consistency, determinism, mixing and smoothing arithmetic, and
the config switches (slowvid/data/augment)."""

import random

import pytest
import torch
from synthetic import data_cfg

from slowvid.data import build_loader, shuffle_loader
from slowvid.data.augment import (
    AugMix,
    ColorJitter,
    Mixup,
    RandAugment,
    RandomErasing,
    build_clip_augment,
    build_mixup,
    build_random_erasing,
)
from slowvid.data.augment.mixup import MixupCollate, smooth_one_hot
from slowvid.data.augment.rand_augment import RAND_OPS, apply_op, parse_policy
from slowvid.data.build import collate_clips
from slowvid.data.datasets.clip_views import augment_kwargs
from slowvid.data.transforms import ClipTransform, random_resized_crop


def still_clip(t: int = 4, h: int = 24, w: int = 32, seed: int = 0) -> torch.Tensor:
    """A float (3, t, h, w) clip whose frames are all the same random image."""
    frame = torch.rand(3, 1, h, w, generator=torch.Generator().manual_seed(seed))
    return frame.expand(3, t, h, w).contiguous()


def assert_frames_identical(clip: torch.Tensor) -> None:
    assert torch.equal(clip, clip[:, :1].expand_as(clip))


@pytest.mark.parametrize("name", RAND_OPS + ("PosterizeIncreasing", "SolarizeIncreasing"))
def test_each_op_keeps_frames_identical_and_in_range(name):
    out = apply_op(name, still_clip(), 7.0, random.Random(0), "bicubic")
    assert out.shape == (3, 4, 24, 32)
    assert_frames_identical(out)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    "augment",
    [
        RandAugment.from_policy("rand-m7-n4-mstd0.5-inc1", "bicubic"),
        AugMix.from_policy("augmix-m5-w3-d-1-a1"),
        ColorJitter(0.4, 0.4, 0.4),
        RandomErasing(prob=1.0, mode="pixel", count=2),
    ],
    ids=["randaug", "augmix", "jitter", "erasing"],
)
def test_clip_augments_are_frame_consistent_and_seeded(augment):
    clip = still_clip()
    out = augment(clip, random.Random(3))
    assert out.shape == clip.shape
    assert_frames_identical(out)
    assert not torch.equal(out, clip)
    assert torch.equal(out, augment(clip, random.Random(3)))


def test_policy_parsing():
    assert parse_policy("rand-m7-n4-mstd0.5-inc1") == (
        "rand",
        {"m": 7.0, "n": 4.0, "mstd": 0.5, "inc": 1.0},
    )
    ra = RandAugment.from_policy("rand-m7-n4-mstd0.5-inc1")
    assert (ra.magnitude, ra.num_ops, ra.magnitude_std, ra.increasing) == (7.0, 4, 0.5, True)
    am = AugMix.from_policy("augmix-m3-w4-d-1-a0.5")
    assert (am.severity, am.width, am.depth, am.alpha) == (3.0, 4, -1, 0.5)
    with pytest.raises(ValueError, match="AUG.AA_TYPE"):
        parse_policy("rand-q7")


def test_random_erasing_box_is_shared_and_zero_in_const_mode():
    eraser = RandomErasing(prob=1.0, mode="const", count=1)
    clip = still_clip() + 5.0  # normalised values far from 0
    out = eraser(clip, random.Random(1))
    erased = out == 0
    assert erased.any()
    assert torch.equal(erased, erased[:, :1].expand_as(erased))
    top, left, bh, bw = eraser.boxes(24, 32, random.Random(1))[0]
    assert int(erased[0, 0].sum()) == bh * bw


def test_random_resized_crop_same_window_for_all_frames():
    clip = still_clip(h=40, w=60)
    out = random_resized_crop(clip, 16, (0.08, 1.0), (0.75, 4 / 3), random.Random(0), "bicubic")
    assert out.shape == (3, 4, 16, 16)
    assert_frames_identical(out)


def test_label_smoothing_values():
    y = smooth_one_hot(torch.tensor([2, 0]), 5, 0.1)
    assert torch.allclose(y[0], torch.tensor([0.02, 0.02, 0.92, 0.02, 0.02]))
    assert torch.allclose(y.sum(1), torch.ones(2))


def batch(b: int = 4, h: int = 8, w: int = 10):
    x = torch.arange(b, dtype=torch.float).view(b, 1, 1, 1, 1).expand(b, 3, 2, h, w)
    return [x[:, :, ::2].contiguous(), x.contiguous()], torch.tensor([0, 1, 2, 3])


def test_mixup_targets_are_lambda_weighted_one_hots():
    mix = Mixup(num_classes=5, mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0)
    inputs, labels = batch()
    out, target, lam = mix(inputs, labels, random.Random(0))
    assert 0 < lam < 1
    one_hot = torch.eye(5)[labels]
    assert torch.allclose(target, lam * one_hot + (1 - lam) * one_hot.flip(0))
    assert torch.allclose(target.sum(1), torch.ones(4))
    expected = lam * torch.arange(4.0) + (1 - lam) * torch.arange(4.0).flip(0)
    for x in out:  # both pathways mixed with the same lambda
        assert torch.allclose(x[:, 0, 0, 0, 0], expected)


def test_cutmix_lambda_is_pasted_area_fraction():
    mix = Mixup(num_classes=5, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.1)
    inputs, labels = batch(h=20, w=30)
    out, target, lam = mix(inputs, labels, random.Random(4))
    for x in out:
        pasted = (x[0] != 0).float().mean().item()  # clip 0 pastes clip 3
        assert lam == pytest.approx(1 - pasted)
        assert torch.equal(x[0, :, :1].expand_as(x[0]), x[0])  # same box in every frame
    smooth = smooth_one_hot(labels, 5, 0.1)
    assert torch.allclose(target, lam * smooth + (1 - lam) * smooth.flip(0))
    assert torch.allclose(target.sum(1), torch.ones(4))


def test_mixup_prob_zero_only_smooths_and_collate_is_seeded():
    inputs, labels = batch()
    out, target, lam = Mixup(5, prob=0.0)(inputs, labels, random.Random(0))
    assert lam == 1.0 and out is inputs
    items = [
        {"inputs": [x[i] for x in inputs], "label": int(labels[i]), "video_index": i, "failed": []}
        for i in range(4)
    ]
    collate = MixupCollate(collate_clips, Mixup(5))
    random.seed(7)
    first = collate(items)
    random.seed(7)
    second = collate(items)
    assert torch.equal(first["label"], second["label"])
    assert torch.equal(first["inputs"][1], second["inputs"][1])


def test_config_switches(tmp_path):
    cfg = data_cfg(str(tmp_path))
    assert build_clip_augment(cfg) is None  # AUG.ENABLE False
    assert build_random_erasing(cfg) is None and build_mixup(cfg) is None
    assert augment_kwargs(cfg)["num_samples"] == 1
    cfg.AUG.ENABLE = True
    assert isinstance(build_clip_augment(cfg), RandAugment)
    assert isinstance(build_random_erasing(cfg), RandomErasing)
    cfg.AUG.AA_TYPE = "augmix-m3-w3"
    assert isinstance(build_clip_augment(cfg), AugMix)
    cfg.AUG.AA_TYPE = ""
    assert isinstance(build_clip_augment(cfg), ColorJitter)
    cfg.AUG.COLOR_JITTER = 0.0
    cfg.AUG.RE_PROB = 0.0
    assert build_clip_augment(cfg) is None and build_random_erasing(cfg) is None
    cfg.MIXUP.ENABLE = True
    assert isinstance(build_mixup(cfg), Mixup)


def test_transform_applies_augments_and_copies(tmp_path):
    cfg = data_cfg(str(tmp_path), **{"AUG.ENABLE": True, "AUG.NUM_SAMPLE": 2})
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [0.3, 1.0]
    cfg.AUG.RE_PROB = 1.0
    transform = ClipTransform(training=True, crop_size=32, **augment_kwargs(cfg))
    assert transform.num_samples == 2 and transform.jitter_scales_relative == (0.3, 1.0)
    frames = (still_clip(h=48, w=64) * 255).byte().permute(1, 2, 3, 0).contiguous()
    out = transform(frames, rng=random.Random(0))
    assert out.shape == (3, 4, 32, 32)
    assert_frames_identical(out)
    items = [{"inputs": [torch.stack([out, out])], "label": 3, "video_index": 0, "failed": []}]
    collated = collate_clips(items)
    assert collated["inputs"][0].shape == (2, 3, 4, 32, 32)
    assert collated["label"].tolist() == [3, 3]


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_train_loader_with_every_augment(demo_dir):
    overrides = {
        "AUG.ENABLE": True,
        "AUG.NUM_SAMPLE": 2,
        "AUG.RE_PROB": 1.0,
        "MIXUP.ENABLE": True,
        "MODEL.NUM_CLASSES": 8,
        "MODEL.LOSS_FUNC": "soft_cross_entropy",
        "TRAIN.BATCH_SIZE": 2,
    }
    cfg = data_cfg(demo_dir, **overrides)
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [0.2, 1.0]

    def first_batch():
        loader = build_loader(cfg, "train")
        shuffle_loader(loader, 0)
        return next(iter(loader))

    batch, again = first_batch(), first_batch()
    slow, fast = batch["inputs"]
    assert slow.shape == (4, 3, 2, 56, 56) and fast.shape == (4, 3, 8, 56, 56)
    assert batch["label"].shape == (4, 8)
    assert torch.allclose(batch["label"].sum(1), torch.ones(4))
    assert torch.equal(batch["inputs"][1], again["inputs"][1])
    assert torch.equal(batch["label"], again["label"])
