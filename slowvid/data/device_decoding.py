"""Decoding and transforming clips on the model's device (DATA.DECODING_BACKEND torchcodec_cuda).

With CPU decoding, loader workers decode, resize, crop and flip every clip. On a GPU machine
that can starve the GPU: a random clip of a long-GOP 720p video costs hundreds of milliseconds
of a worker's time. Here the work is split:

    loader worker:  read the file's bytes; read its header (frame rate, count, size);
                    draw the frame indices and each view's crop window (ClipGeometry)
                      -> EncodedClip (bytes, indices, geometries); collate -> EncodedBatch
    main process:   EncodedBatch.decode(device): torchcodec's VideoDecoder on the device
                    (NVDEC on a GPU) decodes each clip's frames once, then every view's
                    window is cut, resized (views sharing a window size in one interpolate
                    call), cropped and flipped, and the batch is normalised as one tensor

:func:`apply_geometries` is the batched transform; on CPU tensors it equals the per-clip
:class:`~slowvid.data.transforms.ClipTransform` (tested) up to the per-clip path's uint8
rounding, which the float path here does not do. Only plain pipelines qualify: resize, crop,
flip and normalise; RandAugment, AugMix, colour jitter, random erasing and mixup work on
float clips in the workers and are refused with a message naming them.

:func:`resolve_device_decoding` checks, once per process, that a CUDA device is there and that
torchcodec decodes H.264 on it with NVDEC; where either is missing it says why, once, and the
loader falls back to CPU decoding in its workers.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .decoding import DecodeError, Video, tiny_video_bytes
from .transforms import (
    ClipTransform,
    draw_resized_crop,
    draw_scale_crop,
    short_side_shape,
    uniform_crop_origin,
)

__all__ = [
    "ClipGeometry",
    "EncodedBatch",
    "EncodedClip",
    "EncodedVideo",
    "apply_geometries",
    "draw_geometry",
    "resolve_device_decoding",
]

logger = logging.getLogger(__name__)

_PROBE: dict[str, tuple[bool, str]] = {}
_WARNED = False


@dataclass(frozen=True)
class ClipGeometry:
    """Where one view's crop comes from in its decoded frames.

    The window ``[top, top + height) x [left, left + width)`` is resized (bilinear, no
    antialiasing) to ``resize``; the ``size x size`` square at ``crop`` is kept and, with
    ``flip``, mirrored left-right. Training windows are the random crop's (resized straight to
    ``size``); test windows are the whole frame, resized to the short side and cropped at the
    left/centre/right position.
    """

    top: int
    left: int
    height: int
    width: int
    resize: tuple[int, int]
    crop: tuple[int, int]
    size: int
    flip: bool = False
    interpolation: str = "bilinear"


def draw_geometry(transform: ClipTransform, h: int, w: int, spatial_idx: int, rng) -> ClipGeometry:
    """The geometry ``transform`` would apply to ``h x w`` frames, drawing from ``rng``
    exactly as :meth:`ClipTransform.__call__` does (so seeded runs crop alike either way).

    Raises:
        ValueError: the transform has float steps (augmentations, random erasing).
    """
    if transform.has_float_steps:
        raise ValueError(
            "decoding on the device supports resize, crop, flip and normalise only; this "
            "pipeline has float steps (AUG.ENABLE augmentations or random erasing)"
        )
    if transform.jitter_scales_relative and transform.interpolation != "bilinear":
        # PyTorch's CPU uint8 bicubic kernel weighs pixels unlike its float one: the two paths
        # would disagree by up to tens of grey levels.
        raise ValueError(
            f"decoding on the device resizes bilinearly; AUG.INTERPOLATION is "
            f"{transform.interpolation!r}"
        )
    size = transform.crop_size
    if not transform.training:
        resize = short_side_shape(h, w, size)
        return ClipGeometry(
            0, 0, h, w, resize, uniform_crop_origin(*resize, size, spatial_idx), size
        )
    if transform.jitter_scales_relative:
        top, left, ch, cw = draw_resized_crop(
            h, w, transform.jitter_scales_relative, transform.jitter_aspect_relative, rng
        )
    else:
        top, left, ch = draw_scale_crop(
            h, w, *transform.jitter_scales, size, rng, transform.inverse_uniform_scale
        )
        cw = ch
    flip = transform.random_flip and rng.random() < 0.5
    return ClipGeometry(top, left, ch, cw, (size, size), (0, 0), size, flip)


def apply_geometries(
    clips: Sequence[torch.Tensor],
    geometries: Sequence[ClipGeometry],
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """Crop, resize, flip and normalise a batch of clips in a few device calls.

    Args:
        clips: uint8 ``(T, H, W, C)`` frames of each view (sizes may differ between views).
        geometries: one per view.
        mean, std: per-channel statistics of [0, 1] pixels.

    Returns:
        float32 ``(B, C, T, size, size)``, normalised, on the clips' device.
    """
    if len(clips) != len(geometries):
        raise ValueError(f"{len(clips)} clips but {len(geometries)} geometries")
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, g in enumerate(geometries):
        groups[(g.height, g.width, g.resize, g.interpolation, clips[i].shape[0])].append(i)
    out: list[torch.Tensor | None] = [None] * len(clips)
    for (height, width, resize, mode, frames), members in groups.items():
        # (views * T, C, h, w): every frame of every view with this window size in one call.
        windows = torch.stack(
            [
                clips[i][:, g.top : g.top + height, g.left : g.left + width]
                for i, g in ((i, geometries[i]) for i in members)
            ]
        )
        x = windows.flatten(0, 1).permute(0, 3, 1, 2).float()
        if resize != (height, width):
            align = None if mode == "nearest" else False
            x = F.interpolate(x, size=resize, mode=mode, align_corners=align)
        x = x.unflatten(0, (len(members), frames))  # (views, T, C, H', W')
        for k, i in enumerate(members):
            g = geometries[i]
            (y0, x0), s = g.crop, g.size
            view = x[k, :, :, y0 : y0 + s, x0 : x0 + s]
            out[i] = view.flip(-1) if g.flip else view
    batch = torch.stack(out).transpose(1, 2)  # (B, C, T, S, S)
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=batch.device)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)], device=batch.device)
    shape = (1, -1, 1, 1, 1)
    return (batch * scale.view(shape) + shift.view(shape)).contiguous()


class EncodedVideo(Video):
    """A video file read as bytes, with its header's frame rate, count and size; decoding
    happens later, on a device (see :class:`EncodedBatch`).

    Raises:
        DecodeError: the file is missing or torchcodec cannot read its header.
    """

    backend = "torchcodec_cuda"

    def __init__(self, path: str):
        from torchcodec.decoders import VideoDecoder

        self.path = path
        if not os.path.isfile(path):
            raise DecodeError(path, "file not found")
        with open(path, "rb") as f:
            self.data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
        try:
            meta = VideoDecoder(self.data, seek_mode="approximate").metadata
        except Exception as err:  # noqa: BLE001 - FFmpeg errors have many types
            raise DecodeError(path, f"{type(err).__name__}: {err}") from err
        if not meta.average_fps or not (meta.num_frames or meta.duration_seconds):
            raise DecodeError(path, "header has no frame rate or length")
        self.fps = float(meta.average_fps)
        self.num_frames = int(meta.num_frames or max(round(meta.duration_seconds * self.fps), 1))
        self.duration = float(meta.duration_seconds or self.num_frames / self.fps)
        self.height, self.width = int(meta.height), int(meta.width)

    def get_frames(self, indices):
        raise NotImplementedError("an EncodedVideo is decoded on the device by EncodedBatch")

    def close(self) -> None:
        self.data = None


@dataclass
class EncodedClip:
    """One item's clips before decoding: the file's bytes, and per view its frame indices
    (clamped to the header's count) and geometry. Views share one decode."""

    path: str
    data: torch.Tensor
    views: list[tuple[list[int], ClipGeometry]]
    num_pathways: int
    alpha: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_views(self) -> int:
        return len(self.views)


class EncodedBatch:
    """A batch of :class:`EncodedClip`, what the loader yields as ``inputs`` when decoding
    happens on the device. :meth:`decode` turns it into per-pathway float clips."""

    def __init__(self, clips: list[EncodedClip]):
        if not clips:
            raise ValueError("an EncodedBatch needs at least one clip")
        self.clips = clips

    def __len__(self) -> int:
        return sum(c.num_views for c in self.clips)

    def decode(self, device: torch.device) -> list[torch.Tensor]:
        """Decode every clip once on ``device`` and transform all views as a batch.

        Returns:
            Per pathway, float32 ``(B, C, T, S, S)`` with B = the views of all clips.

        Raises:
            DecodeError: a clip cannot be decoded (the file named).
        """
        frames, geometries = [], []
        for clip in self.clips:
            wanted = sorted({i for indices, _ in clip.views for i in indices})
            decoded = _decode_on(clip, wanted, device)
            position = {i: k for k, i in enumerate(wanted)}
            for indices, geometry in clip.views:
                picks = torch.tensor([position[i] for i in indices], device=decoded.device)
                frames.append(decoded.index_select(0, picks))
                geometries.append(geometry)
        clip = self.clips[0]
        batch = apply_geometries(frames, geometries, clip.mean, clip.std)
        return _pack_batch(batch, clip.num_pathways, clip.alpha)


def _pack_batch(batch: torch.Tensor, num_pathways: int, alpha: int) -> list[torch.Tensor]:
    """:func:`~slowvid.data.transforms.pack_pathways` of a ``(B, C, T, H, W)`` batch."""
    if num_pathways == 1:
        return [batch]
    t = batch.shape[2]
    idx = torch.linspace(0, t - 1, t // alpha).long().to(batch.device)
    return [batch.index_select(2, idx), batch]


def _decode_on(clip: EncodedClip, wanted: list[int], device: torch.device) -> torch.Tensor:
    from torchcodec.decoders import VideoDecoder

    try:
        decoder = VideoDecoder(
            clip.data, device=str(device), dimension_order="NHWC", seek_mode="approximate"
        )
        last = decoder.metadata.num_frames or wanted[-1] + 1
        return decoder.get_frames_at([min(i, last - 1) for i in wanted]).data
    except Exception as err:  # noqa: BLE001
        raise DecodeError(clip.path, f"on {device}: {type(err).__name__}: {err}") from err


def device_decoding_available(device: str = "cuda") -> tuple[bool, str]:
    """Whether torchcodec decodes H.264 on ``device`` here (probed once per process).

    Returns:
        ``(usable, reason)``; reason says what is missing, or is empty.
    """
    if device not in _PROBE:
        _PROBE[device] = _probe(device)
    return _PROBE[device]


def _probe(device: str) -> tuple[bool, str]:
    if device.startswith("cuda") and not torch.cuda.is_available():
        return False, "no CUDA device (torch.cuda.is_available() is False)"
    try:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(tiny_video_bytes("libx264", 64), device=device)  # NVDEC: H.264
        frames = decoder.get_frames_at([0, 3]).data
        fallback = getattr(decoder, "cpu_fallback", None)
        if fallback:  # torchcodec decoded on the CPU instead: no NVDEC for this build or GPU
            return False, f"torchcodec fell back to the CPU: {fallback}"
        if frames.device.type != torch.device(device).type:
            return False, f"torchcodec returned frames on {frames.device}, not {device}"
    except Exception as err:  # noqa: BLE001 - ImportError, missing FFmpeg/NVDEC libraries, ...
        return False, f"torchcodec cannot decode on {device}: {type(err).__name__}: " + str(
            err
        ).strip().splitlines()[0]
    return True, ""


def resolve_device_decoding(backend: str, num_gpus: int) -> tuple[str, bool]:
    """Turn DATA.DECODING_BACKEND into ``(worker backend, decode on the device)``.

    "torchcodec_cuda" becomes ``("torchcodec", True)`` when a GPU is used (NUM_GPUS > 0) and
    torchcodec decodes on it; otherwise it logs one warning with the reason and becomes
    ``("auto", False)``, CPU decoding in the loader workers. Other backends pass through.
    """
    if backend != "torchcodec_cuda":
        return backend, False
    usable, reason = (False, "NUM_GPUS is 0") if num_gpus < 1 else device_decoding_available()
    if usable:
        return "torchcodec", True
    global _WARNED
    if not _WARNED:
        _WARNED = True
        logger.warning(
            "DATA.DECODING_BACKEND torchcodec_cuda: %s; decoding on the CPU in the loader "
            "workers instead",
            reason,
        )
    return "auto", False
