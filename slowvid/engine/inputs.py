"""Moving a batch's inputs to the model's device, normalising uint8 clips there.

Clip datasets send uint8 pixels when their pipeline has no float step
(``DATA.NORMALIZE_ON_DEVICE``): a quarter of the bytes through worker queues, pinned memory
and the host-to-device copy. The float conversion and normalisation then run here, on the
device, where they cost next to nothing. Float inputs (normalised clips, boxes, spectrograms)
pass through unchanged, so a dataset may send either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from slowvid.data.device_decoding import EncodedBatch
from slowvid.data.transforms import normalize_uint8

__all__ = ["PixelNorm", "to_device"]


@dataclass(frozen=True)
class PixelNorm:
    """Per-channel mean and standard deviation of [0, 1] pixels (DATA.MEAN, DATA.STD)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_config(cls, cfg) -> PixelNorm:
        mean, std = tuple(cfg.DATA.MEAN), tuple(cfg.DATA.STD)
        if cfg.DATA.REVERSE_INPUT_CHANNEL:
            # The loader sent BGR pixels; each keeps the statistics of its own colour.
            mean, std = mean[::-1], std[::-1]
        return cls(mean, std)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 ``(..., C, T, H, W)`` -> normalised float32, on the pixels' device."""
        return normalize_uint8(pixels, self.mean, self.std)


def to_device(
    inputs: Sequence[torch.Tensor] | EncodedBatch,
    device: torch.device,
    pixel_norm: PixelNorm | None = None,
) -> list[torch.Tensor]:
    """Copy ``inputs`` to ``device``; uint8 tensors (clips of pixels) become normalised float,
    and an :class:`EncodedBatch` (DATA.DECODING_BACKEND torchcodec_cuda) is decoded there.

    Raises:
        TypeError: a uint8 input arrived but no ``pixel_norm`` says how to normalise it.
    """
    if isinstance(inputs, EncodedBatch):
        return inputs.decode(device)
    out = []
    for x in inputs:
        x = x.to(device, non_blocking=True)
        if x.dtype == torch.uint8:
            if pixel_norm is None:
                raise TypeError(
                    "the loader sent uint8 clips (DATA.NORMALIZE_ON_DEVICE) but no PixelNorm "
                    "was given to normalise them; pass pixel_norm=PixelNorm.from_config(cfg)"
                )
            x = pixel_norm(x)
        out.append(x)
    return out
