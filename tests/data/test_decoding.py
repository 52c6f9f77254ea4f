"""Decoding: exact frames, seeking, clamping, backend agreement, clear errors."""

import numpy as np
import pytest
import torch
from synthetic import INDEX_GOP, NUM_INDEX_FRAMES, index_frame

from slowvid.data.decoding import DecodeError, PyAVVideo, open_video, torchcodec_available

TORCHCODEC_OK, TORCHCODEC_REASON = torchcodec_available()
BACKENDS = [
    "pyav",
    pytest.param(
        "torchcodec",
        marks=pytest.mark.skipif(
            not TORCHCODEC_OK, reason=f"torchcodec cannot decode here: {TORCHCODEC_REASON}"
        ),
    ),
]


def expected(indices):
    return torch.from_numpy(np.stack([index_frame(i) for i in indices]))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata(index_video, backend):
    with open_video(index_video, backend) as video:
        assert video.fps == pytest.approx(30.0)
        assert video.num_frames == NUM_INDEX_FRAMES
        assert video.duration == pytest.approx(NUM_INDEX_FRAMES / 30, abs=0.05)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "indices",
    [
        [0, 1, 2],
        [45, 47, 49],  # mid-GOP, after a seek
        [80, 81],  # exactly on a keyframe
        [63, 5, 63, 40, 5],  # any order, repeats
        list(range(0, NUM_INDEX_FRAMES, 11)),
    ],
)
def test_exact_frames(index_video, backend, indices):
    with open_video(index_video, backend) as video:
        frames = video.get_frames(indices)
    assert frames.dtype == torch.uint8 and frames.shape == (len(indices), 48, 64, 3)
    assert torch.equal(frames, expected(indices))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_clamps_to_last_frame(index_video, backend):
    with open_video(index_video, backend) as video:
        frames = video.get_frames([88, 89, 90, 500])
    assert torch.equal(frames, expected([88, 89, 89, 89]))


@pytest.mark.timeout(60)
def test_pyav_seeks_and_stops_early(index_video):
    with PyAVVideo(index_video) as video:
        video.get_frames([81, 83])
        # From the keyframe at 80 to 83: four frames, not the 84 before them.
        assert video.last_decoded_count <= 4
        video.get_frames([47])
        assert video.last_decoded_count <= INDEX_GOP
        video.get_frames([2])
        assert video.last_decoded_count <= 3
        # Back to the very start after reading further on.
        assert torch.equal(video.get_frames([0, 1]), expected([0, 1]))


@pytest.mark.timeout(60)
def test_pyav_overestimated_frame_count_clamps(index_video):
    with PyAVVideo(index_video) as video:
        video.num_frames = NUM_INDEX_FRAMES + 5  # as if estimated from a too-long duration
        frames = video.get_frames([86, 92])
    assert torch.equal(frames, expected([86, 89]))


@pytest.mark.timeout(60)
@pytest.mark.skipif(not TORCHCODEC_OK, reason=f"torchcodec cannot decode here: {TORCHCODEC_REASON}")
def test_backends_pixel_identical_on_h264(h264_video):
    indices = [0, 7, 13, 30, 59, 31]
    with open_video(h264_video, "pyav") as a, open_video(h264_video, "torchcodec") as b:
        assert a.num_frames == b.num_frames == 60
        assert torch.equal(a.get_frames(indices), b.get_frames(indices))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_errors_name_file_and_reason(tmp_path, backend, h264_video):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(DecodeError, match="missing.mp4.*not found"):
        open_video(str(missing), backend)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="junk.mp4"), open_video(str(junk), backend) as video:
        video.get_frames([0])
    truncated = tmp_path / "truncated.mp4"
    with open(h264_video, "rb") as f:
        data = f.read()
    truncated.write_bytes(data[: len(data) // 4])
    with pytest.raises(DecodeError, match="truncated.mp4"):  # noqa: SIM117 (either call may raise)
        with open_video(str(truncated), backend) as video:
            video.get_frames([0, 30])


@pytest.mark.timeout(60)
def test_no_video_stream(tmp_path):
    import av

    path = tmp_path / "audio_only.mka"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(DecodeError, match="audio_only.mka.*no video stream"):
        open_video(str(path), "pyav")


@pytest.mark.timeout(60)
def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown decoding backend"):
        open_video("x.mp4", "opencv")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_fd_leak(index_video, tmp_path, backend):
    import os

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 1000)
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with open_video(index_video, backend) as video:
            video.get_frames([3, 50])
        with pytest.raises(DecodeError):
            open_video(str(junk), backend)
    assert len(os.listdir("/proc/self/fd")) <= fds + 1


def test_auto_falls_back_to_pyav_when_torchcodec_fails(monkeypatch, caplog):
    import sys

    from slowvid.data import decoding

    # A None entry makes "import torchcodec.decoders" raise ImportError, as on a machine
    # without the FFmpeg libraries torchcodec links against.
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    monkeypatch.delenv(decoding.FORCE_BACKEND_ENV, raising=False)
    monkeypatch.setattr(decoding, "_TORCHCODEC_STATE", None)
    monkeypatch.setattr(decoding, "_LOGGED_CHOICE", False)
    caplog.set_level("INFO")
    assert decoding.resolve_backend("auto") == "pyav"
    assert "torchcodec unusable" in caplog.text
    with pytest.raises(RuntimeError, match="torchcodec"):
        decoding.resolve_backend("torchcodec")


def test_environment_variable_forces_auto_only(monkeypatch):
    from slowvid.data import decoding

    monkeypatch.setenv(decoding.FORCE_BACKEND_ENV, "pyav")
    assert decoding.resolve_backend("auto") == "pyav"
    if TORCHCODEC_OK:  # a config that names its backend keeps it
        assert decoding.resolve_backend("torchcodec") == "torchcodec"
        monkeypatch.setenv(decoding.FORCE_BACKEND_ENV, "torchcodec")
        assert decoding.resolve_backend("auto") == "torchcodec"
    monkeypatch.setenv(decoding.FORCE_BACKEND_ENV, "ffmpeg")
    with pytest.raises(ValueError, match="SLOWVID_DECODING_BACKEND='ffmpeg'"):
        decoding.resolve_backend("auto")
