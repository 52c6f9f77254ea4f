"""Audio through the decoder interface: window length, timing, resampling, missing tracks."""

import numpy as np
import pytest
import torch

from slowvid.data.decoding import NoAudioError, open_video, torchcodec_available
from slowvid.data.demo import write_video

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


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("audio")
    frames = np.zeros((30, 32, 32, 3), dtype=np.uint8)  # 1 s at 30 fps
    t = np.arange(RATE) / RATE
    tone = np.where(t >= ONSET_SEC, 0.5 * np.sin(2 * np.pi * TONE_HZ * t), 0.0)
    paths = {"tone": str(out / "tone.mp4"), "mute": str(out / "mute.mp4")}
    write_video(paths["tone"], frames, 30, audio=tone, sample_rate=RATE)
    write_video(paths["mute"], frames, 30)
    return paths


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
