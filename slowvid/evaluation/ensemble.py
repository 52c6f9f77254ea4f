"""Multi-view testing: combine the predictions of many clips/crops into one per video.

Views may arrive in any order, on any process: "sum" accumulates in float64 and "max" is
exactly order-free, so gathering the views of all processes (or merging their ensembles with
:meth:`VideoEnsemble.merge`) gives the single-process accuracy. Videos that never received a
view (e.g. every clip failed to decode) are left out of the accuracy and reported as missing.

:class:`ClassificationEvaluator` is the evaluator of single-label clip datasets (Kinetics,
SSv2, UCF101, HMDB51): view ensembling, top-k, per-class accuracy and the confusion matrix.
"""

from __future__ import annotations

import torch

from slowvid.distributed import comm

from .base import Evaluator
from .classification import confusion_matrix, per_class_accuracy, render_confusion_matrix
from .meters import topk_correct

__all__ = [
    "ENSEMBLE_METHODS",
    "SCORES",
    "ClassificationEvaluator",
    "VideoEnsemble",
    "class_metrics",
]

# How view logits become the scores an ensemble pools (MODEL.HEAD_ACT; "none" pools the
# logits themselves).
SCORES = ("softmax", "sigmoid", "none")

# Values accepted by ``TEST.ENSEMBLE_METHOD``.
ENSEMBLE_METHODS = ("sum", "max")


