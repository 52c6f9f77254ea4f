"""Multi-label video evaluation (Charades): pool the sigmoid scores of every view of a video,
then mean average precision over classes.

Follows the evaluator interface ``process(batch, outputs)`` / ``finalize()`` that
``engine.evaluator.run_dataset_evaluator`` drives (:class:`~.base.Evaluator`); each rank
keeps its own views and ``finalize`` gathers them, so any number of processes gives the
single-process mAP.
"""

from __future__ import annotations

import logging

import torch

from slowvid.distributed import comm

from .base import Evaluator
from .classification import mean_average_precision

__all__ = ["MultiLabelEvaluator"]

logger = logging.getLogger(__name__)


class MultiLabelEvaluator(Evaluator):
    """Video-level mAP from view-level logits.

    Args:
        num_videos: videos in the split (``batch["video_index"]`` lies in ``[0, num_videos)``).
        num_classes: K.
        method: "max" (PySlowFast's Charades pooling) or "sum" over a video's views.
    """

    def __init__(self, num_videos: int, num_classes: int, method: str = "max"):
        if method not in ("max", "sum"):
            raise ValueError(f"TEST.ENSEMBLE_METHOD must be max or sum, got {method!r}")
        self.num_videos = num_videos
        self.num_classes = num_classes
        self.method = method
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def process(self, batch: dict, outputs: torch.Tensor) -> None:
        """Keep a batch's ``(video_index (B,), sigmoid scores (B, K), multi-hot labels (B, K))``."""
        probs = outputs.detach().float().sigmoid().cpu()
        self.parts.append((batch["video_index"].cpu(), probs, batch["label"].float().cpu()))

    def pooled(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gather every rank's views and pool them per video.

        Returns:
            ``(scores (V, K), labels (V, K), views seen (V,))`` over all videos.
        """
        fill = float("-inf") if self.method == "max" else 0.0
        scores = torch.full((self.num_videos, self.num_classes), fill, dtype=torch.float64)
        labels = torch.zeros(self.num_videos, self.num_classes)
        seen = torch.zeros(self.num_videos, dtype=torch.long)
        for parts in comm.all_gather_object(self.parts):
            for index, probs, target in parts:
                rows = index.view(-1, 1).expand(-1, self.num_classes)
                reduce = "amax" if self.method == "max" else "sum"
                scores.scatter_reduce_(0, rows, probs.double(), reduce=reduce)
                labels[index] = target
                seen.index_add_(0, index, torch.ones_like(index))
        return scores, labels, seen

    def finalize(self) -> dict:
        """``{"mAP": percent, "num_videos": evaluated, "num_missing": without a view}``."""
        scores, labels, seen = self.pooled()
        ok = seen > 0
        mean_ap, aps = mean_average_precision(scores[ok], labels[ok])
        num_valid = sum(ap == ap for ap in aps)  # nan != nan
        logger.info(
            "mAP %.2f%% over %d classes with positives, %d videos",
            100 * mean_ap,
            num_valid,
            int(ok.sum()),
        )
        return {
            "mAP": 100.0 * mean_ap,
            "num_videos": int(ok.sum()),
            "num_missing": int((~ok).sum()),
        }
