"""Spatial transforms and pathway packing."""

import random

import pytest
import torch

from slowvid.data.transforms import (
    ClipTransform,
    is_channels_last,
    normalize,
    normalize_uint8,
    pack_pathways,
    random_crop,
    random_scale_crop,
    short_side_scale,
    to_float_clip,
    uniform_crop,
)


def coord_clip(h: int, w: int, t: int = 2) -> torch.Tensor:
    """(1, T, H, W) clip whose value is x + 1000 * y, to locate crops."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (xs + 1000 * ys).float().expand(1, t, h, w).clone()


def test_to_float_clip_layout_and_range():
    frames = torch.zeros(5, 6, 7, 3, dtype=torch.uint8)
    frames[2, 3, 4] = torch.tensor([255, 0, 51], dtype=torch.uint8)
    clip = to_float_clip(frames)
    assert clip.shape == (3, 5, 6, 7)
    assert clip[:, 2, 3, 4].tolist() == pytest.approx([1.0, 0.0, 0.2])


@pytest.mark.parametrize(
    "h,w,size,out", [(48, 64, 32, (32, 42)), (64, 48, 32, (42, 32)), (40, 40, 20, (20, 20))]
)
def test_short_side_scale(h, w, size, out):
    assert short_side_scale(torch.rand(3, 2, h, w), size).shape[2:] == out


@pytest.mark.parametrize("idx,x", [(0, 0), (1, 14), (2, 28)])
def test_uniform_crop_landscape(idx, x):
    crop = uniform_crop(coord_clip(36, 64), 36, idx)
    assert crop.shape == (1, 2, 36, 36) and crop[0, 0, 0, 0] == x


@pytest.mark.parametrize("idx,y", [(0, 0), (1, 14), (2, 28)])
def test_uniform_crop_portrait(idx, y):
    crop = uniform_crop(coord_clip(64, 36), 36, idx)
    assert crop[0, 0, 0, 0] == 1000 * y


def test_random_crop_same_for_all_frames():
    clip = coord_clip(40, 50, t=3)
    crop = random_crop(clip, 20, random.Random(1))
    assert crop.shape == (1, 3, 20, 20)
    assert torch.equal(crop[:, 0], crop[:, 2])


def test_normalize():
    clip = torch.full((3, 1, 2, 2), 0.5)
    out = normalize(clip, [0.5, 0.25, 0.0], [0.5, 0.25, 0.5])
    assert out[:, 0, 0, 0].tolist() == [0.0, 1.0, 1.0]


def test_clip_transform_train_and_test_shapes():
    frames = torch.randint(0, 256, (8, 48, 64, 3), dtype=torch.uint8)
    train = ClipTransform(training=True, jitter_scales=(40, 56), crop_size=32, random_flip=True)
    out = train(frames, rng=random.Random(0))
    assert out.shape == (3, 8, 32, 32) and out.dtype == torch.float32
    assert torch.equal(out, train(frames, rng=random.Random(0)))
    test = ClipTransform(training=False, crop_size=40)
    crops = [test(frames, spatial_idx=i) for i in range(3)]
    assert all(c.shape == (3, 8, 40, 40) for c in crops)
    assert not torch.equal(crops[0], crops[2])
    with pytest.raises(ValueError, match="rng"):
        train(frames)


def test_flip_reverses_width():
    frames = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    tf = ClipTransform(
        training=True,
        jitter_scales=(32, 32),
        crop_size=32,
        random_flip=True,
        mean=(0, 0, 0),
        std=(1, 1, 1),
    )
    outs = [tf(frames, rng=random.Random(s)) for s in range(8)]
    plain = to_float_clip(frames)
    assert any(torch.allclose(o, plain) for o in outs)
    assert any(torch.allclose(o, plain.flip(-1)) for o in outs)


def test_pack_pathways_slowfast_indices():
    clip = torch.arange(32).float().view(1, 32, 1, 1).expand(3, 32, 2, 2)
    slow, fast = pack_pathways(clip, 2, 4)
    assert fast is clip
    # torch.linspace(0, 31, 8).long(), as PySlowFast.
    assert slow[0, :, 0, 0].long().tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    slow, _ = pack_pathways(clip[:, :8], 2, 8)
    assert slow[0, :, 0, 0].tolist() == [0.0]


def test_pack_pathways_single():
    clip = torch.rand(3, 8, 4, 4)
    (out,) = pack_pathways(clip, 1, 4)
    assert out is clip
    with pytest.raises(ValueError):
        pack_pathways(clip, 3, 4)


MEAN, STD = (0.45, 0.40, 0.35), (0.225, 0.25, 0.2)


@pytest.mark.parametrize("training", [True, False])
def test_uint8_output_normalised_equals_float_output(training):
    frames = torch.randint(0, 256, (6, 48, 70, 3), dtype=torch.uint8)
    kwargs = dict(training=training, jitter_scales=(40, 60), crop_size=32, mean=MEAN, std=STD)
    pixels = ClipTransform(uint8_output=True, **kwargs)(frames, rng=random.Random(3))
    clip = ClipTransform(**kwargs)(frames, rng=random.Random(3))
    assert pixels.dtype == torch.uint8 and pixels.shape == clip.shape == (3, 6, 32, 32)
    assert is_channels_last(pixels) and clip.is_contiguous()
    assert torch.allclose(normalize_uint8(pixels, MEAN, STD), clip, atol=1e-6)


def test_uint8_output_refuses_float_steps():
    with pytest.raises(ValueError, match="float steps"):
        ClipTransform(training=True, uint8_output=True, augment=lambda clip, rng: clip)
    # A test transform has no augmentation, so the flag is always allowed there.
    assert not ClipTransform(training=False, augment=lambda clip, rng: clip).has_float_steps


def test_normalize_uint8_matches_normalize():
    pixels = torch.randint(0, 256, (2, 3, 4, 5, 6), dtype=torch.uint8)
    expected = normalize(pixels.float() / 255, MEAN, STD)
    assert torch.allclose(normalize_uint8(pixels, MEAN, STD), expected, atol=1e-6)


def test_random_scale_crop_geometry():
    # On a linear ramp, bilinear resampling is exact away from the window's border, so every
    # interior output pixel must sit where "scale the frame, then crop" would put it.
    clip = coord_clip(60, 90, t=2)
    for seed in range(5):
        out = random_scale_crop(clip, 64, 120, 32, random.Random(seed))
        assert out.shape == (1, 2, 32, 32) and torch.equal(out[:, 0], out[:, 1])
        rng = random.Random(seed)
        scale = rng.randint(64, 120)
        side = round(32 * 60 / scale)
        top, left = rng.randint(0, 60 - side), rng.randint(0, 90 - side)
        step = side / 32
        i = torch.arange(1, 31, dtype=torch.float32)
        xs = left + (i + 0.5) * step - 0.5
        ys = top + (i + 0.5) * step - 0.5
        assert torch.allclose(out[0, 0, 15, 1:31], xs + 1000 * ys[14], atol=1e-2)
        assert torch.allclose(out[0, 0, 1:31, 15], xs[14] + 1000 * ys, atol=1e-2)


def test_random_scale_crop_at_native_scale_is_a_plain_crop():
    frames = torch.randint(0, 256, (3, 40, 50, 3), dtype=torch.uint8).permute(3, 0, 1, 2)
    out = random_scale_crop(frames, 40, 40, 24, random.Random(0))
    rng = random.Random(0)
    rng.randint(40, 40)
    top, left = rng.randint(0, 40 - 24), rng.randint(0, 50 - 24)
    assert torch.equal(out, frames[:, :, top : top + 24, left : left + 24])
    with pytest.raises(ValueError, match="larger than"):
        random_scale_crop(frames, 20, 20, 24, random.Random(0))


def test_pack_pathways_keeps_channels_last_layout():
    pixels = torch.randint(0, 256, (8, 6, 6, 3), dtype=torch.uint8).permute(3, 0, 1, 2)
    slow, fast = pack_pathways(pixels, 2, 4)
    assert is_channels_last(slow) and fast is pixels
    assert torch.equal(slow, pixels.contiguous().index_select(1, torch.tensor([0, 7])))
