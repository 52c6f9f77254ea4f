"""Per-class metrics without sklearn or matplotlib: average precision and mAP for multi-label
sets (Charades), and the confusion matrix, per-class accuracy and a rendered confusion-matrix
image for single-label sets.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "average_precision",
    "confusion_matrix",
    "mean_average_precision",
    "per_class_accuracy",
    "render_confusion_matrix",
]


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Area under the precision-recall steps, as sklearn's ``average_precision_score``.

    ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds, so tied scores form one
    step (the way PySlowFast scores Charades, through sklearn).

    Args:
        scores: ``(N,)`` scores of one class.
        targets: ``(N,)`` 0/1 ground truth.

    Returns:
        The AP, or nan when no target is positive.
    """
    scores = scores.double().flatten()
    targets = (targets.flatten() > 0).double()
    num_pos = targets.sum()
    if num_pos == 0:
        return float("nan")
    order = torch.argsort(scores, descending=True, stable=True)
    s, t = scores[order], targets[order]
    # The last position of each run of equal scores is where a threshold takes effect.
    ends = torch.nonzero(torch.diff(s, append=s.new_tensor([-np.inf])) != 0).flatten()
    tp = torch.cumsum(t, 0)[ends]
    precision = tp / (ends + 1).double()
    recall = tp / num_pos
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * precision).sum())


def mean_average_precision(
    scores: torch.Tensor, targets: torch.Tensor
) -> tuple[float, list[float]]:
    """Mean AP over the classes that have at least one positive (PySlowFast's Charades mAP).

    Args:
        scores: ``(N, K)`` per-video scores.
        targets: ``(N, K)`` multi-hot ground truth.

    Returns:
        ``(mAP, per-class AP)``; classes without positives have AP nan and are left out of
        the mean (mAP is nan when no class has a positive).
    """
    if scores.shape != targets.shape or scores.dim() != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and targets {tuple(targets.shape)}")
    aps = [average_precision(scores[:, k], targets[:, k]) for k in range(scores.shape[1])]
    valid = [ap for ap in aps if not np.isnan(ap)]
    return (float(np.mean(valid)) if valid else float("nan")), aps


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(K, K)`` int64 counts, row = true class, column = predicted class."""
    index = labels.long().flatten() * num_classes + preds.long().flatten()
    counts = torch.bincount(index, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class from a confusion matrix, in percent (nan for absent classes)."""
    totals = cm.sum(dim=1).double()
    acc = 100.0 * cm.diagonal().double() / totals.clamp_min(1)
    return torch.where(totals > 0, acc, torch.full_like(acc, float("nan")))


def render_confusion_matrix(cm: torch.Tensor, size: int = 512) -> torch.Tensor:
    """The row-normalised confusion matrix as an RGB heat map for TensorBoard.

    Each class gets a square cell of ``max(1, size // K)`` pixels; colours follow opencv's
    viridis map (dark = 0, yellow = the whole row); a perfect classifier is a bright diagonal.

    Args:
        cm: ``(K, K)`` counts.
        size: approximate image side in pixels.

    Returns:
        uint8 ``(3, H, W)`` with ``H = W = K * cell``.
    """
    import cv2

    rows = cm.double().sum(dim=1, keepdim=True).clamp_min(1)
    norm = (cm.double() / rows).numpy()
    cell = max(1, size // cm.shape[0])
    gray = np.kron(np.round(norm * 255).astype(np.uint8), np.ones((cell, cell), np.uint8))
    bgr = cv2.applyColorMap(gray, cv2.COLORMAP_VIRIDIS)
    return torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).contiguous()
