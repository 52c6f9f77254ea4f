"""Evaluation loops: multi-view classification (every view once, gathered over ranks,
ensembled), and the loop for datasets that bring their own evaluator (AVA detection)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from slowvid.distributed import comm
from slowvid.evaluation import (
    VideoEnsemble,
    confusion_matrix,
    format_eta,
    per_class_accuracy,
)

from .inputs import PixelNorm, to_device

logger = logging.getLogger(__name__)


@torch.no_grad()
def predict_views(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    multi_label: bool = False,
    log_period: int = 10,
    pixel_norm: PixelNorm | None = None,
    on_batch: Callable | None = None,
) -> dict:
    """Run ``model`` on this rank's share of the views.

    Args:
        pixel_norm: normalises uint8 clips on ``device`` (needed when the loader sends them).
        on_batch: called as ``on_batch(inputs, probs, labels, video_index)`` after each batch
            (e.g. ``TestGalleries.update``).

    Returns:
        dict with ``video_index`` LongTensor(N), ``probs`` FloatTensor(N, K) (softmax, or
        sigmoid when ``multi_label``), ``labels`` Tensor(N) and ``failed`` list of paths.
    """
    model.eval()
    video_index, probs, labels, failed = [], [], [], []
    start, num_iters = time.perf_counter(), len(loader)
    for it, batch in enumerate(loader):
        failed.extend(batch["failed"])
        if batch["inputs"] is None:
            continue
        inputs = to_device(batch["inputs"], device, pixel_norm)
        logits = model(inputs).float()
        probs.append((logits.sigmoid() if multi_label else logits.softmax(dim=-1)).cpu())
        if on_batch is not None:
            on_batch(inputs, probs[-1], batch["label"], batch["video_index"])
        video_index.append(batch["video_index"])
        labels.append(batch["label"])
        if (it + 1) % log_period == 0 or it + 1 == num_iters:
            elapsed = time.perf_counter() - start
            eta = elapsed / (it + 1) * (num_iters - it - 1)
            logger.info("eval iter %d/%d  eta %s", it + 1, num_iters, format_eta(eta))
    if not probs:
        return {
            "video_index": torch.zeros(0, dtype=torch.long),
            "probs": None,
            "labels": torch.zeros(0, dtype=torch.long),
            "failed": failed,
        }
    return {
        "video_index": torch.cat(video_index),
        "probs": torch.cat(probs),
        "labels": torch.cat(labels),
        "failed": failed,
    }


def gather_and_ensemble(
    views: dict, *, num_videos: int, num_classes: int, method: str
) -> tuple[dict, VideoEnsemble]:
    """Gather every rank's views and ensemble them per video (on every rank).

    Views are sharded without padding, so each one arrives exactly once, and the ensemble
    does not depend on arrival order: N processes give the same numbers as one.
    """
    ensemble = VideoEnsemble(num_videos, num_classes, method=method)
    failed: list[str] = []
    for part in comm.all_gather_object(views):
        failed.extend(part["failed"])
        if part["probs"] is not None:
            ensemble.update(part["video_index"], part["probs"], part["labels"])
    results = ensemble.finalize()
    results["failed_views"] = len(failed)
    results["failed_paths"] = sorted(set(failed))
    return results, ensemble


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


def format_per_class(names: list[str], per_class_acc: list[float], most: int = 40) -> str:
    """``"name acc%"`` per class present in the split, the weakest first; past ``most``
    classes only the ``most`` weakest (a 400-class line helps nobody)."""
    present = sorted((acc, i) for i, acc in enumerate(per_class_acc) if acc == acc)
    shown = [f"{names[i]} {acc:.1f}%" for acc, i in present[:most]]
    if len(present) > most:
        shown.append(f"... ({len(present) - most} more classes)")
    return ", ".join(shown)


@torch.no_grad()
def run_dataset_evaluator(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    evaluator,
    log_period: int = 10,
    pixel_norm: PixelNorm | None = None,
    on_batch: Callable | None = None,
) -> dict:
    """Feed ``model(inputs, *extra_inputs)`` of every batch to ``evaluator``.

    Args:
        evaluator: has ``process(batch, outputs)`` and ``finalize() -> dict`` (which gathers
            over ranks itself), as made by the dataset's ``make_evaluator``.
        pixel_norm: normalises uint8 clips on ``device`` (needed when the loader sends them).
        on_batch: called as ``on_batch(inputs, sigmoid scores, labels, video_index)`` after
            each batch (multi-label sets).

    Returns:
        ``finalize()``'s metrics plus ``failed_views`` and ``failed_paths`` over all ranks.
    """
    model.eval()
    failed: list[str] = []
    start, num_iters = time.perf_counter(), len(loader)
    for it, batch in enumerate(loader):
        failed.extend(batch["failed"])
        if batch["inputs"] is not None:
            extra = to_device(batch.get("extra_inputs", []), device)
            inputs = to_device(batch["inputs"], device, pixel_norm)
            outputs = model(inputs, *extra).float()
            evaluator.process(batch, outputs)
            if on_batch is not None:
                on_batch(inputs, outputs.sigmoid(), batch["label"], batch["video_index"])
        if (it + 1) % log_period == 0 or it + 1 == num_iters:
            eta = (time.perf_counter() - start) / (it + 1) * (num_iters - it - 1)
            logger.info("eval iter %d/%d  eta %s", it + 1, num_iters, format_eta(eta))
    results = evaluator.finalize()
    failed = [p for part in comm.all_gather_object(failed) for p in part]
    results["failed_views"] = len(failed)
    results["failed_paths"] = sorted(set(failed))
    return results
