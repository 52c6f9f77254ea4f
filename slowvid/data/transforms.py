"""Spatial transforms on clips ``(C, T, H, W)``, and packing clips into pathways.

Decoders give uint8 ``(T, H, W, 3)``. Resizing and cropping stay in uint8 (4x less memory
traffic than float); :func:`to_float_clip` converts once to float ``(C, T, H, W)`` on [0, 1]
for the steps that need float. Every transform applies the same geometry to all frames of a
clip. Resizing is bilinear without antialiasing (``align_corners=False``), everywhere, so
training and testing see the same resampling.

:class:`ClipTransform` strings the steps together the way PySlowFast does:

    train: random short side in [min, max] -> random square crop -> optional flip -> normalise
    test:  short side = crop size -> crop at left/top, centre or right/bottom -> normalise

With ``uint8_output`` the last step, normalising, is left to the engine, which does it on the
model's device (:class:`slowvid.engine.inputs.PixelNorm`): loader workers then send uint8 clips,
a quarter of the bytes, and spend no time on float arithmetic.

With the augmentations of ``slowvid.data.augment`` switched on, training becomes (timm's order,
which augments the small crop rather than the full frame):

    random resized crop (or short side + crop) -> flip -> RandAugment | AugMix | colour jitter
        -> normalise -> random erasing
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "ClipTransform",
    "draw_resized_crop",
    "draw_scale_crop",
    "horizontal_flip",
    "is_channels_last",
    "jitter_scale",
    "normalize",
    "normalize_uint8",
    "pack_pathways",
    "spatial_args",
    "split_pathways",
    "random_crop",
    "random_resized_crop",
    "random_scale_crop",
    "resized_crop",
    "random_short_side_scale",
    "scale_frames",
    "short_side_scale",
    "short_side_shape",
    "to_float_clip",
    "uniform_crop",
    "uniform_crop_origin",
]


def to_float_clip(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(T, H, W, C)`` -> contiguous float32 ``(C, T, H, W)`` on [0, 1]."""
    if frames.dtype != torch.uint8 or frames.dim() != 4:
        raise ValueError(f"expected uint8 (T, H, W, C), got {frames.dtype} {tuple(frames.shape)}")
    return _unit_float(frames.permute(3, 0, 1, 2))


def _unit_float(clip: torch.Tensor) -> torch.Tensor:
    """A uint8 ``(C, T, H, W)`` view of any strides -> contiguous float on [0, 1]; float
    clips pass through. (``.float()`` would keep a permuted view's strides, which makes every
    later step several times slower.)"""
    if clip.dtype != torch.uint8:
        return clip
    out = torch.empty(clip.shape, dtype=torch.float32)
    return out.copy_(clip).div_(255.0)


def short_side_shape(h: int, w: int, size: int) -> tuple[int, int]:
    return (size, math.floor(w * size / h)) if h <= w else (math.floor(h * size / w), size)


