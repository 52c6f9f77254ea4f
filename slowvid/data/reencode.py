"""Re-encoding videos for training: smaller frames, a fixed frame rate, short GOPs.

A random training clip costs decoding from the keyframe before it. Downloaded datasets keep
their uploaders' encodings: 720p and more, keyframes every few seconds (one in a whole 5 s
clip is common), so most of a clip's decoding time goes into frames that are thrown away,
at a resolution the 224 crop never needs. :func:`reencode_video` writes H.264 at a short side
of ``short_side`` pixels (PySlowFast trains from a short side of 256-320), ``fps`` frames a
second, a keyframe every ``gop`` frames, and x264's ``fastdecode`` tuning (no CABAC, no
deblocking: cheaper to decode, a little larger). Audio is copied as it is.

``tools/reencode.py`` runs it over a dataset folder in parallel and keeps its split files
valid; ``benchmarks/data_pipeline.py --videos`` measures the effect.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["EncodeSettings", "reencode_video"]


@dataclass(frozen=True)
class EncodeSettings:
    """How to re-encode.

    Attributes:
        short_side: pixels of the shorter side (0 keeps the size); never enlarges.
        fps: output frame rate (0 keeps the source's average rate); frames are dropped or
            repeated by timestamp, as FFmpeg's ``fps`` filter does.
        gop: frames between keyframes (the longest lead-in a random seek can cost).
        crf: x264 constant rate factor (lower = better quality, larger files; 23 default).
        preset: x264 speed preset.
        fast_decode: x264 ``tune=fastdecode``.
    """

    short_side: int = 320
    fps: float = 30.0
    gop: int = 16
    crf: int = 23
    preset: str = "veryfast"
    fast_decode: bool = True

    def __post_init__(self):
        if self.short_side < 0 or self.fps < 0 or self.gop < 1 or not 0 <= self.crf <= 51:
            raise ValueError(
                f"invalid settings {self}: short_side >= 0, fps >= 0, gop >= 1, 0 <= crf <= 51"
            )


def _output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Even dimensions (yuv420p needs them) with the shorter side ``short_side``."""
    if not short_side or short_side >= min(width, height):
        return width - width % 2, height - height % 2
    scale = short_side / min(width, height)
    return 2 * round(width * scale / 2), 2 * round(height * scale / 2)


def reencode_video(src: str, dst: str, settings: EncodeSettings) -> dict:
    """Re-encode ``src`` into ``dst`` (an .mp4 or .mkv), written to a temporary name first.

    Returns:
        ``{"frames_in", "frames_out", "size": (w, h), "fps", "bytes_in", "bytes_out"}``.

    Raises:
        ValueError: ``src`` has no video stream.
        av.FFmpegError: the file cannot be decoded or written (``dst`` is then left absent).
    """
    import av

    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    root, ext = os.path.splitext(dst)
    tmp = f"{root}.partial{ext}"
    frames_in = frames_out = 0
    try:
        with av.open(src) as inp, av.open(tmp, mode="w") as out:
            if not inp.streams.video:
                raise ValueError(f"{src}: no video stream")
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            src_rate = Fraction(vin.average_rate or vin.guessed_rate or 30)
            rate = Fraction(settings.fps).limit_denominator(1001) if settings.fps else src_rate
            width, height = _output_size(vin.width, vin.height, settings.short_side)
            gop = settings.gop
            options = {
                "crf": str(settings.crf),
                "preset": settings.preset,
                # No scene-cut keyframes: a fixed GOP makes every seek's cost predictable.
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            }
            if settings.fast_decode:
                options["tune"] = "fastdecode"
            vout = out.add_stream("libx264", rate=rate, options=options)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            ain = inp.streams.audio[0] if inp.streams.audio else None
            aout = out.add_stream_from_template(ain) if ain is not None else None
            streams = [vin] + ([ain] if ain is not None else [])
            time_base = Fraction(vin.time_base)
            start = vin.start_time or 0
            pending = None  # the last decoded frame, waiting for the output times it covers
            for packet in inp.demux(streams):
                if packet.stream is ain:
                    if packet.dts is not None:
                        packet.stream = aout
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    frames_in += 1
                    t = float(((frame.pts or 0) - start) * time_base)
                    if pending is not None:
                        # Output frames whose time is nearer the previous input frame.
                        frames_out = _emit(out, vout, pending[1], frames_out, rate, pending[0], t)
                    frame = frame.reformat(width, height, "yuv420p")
                    # libx264 keeps the source's picture types, which would put a keyframe
                    # wherever the source had one: the GOP is ours alone.
                    frame.pict_type = av.video.frame.PictureType.NONE
                    pending = (t, frame)
            if pending is not None:
                end = pending[0] + float(1 / src_rate)
                frames_out = _emit(out, vout, pending[1], frames_out, rate, pending[0], end)
            for packet in vout.encode():
                out.mux(packet)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {
        "frames_in": frames_in,
        "frames_out": frames_out,
        "size": (width, height),
        "fps": float(rate),
        "bytes_in": os.path.getsize(src),
        "bytes_out": os.path.getsize(dst),
    }


def _emit(out, stream, frame, count: int, rate: Fraction, t: float, t_next: float) -> int:
    """Encode ``frame`` (shown from ``t``) for every output slot ``k / rate`` nearer to it
    than to the next input frame at ``t_next``; returns the new output count."""
    boundary = (t + t_next) / 2
    last = math.ceil(boundary * rate - 1e-9)  # slots k < boundary * rate
    while count < last:
        frame.pts = count
        frame.time_base = 1 / rate
        for packet in stream.encode(frame):
            out.mux(packet)
        count += 1
    return count
