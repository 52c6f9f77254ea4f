"""Audio through the decoder interface: window length, timing, resampling, missing tracks."""

import numpy as np
import pytest
import torch

from slowvid.data.decoding import NoAudioError, open_video, torchcodec_available
from slowvid.data.demo import write_video
from slowvid.data.video_segment import VideoSegment

TORCHCODEC_OK, TORCHCODEC_REASON = torchcodec_available()
BACKENDS = [
    "pyav",
    pytest.param(
        "torchcodec",
        marks=pytest.mark.skipif(not TORCHCODEC_OK, reason=f"torchcodec: {TORCHCODEC_REASON}"),
    ),
]
RATE = 22050  # stored rate; reads resample to other rates
TONE_HZ = 1000.0
ONSET_SEC = 0.5  # silence before, a tone after
CHIRP_RATE = 16000  # AAC frames of 64 ms: a wrong frame after a seek is easy to see


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("audio")
    frames = np.zeros((30, 32, 32, 3), dtype=np.uint8)  # 1 s at 30 fps
    t = np.arange(RATE) / RATE
    tone = np.where(t >= ONSET_SEC, 0.5 * np.sin(2 * np.pi * TONE_HZ * t), 0.0)
    paths = {k: str(out / f"{k}.mp4") for k in ("tone", "mute", "chirp")}
    write_video(paths["tone"], frames, 30, audio=tone, sample_rate=RATE)
    write_video(paths["chirp"], frames, 30, audio=_chirp(), sample_rate=CHIRP_RATE)
    write_video(paths["mute"], frames, 30)
    return paths


def _chirp() -> np.ndarray:
    """1 s whose frequency sweeps 200 Hz -> 800 Hz: every window of it is different."""
    t = np.arange(CHIRP_RATE) / CHIRP_RATE
    return 0.4 * np.sin(2 * np.pi * (200 * t + 300 * t * t))


def _rms(x: torch.Tensor) -> float:
    return x.pow(2).mean().sqrt().item()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sample_rate", [16000, 22050])
def test_window_length_timing_and_pitch(videos, backend, sample_rate):
    with open_video(videos["tone"], backend) as video:
        frames = video.get_frames([0, 29])
        audio = video.get_audio(0.3, 0.7, sample_rate)
        tail = video.get_audio(0.9, 1.3, sample_rate)  # runs past the end of the track
        again = video.get_frames([0, 29])  # video still decodes after an audio read
    assert audio.dtype == torch.float32 and audio.shape == (round(0.4 * sample_rate),)
    assert tail.shape == (round(0.4 * sample_rate),) and _rms(tail[-sample_rate // 10 :]) == 0
    assert torch.equal(frames, again)
    # Silence then tone, switching at the onset (AAC smears it by a few ms at most).
    quarter = len(audio) // 4
    assert _rms(audio[: quarter // 2]) < 0.01 < 0.2 < _rms(audio[-quarter:])
    spectrum = torch.fft.rfft(audio[-2 * quarter :]).abs()
    peak_hz = spectrum.argmax().item() * sample_rate / (2 * quarter)
    assert abs(peak_hz - TONE_HZ) < 15


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_audio_track_is_its_own_error(videos, backend):
    with open_video(videos["mute"], backend) as video, pytest.raises(NoAudioError, match="mute"):
        video.get_audio(0.0, 0.5, 16000)


def _read_chirp(path: str, backend: str, start_sec: float) -> np.ndarray:
    with open_video(path, backend) as video:
        video.get_frames([20])  # the container has moved on: the audio read must seek
        return video.get_audio(start_sec, start_sec + 0.4, CHIRP_RATE).numpy()


WINDOW_STARTS = [0.0, 0.03, 0.3, 0.55]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("start_sec", WINDOW_STARTS)
def test_window_equals_the_written_waveform(videos, backend, start_sec):
    """A window anywhere, including the first audio frame and the frame after a seek target
    (where a reset decoder gives zeros, then half an overlap), is the encoded waveform, up to
    AAC's coding error."""
    audio = _read_chirp(videos["chirp"], backend, start_sec)
    first = round(start_sec * CHIRP_RATE)
    expected = _chirp()[first : first + len(audio)]
    # The encoder's own start-up smears the first 50 ms of the track; compare after it.
    keep = slice(max(round(0.05 * CHIRP_RATE) - first, 0), None)
    error = np.abs(audio[keep] - expected[keep])
    assert error.mean() < 0.003 and error.max() < 0.05, (error.mean(), error.max())


@pytest.mark.timeout(60)
@pytest.mark.skipif(not TORCHCODEC_OK, reason=f"torchcodec: {TORCHCODEC_REASON}")
@pytest.mark.parametrize("start_sec", WINDOW_STARTS)
def test_backends_give_the_same_samples(videos, start_sec):
    pyav = _read_chirp(videos["chirp"], "pyav", start_sec)
    torchcodec = _read_chirp(videos["chirp"], "torchcodec", start_sec)
    np.testing.assert_allclose(pyav, torchcodec, rtol=0, atol=1e-5)


@pytest.mark.timeout(60)
def test_a_segment_reads_audio_on_its_own_clock(videos):
    """Frame 0 of a segment starting at frame 9 (0.3 s at 30 fps) plays at its 0 s."""
    with open_video(videos["chirp"], "pyav") as video:
        whole = video.get_audio(0.3, 0.5, CHIRP_RATE)
        segment = VideoSegment(open_video(videos["chirp"], "pyav"), 9, 29)
        with segment:
            part = segment.get_audio(0.0, 0.2, CHIRP_RATE)
            frames = segment.get_frames([0, 100])  # past the segment's end: its last frame
            assert torch.equal(frames, video.get_frames([9, 29]))
    np.testing.assert_allclose(part.numpy(), whole.numpy(), atol=1e-6)
    assert _rms(part) > 0.1
