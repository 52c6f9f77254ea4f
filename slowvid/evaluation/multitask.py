"""Multi-task evaluation (EPIC-Kitchens verb / noun / action): each task's softmax scores are
ensembled over the views of a segment, then top-k accuracy per task and for the action.

The action of two tasks (verb, noun) is right at top-1 when both are; its top-k ranks every
(verb, noun) pair by the product of the two pooled scores, as the EPIC-Kitchens evaluation
does (the best pair is then the pair of the best verb and the best noun).

Follows the evaluator interface ``process(batch, outputs)`` / ``finalize()`` that
``engine.evaluator.run_dataset_evaluator`` drives (:class:`~.base.Evaluator`); ``finalize``
gathers every rank's views, so any number of processes gives the single-process figures.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from slowvid.distributed import comm

from .base import Evaluator
from .ensemble import VideoEnsemble
from .meters import topk_correct

__all__ = ["MultiTaskEvaluator", "action_topk_correct"]

logger = logging.getLogger(__name__)


def action_topk_correct(
    scores_a: torch.Tensor,
    scores_b: torch.Tensor,
    labels: torch.Tensor,
    ks: Sequence[int] = (1, 5),
    chunk: int = 256,
) -> list[int]:
    """Top-k hits of pairs ``(a, b)`` ranked by ``scores_a[a] * scores_b[b]``.

    Args:
        scores_a: ``(N, Ka)`` non-negative scores of the first task (e.g. verb).
        scores_b: ``(N, Kb)`` non-negative scores of the second task (e.g. noun).
        labels: ``(N, 2)`` true ``(a, b)``.
        ks: the k values.
        chunk: rows scored at once; the pair matrix of all rows can be gigabytes.

    Returns:
        One count per k.
    """
    counts = [0 for _ in ks]
    num_b = scores_b.shape[1]
    for i in range(0, scores_a.shape[0], chunk):
        a, b = scores_a[i : i + chunk], scores_b[i : i + chunk]
        pairs = (a.unsqueeze(2) * b.unsqueeze(1)).flatten(1)
        target = labels[i : i + chunk, 0] * num_b + labels[i : i + chunk, 1]
        counts = [c + n for c, n in zip(counts, topk_correct(pairs, target, ks))]
    return counts


class MultiTaskEvaluator(Evaluator):
    """Per-task and action top-k accuracy of view-level concatenated logits.

    Args:
        num_videos: segments in the split (``batch["video_index"]`` lies in ``[0, num_videos)``).
        task_num_classes: classes per task; outputs are the tasks' logits side by side.
        task_names: metric prefix of each task (``verb_top1_acc``).
        method: "sum" (mean of softmax scores) or "max" over a segment's views.
        ks: top-k values reported.
    """

    def __init__(
        self,
        num_videos: int,
        task_num_classes: Sequence[int],
        task_names: Sequence[str],
        method: str = "sum",
        ks: Sequence[int] = (1, 5),
    ):
        if len(task_names) != len(task_num_classes):
            raise ValueError(f"{len(task_names)} task names for {len(task_num_classes)} tasks")
        self.num_videos = num_videos
        self.task_num_classes = tuple(task_num_classes)
        self.task_names = tuple(task_names)
        self.method = method
        self.ks = tuple(ks)
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def process(self, batch: dict, outputs: torch.Tensor) -> None:
        """Keep ``(video_index (B,), logits (B, sum K_t), labels (B, num_tasks))``."""
        self.parts.append(
            (batch["video_index"].cpu(), outputs.detach().float().cpu(), batch["label"].cpu())
        )

    def ensembles(self) -> list[VideoEnsemble]:
        """One ensemble per task over every rank's views."""
        out = [VideoEnsemble(self.num_videos, k, self.method) for k in self.task_num_classes]
        for parts in comm.all_gather_object(self.parts):
            for index, logits, labels in parts:
                tasks = torch.split(logits, self.task_num_classes, dim=1)
                for t, (ensemble, x) in enumerate(zip(out, tasks)):
                    ensemble.update(index, x.softmax(dim=1), labels[:, t])
        return out

    def finalize(self) -> dict:
        """``{"<task>_top<k>_acc", "action_top<k>_acc" (two tasks), "num_videos",
        "num_missing"}``, accuracies in percent over the segments that got a view."""
        ensembles = self.ensembles()
        seen = ensembles[0].num_views_seen > 0
        num = int(seen.sum())
        results: dict = {}
        for name, ensemble in zip(self.task_names, ensembles):
            for k, acc in ensemble.finalize(self.ks).items():
                if k.startswith("top"):
                    results[f"{name}_{k}"] = acc
        if len(ensembles) == 2:
            labels = torch.stack([e.video_labels[seen] for e in ensembles], dim=1)
            hits = action_topk_correct(
                ensembles[0].video_preds[seen], ensembles[1].video_preds[seen], labels, self.ks
            )
            for k, c in zip(self.ks, hits):
                results[f"action_top{k}_acc"] = 100.0 * c / num if num else float("nan")
        results.update(num_videos=num, num_missing=int((~seen).sum()))
        logger.info(
            "%s over %d segments",
            "  ".join(f"{k} {v:.2f}" for k, v in results.items() if k.endswith("_acc")),
            num,
        )
        return results