class VideoEnsemble:
    """Accumulates per-view predictions into per-video predictions.

    Attributes:
        video_preds (Tensor): (num_videos, num_classes) float64 combined scores; 0 for "sum"
            and -inf for "max" where no view has arrived.
        video_labels (Tensor): (num_videos,) int64 labels; -1 where no view has arrived.
        num_views_seen (Tensor): (num_videos,) int64 views received per video.
    """

    def __init__(self, num_videos: int, num_classes: int, method: str = "sum"):
        """
        Args:
            num_videos (int): videos in the test split (video indices are 0..num_videos-1).
            num_classes (int): number of classes.
            method (str): "sum" adds view scores, "max" keeps the per-class maximum.
        """
        if method not in ENSEMBLE_METHODS:
            raise ValueError(
                f"Unknown TEST.ENSEMBLE_METHOD {method!r}; "
                f"valid choices: {', '.join(ENSEMBLE_METHODS)}"
            )
        self.num_videos = num_videos
        self.num_classes = num_classes
        self.method = method
        self.reset()

    def reset(self) -> None:
        """Forget every view."""
        fill = 0.0 if self.method == "sum" else float("-inf")
        self.video_preds = torch.full(
            (self.num_videos, self.num_classes), fill, dtype=torch.float64
        )
        self.video_labels = torch.full((self.num_videos,), -1, dtype=torch.int64)
        self.num_views_seen = torch.zeros(self.num_videos, dtype=torch.int64)

    def update(self, video_index: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch of views.

        Args:
            video_index (Tensor): (B,) int64 index of the video each view belongs to; repeats
                within a batch are fine.
            probs (Tensor): (B, num_classes) scores of each view (probabilities or logits).
            labels (Tensor): (B,) int64 label of each view's video.

        Raises:
            ValueError: on bad shapes, an out-of-range index, or a video given two labels.
        """
        video_index = video_index.detach().cpu().long().view(-1)
        probs = probs.detach().cpu().to(torch.float64)
        labels = labels.detach().cpu().long().view(-1)
        batch = video_index.numel()
        if probs.shape != (batch, self.num_classes) or labels.numel() != batch:
            raise ValueError(
                f"VideoEnsemble.update: expected video_index ({batch},), probs ({batch}, "
                f"{self.num_classes}) and labels ({batch},), got {tuple(probs.shape)} probs and "
                f"{labels.numel()} labels"
            )
        if batch == 0:
            return
        if video_index.min() < 0 or video_index.max() >= self.num_videos:
            bad = video_index[(video_index < 0) | (video_index >= self.num_videos)].tolist()
            raise ValueError(f"Video indices {bad} are outside [0, {self.num_videos})")
        self._set_labels(video_index, labels)
        if self.method == "sum":
            self.video_preds.index_add_(0, video_index, probs)
        else:
            rows = video_index.view(-1, 1).expand(-1, self.num_classes)
            self.video_preds.scatter_reduce_(0, rows, probs, reduce="amax", include_self=True)
        self.num_views_seen.index_add_(0, video_index, torch.ones_like(video_index))

    def _set_labels(self, video_index: torch.Tensor, labels: torch.Tensor) -> None:
        # A video with two different labels means the index does not identify the video
        # (e.g. a sampler that reorders without carrying the index) -- fail loudly.
        known = self.video_labels[video_index]
        merged = self.video_labels.clone()
        merged[video_index] = labels
        conflict = ((known >= 0) & (known != labels)) | (merged[video_index] != labels)
        if conflict.any():
            videos = sorted(set(video_index[conflict].tolist()))
            raise ValueError(f"Videos {videos} received views with different labels")
        self.video_labels = merged

    def merge(self, other: VideoEnsemble) -> None:
        """Fold in the views another ensemble (e.g. another process's) has seen."""
        if (other.num_videos, other.num_classes, other.method) != (
            self.num_videos,
            self.num_classes,
            self.method,
        ):
            raise ValueError("VideoEnsemble.merge: ensembles differ in size or method")
        seen = other.num_views_seen > 0
        if ((self.video_labels >= 0) & seen & (self.video_labels != other.video_labels)).any():
            raise ValueError("VideoEnsemble.merge: the ensembles disagree on some labels")
        if self.method == "sum":
            self.video_preds += other.video_preds
        else:
            self.video_preds = torch.maximum(self.video_preds, other.video_preds)
        self.video_labels = torch.where(seen, other.video_labels, self.video_labels)
        self.num_views_seen += other.num_views_seen

    @property
    def missing_videos(self) -> list[int]:
        """Indices of videos that received no view."""
        return (self.num_views_seen == 0).nonzero().view(-1).tolist()

    def finalize(self, ks: tuple[int, ...] = (1, 5)) -> dict:
        """Accuracy over the videos that received at least one view.

        Args:
            ks (tuple[int, ...]): the top-k values to report (clipped to num_classes).

        Returns:
            dict: ``top{k}_acc`` (percent; nan when no video was evaluated) for each k,
            ``num_videos`` (evaluated), ``num_missing`` and ``missing_videos`` (indices).
        """
        seen = self.num_views_seen > 0
        num_seen = int(seen.sum())
        correct = topk_correct(self.video_preds[seen], self.video_labels[seen], ks)
        stats: dict = {
            f"top{k}_acc": (100.0 * c / num_seen if num_seen else float("nan"))
            for k, c in zip(ks, correct)
        }
        missing = self.missing_videos
        stats.update(num_videos=num_seen, num_missing=len(missing), missing_videos=missing)
        return stats


def class_metrics(ensemble: VideoEnsemble) -> tuple[dict, torch.Tensor]:
    """Per-class accuracy of the ensembled videos and their confusion matrix.

    Returns:
        ``({"mean_class_acc": percent, "per_class_acc": list (nan for absent classes)},
        confusion matrix (K, K), row = true class)``.
    """
    seen = ensemble.num_views_seen > 0
    preds = ensemble.video_preds[seen].argmax(dim=1)
    cm = confusion_matrix(preds, ensemble.video_labels[seen], ensemble.num_classes)
    acc = per_class_accuracy(cm)
    present = acc[~acc.isnan()]
    mean = float(present.mean()) if present.numel() else float("nan")
    return {"mean_class_acc": mean, "per_class_acc": acc.tolist()}, cm


class ClassificationEvaluator(Evaluator):
    """Single-label accuracy of view-level logits: scores pooled per video over its views
    (every view once, whatever rank read it), then top-1/top-5 and per-class accuracy.

    Args:
        num_videos: videos in the split (``batch["video_index"]`` lies in ``[0, num_videos)``).
        num_classes: K.
        method: "sum" or "max" pooling of a video's view scores (TEST.ENSEMBLE_METHOD).
        scores: "softmax" of the logits, "sigmoid" (a model trained with a per-class sigmoid
            loss) or "none" (the logits themselves, PySlowFast's MODEL.HEAD_ACT "none");
            per-class accuracy and the confusion matrix come with all but "sigmoid".
    """

    def __init__(
        self, num_videos: int, num_classes: int, method: str = "sum", scores: str = "softmax"
    ):
        if scores not in SCORES:
            raise ValueError(
                f"MODEL.HEAD_ACT {scores!r} is not one of {list(SCORES)} (the view scores "
                "pooled per video)"
            )
        self.ensemble = VideoEnsemble(num_videos, num_classes, method)
        self.scores = scores
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._confusion: torch.Tensor | None = None

    def process(self, batch: dict, outputs: torch.Tensor) -> None:
        """Keep ``(video_index (B,), view scores (B, K), labels (B,))``."""
        logits = outputs.detach().float()
        if self.scores == "softmax":
            probs = logits.softmax(dim=-1)
        else:
            probs = logits.sigmoid() if self.scores == "sigmoid" else logits
        self.parts.append((batch["video_index"].cpu(), probs.cpu(), batch["label"].cpu()))

    def finalize(self) -> dict:
        """``top1_acc``, ``top5_acc``, ``num_videos``, ``num_missing``, ``missing_videos`` and,
        but for sigmoid scores, ``mean_class_acc`` and ``per_class_acc``."""
        self.ensemble.reset()
        for parts in comm.all_gather_object(self.parts):
            for index, probs, labels in parts:
                self.ensemble.update(index, probs, labels)
        results = self.ensemble.finalize()
        self._confusion = None
        if self.scores != "sigmoid":
            per_class, self._confusion = class_metrics(self.ensemble)
            results.update(per_class)
        return results

    def images(self) -> dict[str, torch.Tensor]:
        if self._confusion is None:
            return {}
        return {"confusion_matrix": render_confusion_matrix(self._confusion)}

    def predictions(self) -> dict[str, torch.Tensor]:
        return {
            "video_preds": self.ensemble.video_preds,
            "video_labels": self.ensemble.video_labels,
            "num_views": self.ensemble.num_views_seen,
        }
