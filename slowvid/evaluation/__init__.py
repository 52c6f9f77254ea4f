"""Evaluation: top-k counting, multi-view ensembling, meters, timers, AVA frame mAP,
multi-label mAP, multi-task (verb/noun/action) accuracy, confusion matrices."""

from .ava import AvaEvaluator, evaluate_files
from .base import Evaluator
from .classification import (
    average_precision,
    confusion_matrix,
    mean_average_precision,
    per_class_accuracy,
    render_confusion_matrix,
)
from .ensemble import ENSEMBLE_METHODS, ClassificationEvaluator, VideoEnsemble, class_metrics
from .meters import AverageMeter, EpochTimer, ScalarMeter, format_eta, topk_correct
from .multilabel import MultiLabelEvaluator
from .multitask import MultiTaskEvaluator, action_topk_correct

__all__ = [
    "ENSEMBLE_METHODS",
    "AvaEvaluator",
    "AverageMeter",
    "ClassificationEvaluator",
    "Evaluator",
    "MultiLabelEvaluator",
    "MultiTaskEvaluator",
    "action_topk_correct",
    "average_precision",
    "class_metrics",
    "confusion_matrix",
    "mean_average_precision",
    "per_class_accuracy",
    "render_confusion_matrix",
    "EpochTimer",
    "evaluate_files",
    "ScalarMeter",
    "VideoEnsemble",
    "format_eta",
    "topk_correct",
]
