"""Kinetics-layout clips plus the log-mel spectrogram of the same time window.

Each item's ``inputs`` are the visual pathways of :class:`~slowvid.data.datasets.Kinetics`
followed by one audio tensor ``(1, 1, frames, n_mels)``: the spectrogram laid out as a
one-frame "image" whose height is time and width is frequency, so the audio pathway can be a
2D ResNet made of slowvid's 3D blocks, and slowvid's own collate, trainer and evaluator batch
and move it like any pathway.

The audio window starts at the clip's first sampled frame and lasts as long as the clip
(``NUM_FRAMES * SAMPLING_RATE / TARGET_FPS`` seconds), so sound and frames are aligned.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import torch

from slowvid.data.datasets import Kinetics
from slowvid.data.decoding import NoAudioError, Video
from slowvid.registry import DATASETS

from .spectrogram import LogMelSpectrogram

__all__ = ["AVKinetics"]

logger = logging.getLogger(__name__)
MISSING_CHOICES = ("silence", "skip")


@DATASETS.register()
class AVKinetics(Kinetics):
    """:class:`Kinetics` whose items also carry the clip's log-mel spectrogram.

    Args:
        log_mel: turns the window's waveform into the spectrogram.
        missing_audio: "silence" (a warning per file, then a silent spectrogram) or "skip"
            (a file without audio fails like an undecodable one).
        **kwargs: the arguments of :class:`Kinetics`.
    """

    frame_folders_supported = False  # the audio comes from the video files
    extra_pathways = ("audio",)
    stacks_views = False  # each view brings its own audio window

    def __init__(self, *, log_mel: LogMelSpectrogram, missing_audio: str = "silence", **kwargs):
        if missing_audio not in MISSING_CHOICES:
            raise ValueError(f"missing_audio must be one of {MISSING_CHOICES}: {missing_audio!r}")
        super().__init__(**kwargs)
        self.log_mel = log_mel
        self.missing_audio = missing_audio
        # Files already warned about, so a long run warns once per file (per worker process).
        self._warned: set[str] = set()

    @property
    def clip_seconds(self) -> float:
        return self.clip.num_frames * self.clip.sampling_rate / self.clip.target_fps

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Kinetics' arguments plus AUDIO.*."""
        a = cfg.AUDIO
        log_mel = LogMelSpectrogram(
            sample_rate=a.SAMPLE_RATE,
            n_fft=a.N_FFT,
            win_length=round(a.WINDOW_MS * a.SAMPLE_RATE / 1000),
            hop_length=round(a.HOP_MS * a.SAMPLE_RATE / 1000),
            n_mels=a.N_MELS,
        )
        return {**super().from_config(cfg, split), "log_mel": log_mel, "missing_audio": a.MISSING}

    def _audio(self, video, start_sec: float) -> torch.Tensor:
        """The window's waveform; silence (with a warning) when the file has no audio."""
        rate = self.log_mel.sample_rate
        try:
            return video.get_audio(start_sec, start_sec + self.clip_seconds, rate)
        except NoAudioError:
            if self.missing_audio == "skip":
                raise  # a DecodeError: ClipDataset skips the video and counts it
            if video.path not in self._warned:
                self._warned.add(video.path)
                logger.warning("No audio track in %s: using a silent spectrogram", video.path)
            return torch.zeros(round(self.clip_seconds * rate))

    def extra_inputs(
        self, video: Video, frame_indices: list[int], rng: random.Random
    ) -> list[torch.Tensor]:
        """The spectrogram ``(1, 1, frames, n_mels)`` of the clip's window, from the clip's
        first frame for the clip's duration (the ``extra_inputs`` hook of ClipDataset)."""
        wave = self._audio(video, frame_indices[0] / video.fps)
        return [self.log_mel(wave)[None, None]]
