"""Audio-visual SlowFast as a slowvid project: importing this package registers the
``AVSlowFast`` model and the ``AVKinetics`` dataset."""

from .config import add_config
from .dataset import AVKinetics
from .demo import make_av_demo_data
from .model import AVSlowFast
from .spectrogram import LogMelSpectrogram, mel_filterbank

__all__ = [
    "AVKinetics",
    "AVSlowFast",
    "LogMelSpectrogram",
    "add_config",
    "make_av_demo_data",
    "mel_filterbank",
]
