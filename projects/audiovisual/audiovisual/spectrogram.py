"""Log-mel spectrograms written with torch alone (torchaudio is not available here).

Defaults follow the usual speech/audio-event front end (and AVSlowFast's input): 16 kHz mono,
25 ms Hann window, 10 ms hop (100 frames a second), 512-point FFT, HTK mel scale over
0 .. 8 kHz, natural log of the mel power plus 1e-6 (so silence is a finite floor, log(1e-6)).
"""

from __future__ import annotations

import math

import torch

__all__ = ["LogMelSpectrogram", "hz_to_mel", "mel_filterbank", "mel_to_hz"]

LOG_FLOOR = 1e-6


def hz_to_mel(hz: float | torch.Tensor) -> float | torch.Tensor:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    if isinstance(hz, torch.Tensor):
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: float | torch.Tensor) -> float | torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular filters, evenly spaced on the mel scale, peak value 1.

    Args:
        n_freqs: FFT bins (``n_fft // 2 + 1``), spanning 0 .. sample_rate / 2.
        n_mels: filters.
        sample_rate: samples per second.
        f_min: lowest edge in Hz.
        f_max: highest edge in Hz (default: sample_rate / 2).

    Returns:
        ``(n_freqs, n_mels)`` weights; ``power @ fb`` gives mel power.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_freqs)
    edges = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - low) / (centre - low)
    falling = (high - freqs[:, None]) / (high - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class LogMelSpectrogram:
    """Waveform -> log-mel spectrogram.

    Args:
        sample_rate: samples per second of the input.
        n_fft: FFT size.
        win_length: Hann window length in samples (<= n_fft).
        hop_length: samples between frames.
        n_mels: mel bands.
    """

    def __init__(self, sample_rate: int, n_fft: int, win_length: int, hop_length: int, n_mels: int):
        if win_length > n_fft:
            raise ValueError(f"window ({win_length} samples) longer than n_fft ({n_fft})")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.window = torch.hann_window(win_length)
        self.filterbank = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate)
        # Mel band centres in Hz, e.g. to read a tone's pitch off the peak band.
        edges = mel_to_hz(torch.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2))
        self.centres_hz = edges[1:-1]

    def num_frames(self, num_samples: int) -> int:
        """Frames for ``num_samples`` input samples (centred frames, as torch.stft makes)."""
        return 1 + num_samples // self.hop_length

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        """Args: wave: float ``(N,)``. Returns: float ``(1 + N // hop_length, n_mels)``."""
        spec = torch.stft(
            wave,
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="constant",  # reflect padding fails on windows shorter than n_fft / 2
            return_complex=True,
        )
        power = spec.abs().pow(2).T  # (frames, freqs)
        return torch.log(power @ self.filterbank + LOG_FLOOR)
