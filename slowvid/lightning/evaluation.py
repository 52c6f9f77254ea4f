"""Evaluators with ``process(batch, outputs)`` / ``finalize()`` for the Lightning module.

:class:`ViewEnsembleEvaluator` is the engine's multi-view evaluation (``predict_views`` +
``gather_and_ensemble`` + ``class_metrics`` in ``slowvid.engine.evaluator``) cut at the batch,
so a loop that owns the batches (Lightning's) can drive it. It is the one adapter between the
Lightning module and the engine's evaluation functions: when those take this form themselves,
it goes and :func:`make_evaluator` returns theirs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from slowvid.engine.evaluator import class_metrics, gather_and_ensemble

__all__ = ["ViewEnsembleEvaluator", "make_evaluator"]


class ViewEnsembleEvaluator:
    """Per-view probabilities ensembled per video, gathered over ranks, scored as the engine does.

    Args:
        num_videos: videos in the split (``dataset.num_videos``).
        num_classes: classes of the logits.
        method: "sum" or "max" (TEST.ENSEMBLE_METHOD).
        multi_label: sigmoid probabilities (multi-label sets); otherwise softmax, and per-class
            accuracy is reported too.
    """

    def __init__(
        self, *, num_videos: int, num_classes: int, method: str = "sum", multi_label: bool = False
    ):
        self.num_videos = num_videos
        self.num_classes = num_classes
        self.method = method
        self.multi_label = multi_label
        self._index: list[torch.Tensor] = []
        self._probs: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def process(self, batch: dict[str, Any], logits: torch.Tensor) -> None:
        """Adds a batch of views: ``batch["video_index"]``, ``batch["label"]`` and their
        ``(B, num_classes)`` logits."""
        logits = logits.detach().float()
        probs = logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)
        self._probs.append(probs.cpu())
        self._index.append(batch["video_index"].cpu())
        self._labels.append(batch["label"].cpu())

    def finalize(self) -> dict[str, Any]:
        """Metrics over every rank's views (a collective): ``top1_acc``, ``top5_acc``,
        ``num_videos``, ``num_missing``, and ``mean_class_acc`` / ``per_class_acc`` for
        single-label sets."""
        views = {
            "video_index": torch.cat(self._index) if self._index else torch.zeros(0).long(),
            "probs": torch.cat(self._probs) if self._probs else None,
            "labels": torch.cat(self._labels) if self._labels else torch.zeros(0).long(),
            "failed": [],  # the module counts failed views for every kind of evaluator
        }
        results, ensemble = gather_and_ensemble(
            views, num_videos=self.num_videos, num_classes=self.num_classes, method=self.method
        )
        if not self.multi_label:
            results.update(class_metrics(ensemble)[0])
        return results


def make_evaluator(
    dataset: Dataset,
    *,
    num_classes: int,
    method: str,
    multi_label: bool,
    output_dir: str,
    tag: str,
):
    """The dataset's own evaluator (AVA's detection mAP) if it makes one, else the ensemble,
    as ``slowvid.engine.evaluate`` chooses."""
    make = getattr(dataset, "make_evaluator", None)
    if make is not None:
        return make(output_dir, tag)
    return ViewEnsembleEvaluator(
        num_videos=dataset.num_videos,
        num_classes=num_classes,
        method=method,
        multi_label=multi_label,
    )
