"""Moving batches to the device: uint8 clips are normalised there, other inputs pass through."""

import pytest
import torch

from slowvid.data.transforms import normalize
from slowvid.engine.inputs import PixelNorm, to_device

NORM = PixelNorm(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


def test_uint8_clips_are_normalised_and_floats_pass():
    pixels = torch.randint(0, 256, (2, 3, 4, 5, 5), dtype=torch.uint8)
    boxes = torch.rand(3, 5)
    clip, out_boxes = to_device([pixels, boxes], torch.device("cpu"), NORM)
    assert clip.dtype == torch.float32 and clip.is_contiguous()
    assert torch.allclose(clip, normalize(pixels.float() / 255, NORM.mean, NORM.std), atol=1e-6)
    assert torch.equal(out_boxes, boxes)


def test_channels_last_pixels_come_out_contiguous():
    pixels = torch.randint(0, 256, (2, 4, 5, 5, 3), dtype=torch.uint8).permute(0, 4, 1, 2, 3)
    (clip,) = to_device([pixels], torch.device("cpu"), NORM)
    assert clip.is_contiguous()
    assert torch.allclose(clip, NORM(pixels.contiguous()))


def test_uint8_without_pixel_norm_is_refused():
    with pytest.raises(TypeError, match="NORMALIZE_ON_DEVICE"):
        to_device([torch.zeros(1, 3, 1, 2, 2, dtype=torch.uint8)], torch.device("cpu"))
