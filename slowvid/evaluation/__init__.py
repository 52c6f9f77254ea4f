"""Evaluation: top-k counting, multi-view ensembling, meters, timers, AVA frame mAP."""

from .ava import AvaEvaluator, evaluate_files
from .ensemble import ENSEMBLE_METHODS, VideoEnsemble
from .meters import AverageMeter, EpochTimer, ScalarMeter, format_eta, topk_correct

__all__ = [
    "ENSEMBLE_METHODS",
    "AvaEvaluator",
    "AverageMeter",
    "EpochTimer",
    "evaluate_files",
    "ScalarMeter",
    "VideoEnsemble",
    "format_eta",
    "topk_correct",
]
