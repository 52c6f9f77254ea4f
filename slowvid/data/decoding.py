"""Video decoding behind one small interface, with a PyAV and a torchcodec backend.

``open_video(path)`` returns a :class:`Video` that knows its frame rate and (estimated)
frame count and returns any set of frame indices as a uint8 ``(T, H, W, 3)`` RGB tensor.
Both backends seek to the first requested frame and stop after the last one, so a short
clip from a long file costs a few GOPs, not the whole file.

Frame indices come from presentation timestamps and the average frame rate: exact for
constant-rate video (public datasets after the usual re-encoding), close for variable-rate files.

:meth:`Video.get_audio` reads the file's first audio track over a time window, mixed down to
mono and resampled; times are on the video's clock (frame ``i`` plays at ``i / fps``).

torchcodec links against the system's FFmpeg libraries, which a machine may lack; the
``"auto"`` backend probes it once per process by decoding a tiny in-memory video and falls
back to PyAV (which bundles its own FFmpeg) when that fails.
"""

from __future__ import annotations

import bisect
import io
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Self

import numpy as np
import torch

__all__ = [
    "DecodeError",
    "DecodeStats",
    "NoAudioError",
    "PyAVVideo",
    "TorchCodecVideo",
    "Video",
    "open_video",
    "resolve_backend",
    "torchcodec_available",
]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "pyav", "torchcodec", "torchcodec_cuda", "torchvision")

# None until probed; then (usable, reason-if-not).
_TORCHCODEC_STATE: tuple[bool, str] | None = None
_LOGGED_CHOICE = False
# PySlowFast's "torchvision" backend is warned about once per process.
_WARNED_TORCHVISION = False