def scale_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`short_side_scale` on decoded uint8 ``(T, H, W, C)`` frames, staying uint8.

    Resizing before the float conversion is ~4x faster (PyTorch's uint8 bilinear kernel on the
    frames' channels-last layout) and moves pixels by at most one grey level of rounding.
    """
    _, h, w, _ = frames.shape
    new_h, new_w = short_side_shape(h, w, size)
    if (new_h, new_w) == (h, w):
        return frames
    out = F.interpolate(
        frames.permute(0, 3, 1, 2), size=(new_h, new_w), mode="bilinear", align_corners=False
    )
    return out.permute(0, 2, 3, 1)


def short_side_scale(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size``, keeping the aspect ratio.

    Args:
        clip: float ``(C, T, H, W)``.
        size: new length of the shorter side.

    Returns:
        ``(C, T, H', W')`` with ``min(H', W') == size``.
    """
    _, _, h, w = clip.shape
    new_h, new_w = short_side_shape(h, w, size)
    if (new_h, new_w) == (h, w):
        return clip
    # Frames become the batch dimension of a 2-D resize.
    out = F.interpolate(
        clip.transpose(0, 1), size=(new_h, new_w), mode="bilinear", align_corners=False
    )
    return out.transpose(0, 1)


def random_short_side_scale(
    clip: torch.Tensor, min_size: int, max_size: int, rng: random.Random
) -> torch.Tensor:
    """Resize the shorter side to a size drawn uniformly from ``[min_size, max_size]``."""
    return short_side_scale(clip, rng.randint(min_size, max_size))


def _crop(clip: torch.Tensor, y: int, x: int, size: int) -> torch.Tensor:
    _, _, h, w = clip.shape
    if size > h or size > w:
        raise ValueError(f"crop {size} larger than frame {h}x{w}")
    return clip[:, :, y : y + size, x : x + size]


def random_crop(clip: torch.Tensor, size: int, rng: random.Random) -> torch.Tensor:
    """Square ``size`` crop at a random position (same for every frame)."""
    _, _, h, w = clip.shape
    return _crop(clip, rng.randint(0, h - size), rng.randint(0, w - size), size)


def random_resized_crop(
    clip: torch.Tensor,
    size: int,
    scale: tuple[float, float],
    aspect: tuple[float, float],
    rng: random.Random,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """Inception-style crop: a random area fraction and aspect ratio, resized to ``size``.

    Args:
        clip: ``(C, T, H, W)``, uint8 or float.
        size: output side.
        scale: ``(min, max)`` crop area as a fraction of the frame.
        aspect: ``(min, max)`` crop width / height, drawn log-uniformly.
        rng: randomness (one crop for the whole clip).
        interpolation: "bilinear", "bicubic" or "nearest".

    Returns:
        ``(C, T, size, size)`` of the clip's dtype; after 10 failed draws, the largest centred
        crop whose aspect lies in ``aspect`` (as torchvision).
    """
    _, _, h, w = clip.shape
    y, x, ch, cw = draw_resized_crop(h, w, scale, aspect, rng)
    return resized_crop(clip, y, x, ch, cw, size, interpolation)


def draw_resized_crop(
    h: int, w: int, scale: tuple[float, float], aspect: tuple[float, float], rng: random.Random
) -> tuple[int, int, int, int]:
    """The ``(top, left, height, width)`` window :func:`random_resized_crop` draws."""
    log_ratio = (math.log(aspect[0]), math.log(aspect[1]))
    for _ in range(10):
        area = rng.uniform(*scale) * h * w
        ratio = math.exp(rng.uniform(*log_ratio))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
            break
    else:
        ratio = w / h
        if ratio < aspect[0]:
            cw, ch = w, int(round(w / aspect[0]))
        elif ratio > aspect[1]:
            cw, ch = int(round(h * aspect[1])), h
        else:
            cw, ch = w, h
        y, x = (h - ch) // 2, (w - cw) // 2
    return y, x, ch, cw


def jitter_scale(
    min_scale: int, max_scale: int, rng: random.Random, inverse_uniform: bool = False
) -> int:
    """A random short side in ``[min_scale, max_scale]``: uniform over the integers, or with
    ``inverse_uniform`` (PySlowFast's DATA.INV_UNIFORM_SAMPLE) the reciprocal of a uniform draw
    in ``[1 / max_scale, 1 / min_scale]``, rounded, which favours small scales."""
    if inverse_uniform:
        return int(round(1.0 / rng.uniform(1.0 / max_scale, 1.0 / min_scale)))
    return rng.randint(min_scale, max_scale)


def random_scale_crop(
    clip: torch.Tensor,
    min_scale: int,
    max_scale: int,
    size: int,
    rng: random.Random,
    inverse_uniform: bool = False,
) -> torch.Tensor:
    """Short-side scale jitter and a random square crop, done as one resize of the crop.

    PySlowFast resizes the whole frame to a random short side in ``[min_scale, max_scale]``
    and crops ``size`` from it. Here the crop's window is drawn in the frame as it is (side
    ``size * short side / scale``, rounded) and only that window is resized: the same
    distribution of scales and positions, with a third to half of the interpolation work.
    Like torchvision's resized crops, the window's border pixels are not blended with pixels
    outside it. The rng draws are those of :func:`random_short_side_scale` + :func:`random_crop`.

    Args:
        clip: ``(C, T, H, W)``, uint8 or float.
        inverse_uniform: draw the scale with :func:`jitter_scale`'s inverse-uniform rule.

    Returns:
        ``(C, T, size, size)`` of the clip's dtype.
    """
    _, _, h, w = clip.shape
    top, left, side = draw_scale_crop(h, w, min_scale, max_scale, size, rng, inverse_uniform)
    return resized_crop(clip, top, left, side, side, size)


def draw_scale_crop(
    h: int,
    w: int,
    min_scale: int,
    max_scale: int,
    size: int,
    rng: random.Random,
    inverse_uniform: bool = False,
) -> tuple[int, int, int]:
    """The ``(top, left, side)`` square window :func:`random_scale_crop` draws."""
    scale = jitter_scale(min_scale, max_scale, rng, inverse_uniform)
    side = round(size * min(h, w) / scale)
    if scale < size or side > min(h, w):
        raise ValueError(f"crop {size} larger than a frame scaled to short side {scale}")
    return rng.randint(0, h - side), rng.randint(0, w - side), side


def resized_crop(
    clip: torch.Tensor,
    top: int,
    left: int,
    height: int,
    width: int,
    size: int,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """The ``height x width`` window at ``(top, left)`` of every frame, resized to a square.

    Args:
        clip: ``(C, T, H, W)``; uint8 is resized as uint8 (rounded, saturating), float as
            float (bicubic clamped to [0, 1]).
        size: output side.
        interpolation: "bilinear", "bicubic" or "nearest"; no antialiasing.

    Returns:
        ``(C, T, size, size)``, in the clip's memory layout.
    """
    window = clip[:, :, top : top + height, left : left + width]
    if (height, width) == (size, size):
        return window
    align = None if interpolation == "nearest" else False
    # Frames become the batch dimension of a 2-D resize.
    out = F.interpolate(
        window.transpose(0, 1), size=(size, size), mode=interpolation, align_corners=align
    ).transpose(0, 1)
    if interpolation == "bicubic" and out.is_floating_point():
        out = out.clamp_(0.0, 1.0)  # bicubic overshoots at edges
    return out


def horizontal_flip(clip: torch.Tensor, prob: float, rng: random.Random) -> torch.Tensor:
    """Flip left-right with probability ``prob``."""
    return clip.flip(-1) if rng.random() < prob else clip


def uniform_crop(clip: torch.Tensor, size: int, spatial_idx: int) -> torch.Tensor:
    """Square crop for testing, placed along the longer side as PySlowFast does.

    Args:
        clip: float ``(C, T, H, W)``.
        size: crop side.
        spatial_idx: 0 = left (or top, for portrait frames), 1 = centre, 2 = right (bottom).

    Returns:
        ``(C, T, size, size)``.
    """
    _, _, h, w = clip.shape
    return _crop(clip, *uniform_crop_origin(h, w, size, spatial_idx), size)


def uniform_crop_origin(h: int, w: int, size: int, spatial_idx: int) -> tuple[int, int]:
    """``(top, left)`` of :func:`uniform_crop`'s crop in an ``h x w`` frame."""
    if spatial_idx not in (0, 1, 2):
        raise ValueError(f"spatial_idx must be 0, 1 or 2, got {spatial_idx}")
    y, x = math.ceil((h - size) / 2), math.ceil((w - size) / 2)
    if h > w:
        y = {0: 0, 1: y, 2: h - size}[spatial_idx]
    else:
        x = {0: 0, 1: x, 2: w - size}[spatial_idx]
    return y, x


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(clip - mean) / std`` per channel, for a float clip on [0, 1] (channels 4th from
    last: ``(C, T, H, W)`` or a batch of them)."""
    out = clip.clone(memory_format=torch.contiguous_format)
    return _scale_shift_(out, [1.0 / s for s in std], [-m / s for m, s in zip(mean, std)])


def normalize_uint8(
    clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """:func:`normalize` of uint8 pixels on [0, 255], to contiguous float32."""
    out = clip.to(torch.float32, memory_format=torch.contiguous_format)
    scale = [1.0 / (255.0 * s) for s in std]
    return _scale_shift_(out, scale, [-m / s for m, s in zip(mean, std)])


def _scale_shift_(clip: torch.Tensor, scale: Sequence[float], shift: Sequence[float]):
    """``clip * scale + shift`` per channel, in place (out-of-place broadcasting is several
    times slower on CPU)."""
    shape = (-1, 1, 1, 1)
    scale_t = torch.tensor(scale, dtype=clip.dtype, device=clip.device).view(shape)
    shift_t = torch.tensor(shift, dtype=clip.dtype, device=clip.device).view(shape)
    return clip.mul_(scale_t).add_(shift_t)


@dataclass(frozen=True)
class ClipTransform:
    """The spatial pipeline for one split.

    Attributes:
        training: random scale/crop/flip when True, resize + uniform crop when False.
        jitter_scales: ``(min, max)`` shorter side in training.
        crop_size: square crop side (the train or the test crop size, by split).
        mean: per-channel mean on [0, 1] pixels.
        std: per-channel standard deviation.
        random_flip: flip left-right with probability 0.5 in training.
        jitter_scales_relative: ``(min, max)`` area fraction of an inception-style random
            resized crop, which then replaces the short-side jitter; None keeps the jitter.
        jitter_aspect_relative: ``(min, max)`` width / height of that crop.
        interpolation: resampling of the random resized crop.
        augment: ``augment(clip, rng)`` on the [0, 1] crop (RandAugment, AugMix, colour
            jitter), training only.
        erase: ``erase(clip, rng)`` on the normalised clip (random erasing), training only.
        num_samples: augmented copies made of each decoded clip in training.
        uint8_output: return the uint8 crop and leave normalising to the engine (on the
            model's device); only for pipelines without float steps (``augment`` and
            ``erase`` work on float clips).
        inverse_uniform_scale: draw the training short side inverse-uniformly
            (DATA.INV_UNIFORM_SAMPLE, see :func:`jitter_scale`).
        reverse_channels: return BGR: the channels of the normalised clip reversed
            (DATA.REVERSE_INPUT_CHANNEL); uint8 output is reversed before the engine
            normalises it with the reversed mean and std, which gives the same numbers.
        test_scale: testing resizes the shorter side to this before cropping; None uses
            ``crop_size`` (ImageNet evaluation resizes larger, see DATA.IN_VAL_CROP_RATIO).
    """

    training: bool
    jitter_scales: tuple[int, int] = (256, 320)
    crop_size: int = 224
    mean: tuple[float, ...] = (0.45, 0.45, 0.45)
    std: tuple[float, ...] = (0.225, 0.225, 0.225)
    random_flip: bool = True
    jitter_scales_relative: tuple[float, float] | None = None
    jitter_aspect_relative: tuple[float, float] = (0.75, 4 / 3)
    interpolation: str = "bilinear"
    augment: Callable[[torch.Tensor, random.Random], torch.Tensor] | None = None
    erase: Callable[[torch.Tensor, random.Random], torch.Tensor] | None = None
    num_samples: int = 1
    uint8_output: bool = False
    inverse_uniform_scale: bool = False
    reverse_channels: bool = False
    test_scale: int | None = None

    def __post_init__(self):
        if self.uint8_output and self.has_float_steps:
            raise ValueError(
                "uint8_output needs a pipeline without float steps; this one has augment or erase"
            )

    @property
    def has_float_steps(self) -> bool:
        """Whether some training step works on float clips (so the loader must send float)."""
        return self.training and bool(self.augment or self.erase)

    def __call__(
        self, frames: torch.Tensor, *, spatial_idx: int = 1, rng: random.Random | None = None
    ) -> torch.Tensor:
        """Transform decoded frames into a network-ready clip.

        Args:
            frames: uint8 ``(T, H, W, 3)`` RGB.
            spatial_idx: test crop position (see :func:`uniform_crop`); ignored in training.
            rng: randomness, required in training.

        Returns:
            ``(3, T, crop_size, crop_size)``: contiguous float, normalised; or with
            ``uint8_output`` the uint8 pixels, stored channels-last (see
            :func:`is_channels_last`), as the decoder gave them.
        """
        if self.training:
            if rng is None:
                raise ValueError("a training transform needs an rng")
            pixels = frames.permute(3, 0, 1, 2)  # uint8 all the way to the crop
            if self.jitter_scales_relative:
                clip = random_resized_crop(
                    pixels,
                    self.crop_size,
                    self.jitter_scales_relative,
                    self.jitter_aspect_relative,
                    rng,
                    self.interpolation,
                )
            else:
                clip = random_scale_crop(
                    pixels, *self.jitter_scales, self.crop_size, rng, self.inverse_uniform_scale
                )
            if self.random_flip:
                clip = horizontal_flip(clip, 0.5, rng)
            if self.augment is not None:
                clip = self.augment(_unit_float(clip), rng)
        else:
            clip = scale_frames(frames, self.test_scale or self.crop_size).permute(3, 0, 1, 2)
            clip = uniform_crop(clip, self.crop_size, spatial_idx)
        if self.uint8_output:
            if self.reverse_channels:  # flipped in the (T, H, W, C) layout, which it keeps
                return clip.permute(1, 2, 3, 0).flip(-1).permute(3, 0, 1, 2)
            return _compact_channels_last(clip)
        if clip.dtype == torch.uint8:
            clip = normalize_uint8(clip, self.mean, self.std)
        else:
            clip = normalize(clip, self.mean, self.std)
        if self.training and self.erase is not None:
            clip = self.erase(clip, rng)
        if self.reverse_channels:
            clip = clip.flip(0)  # after normalising, as PySlowFast
        return clip.contiguous()


def is_channels_last(clip: torch.Tensor) -> bool:
    """Whether a ``(C, T, H, W)`` clip (or a batch of them) is stored as ``(T, H, W, C)``,
    the decoder's layout, which uint8 clips keep: turning it into ``(C, T, H, W)`` memory
    costs a strided copy best left to the device."""
    return clip.dim() >= 4 and clip.stride(-4) == 1 and clip.shape[-4] > 1


def _compact_channels_last(clip: torch.Tensor) -> torch.Tensor:
    """A ``(C, T, H, W)`` view of ``(T, H, W, C)`` memory, copied into its own storage."""
    return clip.permute(1, 2, 3, 0).contiguous().permute(3, 0, 1, 2)


def split_pathways(clip: torch.Tensor, frame_strides: Sequence[int]) -> list[torch.Tensor]:
    """The clip each pathway of a model takes (its ``InputSpec.frame_strides``).

    Args:
        clip: ``(C, T, H, W)``.
        frame_strides: per pathway, 1 for the whole clip, ``s`` for ``T // s`` frames spread
            evenly from first to last (SlowFast's slow pathway, as PySlowFast takes it).

    Returns:
        One ``(C, T_i, H, W)`` tensor per pathway, in order.
    """
    t = clip.shape[1]
    out = []
    for stride in frame_strides:
        if stride == 1:
            out.append(clip)
            continue
        if t // stride < 1:
            raise ValueError(f"a clip of {t} frames is too short for a frame stride of {stride}")
        idx = torch.linspace(0, t - 1, t // stride).long()
        if is_channels_last(clip):  # select whole (H, W, C) frames, keeping the layout
            out.append(clip.permute(1, 2, 3, 0).index_select(0, idx).permute(3, 0, 1, 2))
        else:
            out.append(clip.index_select(1, idx))
    return out


def pack_pathways(clip: torch.Tensor, num_pathways: int, alpha: int) -> list[torch.Tensor]:
    """Split a clip into the inputs of a one- or two-pathway network.

    Args:
        clip: ``(C, T, H, W)``.
        num_pathways: 1 (single-rate networks) or 2 (SlowFast).
        alpha: frame-rate ratio of the fast to the slow pathway.

    Returns:
        ``[clip]`` for one pathway; ``[slow, fast]`` for two, where fast is the whole clip and
        slow keeps ``T // alpha`` frames spread evenly from first to last (as PySlowFast).
    """
    if num_pathways not in (1, 2):
        raise ValueError(f"num_pathways must be 1 or 2, got {num_pathways}")
    return split_pathways(clip, (1,) if num_pathways == 1 else (alpha, 1))


def spatial_args(cfg, training: bool) -> dict:
    """The DATA.* arguments every spatial pipeline shares (:class:`ClipTransform`,
    ``DetectionTransform``): scale jitter, crop, normalisation, flip, channel order."""
    d = cfg.DATA
    return {
        "training": training,
        "jitter_scales": tuple(d.TRAIN_JITTER_SCALES),
        "crop_size": d.TRAIN_CROP_SIZE if training else d.TEST_CROP_SIZE,
        "mean": tuple(d.MEAN),
        "std": tuple(d.STD),
        "random_flip": d.RANDOM_FLIP,
        "reverse_channels": d.REVERSE_INPUT_CHANNEL,
    }
