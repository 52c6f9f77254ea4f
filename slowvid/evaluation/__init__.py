"""Evaluation: top-k counting, multi-view ensembling, running meters and timers."""

from .ensemble import ENSEMBLE_METHODS, VideoEnsemble
from .meters import AverageMeter, EpochTimer, ScalarMeter, format_eta, topk_correct

__all__ = [
    "ENSEMBLE_METHODS",
    "AverageMeter",
    "EpochTimer",
    "ScalarMeter",
    "VideoEnsemble",
    "format_eta",
    "topk_correct",
]