class DecodeError(RuntimeError):
    """A video could not be opened or decoded; the message names the file and the reason."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot decode {path!r}: {reason}")
        self.path = path
        self.reason = reason


class NoAudioError(DecodeError):
    """The file has no audio track: a property of the file, which callers may accept."""


@dataclass
class DecodeStats:
    """Where the time of one :meth:`PyAVVideo.get_frames` call went (benchmarks read it).

    Attributes:
        frames_decoded: frames that came out of the decoder, wanted or not.
        lead_frames: of those, frames before the clip's first one (from the keyframe the
            seek landed on): the price of random access with long GOPs.
        seek_s: from the seek until the clip's first frame is decoded.
        decode_s: from there until the clip's last frame, RGB conversion included.
    """

    frames_decoded: int = 0
    lead_frames: int = 0
    seek_s: float = 0.0
    decode_s: float = 0.0


# Audio decoders (AAC, MP3, Opus, Vorbis) build each frame from the one before it, so PyAV
# decodes from this long before a window; torchcodec handles it inside its seek.
AUDIO_PREROLL_SEC = 0.2


def _audio_window(
    samples: np.ndarray, first_sec: float, start_sec: float, end_sec: float, sample_rate: int
) -> torch.Tensor:
    """Cut ``[start_sec, end_sec)`` out of samples that begin at ``first_sec``.

    Time outside the decoded samples (before the track starts, after it ends) is silence, so
    the length is always ``round((end_sec - start_sec) * sample_rate)``.
    """
    num = max(round((end_sec - start_sec) * sample_rate), 0)
    out = np.zeros(num, dtype=np.float32)
    offset = round((start_sec - first_sec) * sample_rate)
    src = samples[max(offset, 0) : max(offset + num, 0)]
    out[max(-offset, 0) : max(-offset, 0) + len(src)] = src
    return torch.from_numpy(out)


def _unique_sorted(indices: Sequence[int]) -> list[int]:
    out = sorted({int(i) for i in indices})
    if out and out[0] < 0:
        raise ValueError(f"frame indices must be >= 0, got {out[0]}")
    return out


class Video:
    """An open video file. Use as a context manager, or call :meth:`close`.

    Attributes:
        path (str): the file.
        fps (float): average frame rate of the video stream.
        num_frames (int): frame count from the container when it is stored, else estimated
            as ``round(duration * fps)``; the estimate may be off by a frame or two, which
            :meth:`get_frames` absorbs by clamping to the last frame it can decode.
        duration (float): seconds, ``num_frames / fps`` when the container does not say.
    """

    path: str
    fps: float
    num_frames: int
    duration: float
    backend: str

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """Decode the given frames.

        Args:
            indices: frame indices (>= 0) in any order, repeats allowed; indices past the end
                are clamped to the last decodable frame.

        Returns:
            uint8 tensor ``(len(indices), H, W, 3)``, RGB, in the order requested.
        """
        raise NotImplementedError

    def get_audio(self, start_sec: float, end_sec: float, sample_rate: int) -> torch.Tensor:
        """Decode the first audio track over a window, as mono at ``sample_rate``.

        Args:
            start_sec: window start on the video's clock (frame ``i`` plays at ``i / fps``).
            end_sec: window end (excluded).
            sample_rate: output samples per second (the track is resampled to it).

        Returns:
            float32 tensor ``(round((end_sec - start_sec) * sample_rate),)`` in [-1, 1];
            parts of the window outside the track are zeros.

        Raises:
            NoAudioError: the file has no audio track.
            DecodeError: the audio track cannot be decoded.
        """
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={self.path!r}, fps={self.fps:.3f}, "
            f"num_frames={self.num_frames}, duration={self.duration:.3f})"
        )


def _gather(requested: Sequence[int], frames: dict[int, np.ndarray], path: str) -> torch.Tensor:
    """Stack decoded frames in the requested order.

    An index with no frame of its own (past the true end, or in a timestamp gap of a
    variable-rate file) takes the nearest decoded frame before it, else the first one.
    """
    if not frames:
        raise DecodeError(path, "no frame could be decoded")
    keys = sorted(frames)
    picked = []
    for i in requested:
        if i not in frames:
            i = keys[max(bisect.bisect_right(keys, i) - 1, 0)]
        picked.append(frames[i])
    return torch.from_numpy(np.stack(picked))


class PyAVVideo(Video):
    """PyAV backend: seeks by timestamp, decodes forward until the last requested frame.

    Args:
        path: video file (with ``data``, only the name used in messages).
        num_threads: FFmpeg decoding threads (1 suits data-loader workers, which already
            run in parallel).
        data: the encoded file's bytes, read from memory instead of ``path`` (a video
            streamed out of a tar shard).
    """

    backend = "pyav"

    def __init__(self, path: str, *, num_threads: int = 1, data: bytes | None = None):
        import av

        self.path = path
        self._container = None
        # Number of frames decoded by the last get_frames call; lets tests check seeking.
        self.last_decoded_count = 0
        self.last_stats = DecodeStats()
        self._fresh = True
        if data is None and not os.path.isfile(path):
            raise DecodeError(path, "file not found")
        try:
            self._container = av.open(path if data is None else io.BytesIO(data))
            if not self._container.streams.video:
                raise DecodeError(path, "no video stream")
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.thread_count = num_threads
            self._stream = stream
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise DecodeError(path, "stream has no frame rate")
            self._rate = Fraction(rate)
            self.fps = float(self._rate)
            self._time_base = Fraction(stream.time_base)
            self._start_pts = stream.start_time if stream.start_time is not None else 0
            duration = None
            if stream.duration:
                duration = float(stream.duration * self._time_base)
            elif self._container.duration:
                duration = self._container.duration / av.time_base
            if stream.frames > 0:
                self.num_frames = int(stream.frames)
            elif duration:
                self.num_frames = max(round(duration * self.fps), 1)
            else:
                raise DecodeError(path, "stream stores neither a frame count nor a duration")
            self.duration = duration if duration else self.num_frames / self.fps
        except DecodeError:
            self.close()
            raise
        except Exception as err:  # FFmpeg raises many types; all mean this file is unusable.
            self.close()
            raise DecodeError(path, f"{type(err).__name__}: {err}") from err

    def _frame_index(self, pts: int) -> int:
        return round((pts - self._start_pts) * self._time_base * self._rate)

    def _seek_to(self, index: int) -> None:
        # A backward seek to any time in [frame's pts, next frame's pts) lands on the keyframe
        # at or before the frame; aiming at its nominal time is enough. Should rounding put the
        # target just early, the cost is one extra GOP, never a wrong frame.
        seconds = Fraction(index) / self._rate
        self._container.seek(
            self._start_pts + round(seconds / self._time_base), stream=self._stream, backward=True
        )

    def _decode_range(self, wanted: list[int], seek: bool) -> tuple[dict[int, np.ndarray], bool]:
        """Decode from the keyframe before wanted[0] until wanted[-1].

        Returns the frames found and whether the seek landed early enough (False means it
        overshot, as with broken indexes or missing timestamps; the caller then decodes from
        the start, where no such check is made).
        """
        stats = self.last_stats
        start = time.perf_counter()
        if seek:
            self._seek_to(wanted[0])
        want = set(wanted)
        frames: dict[int, np.ndarray] = {}
        last_frame = None
        first = True
        reached = None  # when the clip's first frame came out
        for counter, frame in enumerate(self._container.decode(self._stream)):
            self.last_decoded_count += 1
            stats.frames_decoded += 1
            if frame.pts is None and seek:
                # Counting frames only works from the start of the stream.
                return {}, False
            idx = self._frame_index(frame.pts) if frame.pts is not None else counter
            if first and seek and idx > wanted[0]:
                return {}, False
            first = False
            if reached is None and idx >= wanted[0]:
                reached = time.perf_counter()
                stats.seek_s += reached - start
            elif reached is None:
                stats.lead_frames += 1
            if idx in want:
                frames[idx] = frame.to_ndarray(format="rgb24")
            last_frame = (idx, frame)
            if idx >= wanted[-1]:
                break
        # Indices past the true end (the frame count was an over-estimate) take the last frame.
        if last_frame is not None and last_frame[0] not in frames and wanted[-1] > last_frame[0]:
            frames[last_frame[0]] = last_frame[1].to_ndarray(format="rgb24")
        end = time.perf_counter()
        if reached is None:
            stats.seek_s += end - start
        else:
            stats.decode_s += end - reached
        return frames, True

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        wanted = [min(i, self.num_frames - 1) for i in _unique_sorted(indices)]
        if not wanted:
            raise ValueError("no frame indices requested")
        self.last_decoded_count = 0
        self.last_stats = DecodeStats()
        try:
            # A fresh container already sits at the start; anything else needs a seek.
            frames, ok = self._decode_range(wanted, seek=wanted[0] > 0 or not self._fresh)
            self._fresh = False
            if not ok:
                self._container.seek(self._start_pts, stream=self._stream, backward=True)
                frames, _ = self._decode_range(wanted, seek=False)
        except Exception as err:
            raise DecodeError(self.path, f"{type(err).__name__}: {err}") from err
        return _gather([min(int(i), self.num_frames - 1) for i in indices], frames, self.path)

    def get_audio(self, start_sec: float, end_sec: float, sample_rate: int) -> torch.Tensor:
        import av

        if not self._container.streams.audio:
            raise NoAudioError(self.path, "no audio stream")
        # Absolute presentation time of the window (the video stream may not start at 0).
        offset = float(self._start_pts * self._time_base)
        start, end = start_sec + offset, end_sec + offset
        container = None
        try:
            container, stream = self._audio_from(start - AUDIO_PREROLL_SEC)
            time_base = Fraction(stream.time_base)
            # swresample keeps its filter state across frames, so chunk edges leave no clicks.
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks, first = [], None
            for frame in container.decode(stream):
                t = float(frame.pts * time_base) if frame.pts is not None else 0.0
                first = t if first is None else first
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
                if t + frame.samples / frame.sample_rate >= end:
                    break
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        except Exception as err:
            raise DecodeError(self.path, f"audio: {type(err).__name__}: {err}") from err
        finally:
            if container is not None and container is not self._container:
                container.close()
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return _audio_window(samples, first or 0.0, start, end, sample_rate)

    def _audio_from(self, seconds: float):
        """A container positioned to decode the first audio track from ``seconds`` on.

        A seek resets the audio decoder, whose first frame after it is then wrong (zeros, then
        half an overlap); the pre-roll before the window absorbs that. A window within the
        pre-roll of the track's start gets a fresh container decoding from the first packet,
        as a fresh decoder also applies the encoder's priming trim that a seek back to 0 loses.
        """
        import av

        stream = self._container.streams.audio[0]
        time_base = Fraction(stream.time_base)
        first = float((stream.start_time or 0) * time_base)
        if seconds <= first:
            fresh = av.open(self.path)
            return fresh, fresh.streams.audio[0]
        self._fresh = False  # the next get_frames must seek back
        self._container.seek(round(seconds / time_base), stream=stream, backward=True)
        return self._container, stream

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class TorchCodecVideo(Video):
    """torchcodec backend (FFmpeg through C++, no Python per frame).

    Opens in torchcodec's "approximate" seek mode, which reads the stream header instead of
    scanning every packet; if a request then fails near the end (the header over-counted),
    it retries once in "exact" mode, whose frame count comes from the packets themselves.

    Args:
        path: video file (with ``data``, only the name used in messages).
        num_threads: FFmpeg decoding threads.
        data: the encoded file's bytes, read from memory instead of ``path``.
    """

    backend = "torchcodec"

    def __init__(self, path: str, *, num_threads: int = 1, data: bytes | None = None):
        self.path = path
        self._decoder = None
        self._num_threads = num_threads
        self._data = data
        self._source = path if data is None else data
        if data is None and not os.path.isfile(path):
            raise DecodeError(path, "file not found")
        self._open("approximate")

    def _open(self, seek_mode: str) -> None:
        from torchcodec.decoders import VideoDecoder

        try:
            self._decoder = VideoDecoder(
                self._source,
                dimension_order="NHWC",
                num_ffmpeg_threads=self._num_threads,
                seek_mode=seek_mode,
            )
            meta = self._decoder.metadata
        except Exception as err:
            self._decoder = None
            raise DecodeError(self.path, f"{type(err).__name__}: {err}") from err
        self._seek_mode = seek_mode
        if not meta.average_fps:
            raise DecodeError(self.path, "stream has no frame rate")
        self.fps = float(meta.average_fps)
        duration = meta.duration_seconds
        # Exact mode counts the packets; the header may over-count (the retry below).
        counted = getattr(meta, "num_frames_from_content", None) or getattr(
            meta, "num_frames_from_header", None
        )
        if counted:
            self.num_frames = int(counted)
        elif duration:
            # No count stored (webm, mkv: SSv2's files): torchcodec's own estimate floors
            # duration x fps, which drops the last frame when the container rounded the
            # duration down (37 frames at 12 fps, 3.083 s: 36). Round, as the PyAV backend.
            self.num_frames = max(round(duration * self.fps), 1)
        else:
            raise DecodeError(self.path, "stream stores neither a frame count nor a duration")
        self.duration = float(duration) if duration else self.num_frames / self.fps

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        wanted = _unique_sorted(indices)
        if not wanted:
            raise ValueError("no frame indices requested")
        for attempt in range(2):
            clamped = sorted({min(i, self.num_frames - 1) for i in wanted})
            try:
                batch = self._decoder.get_frames_at(clamped).data
                break
            except Exception as err:
                if attempt == 0 and self._seek_mode == "approximate":
                    self._open("exact")
                    continue
                raise DecodeError(self.path, f"{type(err).__name__}: {err}") from err
        frames = {i: batch[k].numpy() for k, i in enumerate(clamped)}
        return _gather([min(int(i), self.num_frames - 1) for i in indices], frames, self.path)

    def get_audio(self, start_sec: float, end_sec: float, sample_rate: int) -> torch.Tensor:
        from torchcodec.decoders import AudioDecoder

        offset = float(self._decoder.metadata.begin_stream_seconds or 0)
        start, end = start_sec + offset, end_sec + offset
        try:
            decoder = AudioDecoder(self._source, sample_rate=sample_rate, num_channels=1)
            played = decoder.get_samples_played_in_range(max(start, 0.0), end)
        except Exception as err:
            # torchcodec's message for a missing track is generic; PyAV tells which it is.
            with PyAVVideo(self.path, data=self._data) as video:
                if not video._container.streams.audio:
                    raise NoAudioError(self.path, "no audio stream") from None
            raise DecodeError(self.path, f"audio: {type(err).__name__}: {err}") from err
        samples = played.data[0].numpy().astype(np.float32, copy=False)
        return _audio_window(samples, played.pts_seconds, start, end, sample_rate)

    def close(self) -> None:
        # torchcodec closes the file when the decoder is released.
        self._decoder = None


def tiny_video_bytes(codec: str = "mpeg4", size: int = 32) -> bytes:
    """A 4-frame ``size``-pixel square video made with PyAV, to probe another decoder with."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for i in range(4):
            img = np.full((size, size, 3), 60 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def torchcodec_available() -> tuple[bool, str]:
    """Whether torchcodec imports and decodes here (probed once per process).

    Returns:
        ``(usable, reason)``; reason explains why not, or is empty.
    """
    global _TORCHCODEC_STATE
    if _TORCHCODEC_STATE is None:
        try:
            from torchcodec.decoders import VideoDecoder

            frames = VideoDecoder(tiny_video_bytes()).get_frames_at([0, 3]).data
            if tuple(frames.shape[:2]) != (2, 3):
                raise RuntimeError(f"unexpected frame batch shape {tuple(frames.shape)}")
            _TORCHCODEC_STATE = (True, "")
        # ImportError, OSError from missing FFmpeg libs, RuntimeError from a broken build...
        except Exception as err:  # noqa: BLE001
            _TORCHCODEC_STATE = (False, f"{type(err).__name__}: {str(err).splitlines()[0]}")
    return _TORCHCODEC_STATE


FORCE_BACKEND_ENV = "SLOWVID_DECODING_BACKEND"


def _forced_backend() -> str | None:
    """The backend $SLOWVID_DECODING_BACKEND names: it replaces "auto" in every process, so a
    whole run or test suite decodes with one backend; an explicit one in a config still wins."""
    forced = os.environ.get(FORCE_BACKEND_ENV, "").strip()
    if not forced:
        return None
    if forced not in ("pyav", "torchcodec"):
        raise ValueError(f"${FORCE_BACKEND_ENV}={forced!r}: choose 'pyav' or 'torchcodec'")
    return forced


def resolve_backend(backend: str = "auto") -> str:
    """Turn "auto" into the backend this process will use, logging the choice once.

    Args:
        backend: "auto", "pyav" or "torchcodec". "auto" takes $SLOWVID_DECODING_BACKEND when
            set, else torchcodec where it works here, else PyAV. "torchvision" (PySlowFast's
            default) decodes as "auto" does, with one warning: torchvision's video decoding is
            deprecated and being removed, and torchcodec is its successor.

    Returns:
        "pyav" or "torchcodec".
    """
    global _LOGGED_CHOICE, _WARNED_TORCHVISION
    if backend not in BACKENDS:
        raise ValueError(f"unknown decoding backend {backend!r}; choose one of {BACKENDS}")
    if backend == "torchvision":
        if not _WARNED_TORCHVISION:
            _WARNED_TORCHVISION = True
            logger.warning(
                "DATA.DECODING_BACKEND torchvision: torchvision's video decoding is deprecated "
                "and being removed; decoding with torchcodec (else PyAV) instead"
            )
        backend = "auto"
    if backend == "torchcodec_cuda":
        # The clip datasets set up device decoding (device_decoding.py); workers use the CPU.
        backend = "auto"
    if backend == "auto":
        backend = _forced_backend() or backend
    if backend == "pyav":
        return backend
    usable, reason = torchcodec_available()
    if backend == "torchcodec" and not usable:
        raise RuntimeError(f"decoding backend 'torchcodec' was asked for but fails: {reason}")
    chosen = "torchcodec" if usable else "pyav"
    if not _LOGGED_CHOICE:
        _LOGGED_CHOICE = True
        if usable:
            logger.info("Video decoding backend: torchcodec")
        else:
            logger.info("Video decoding backend: pyav (torchcodec unusable: %s)", reason)
    return chosen


def open_video(
    path: str, backend: str = "auto", *, num_threads: int = 1, data: bytes | None = None
) -> Video:
    """Open a video for random access to its frames.

    Args:
        path: video file; with ``data``, only its name (in messages and ``Video.path``).
        backend: "auto" (torchcodec when it works here, else PyAV), "pyav" or "torchcodec".
        num_threads: FFmpeg decoding threads.
        data: the encoded bytes of the file, when they are already in memory (tar shards).

    Returns:
        An open :class:`Video`; close it (or use ``with``) when done.

    Raises:
        DecodeError: the file is missing, unreadable, or has no decodable video stream.
    """
    path = os.fspath(path)
    if resolve_backend(backend) == "torchcodec":
        return TorchCodecVideo(path, num_threads=num_threads, data=data)
    return PyAVVideo(path, num_threads=num_threads, data=data)
