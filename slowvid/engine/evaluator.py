"""The one inference loop: every batch of a dataset's loader through the model into the
dataset's evaluator (``make_evaluator``), whatever the task: single-label with view ensembling,
multi-label, multi-task, AVA detection. The loop never looks at loss names or label shapes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from slowvid.distributed import comm
from slowvid.evaluation import Evaluator, class_metrics, format_eta

from .inputs import PixelNorm, to_device

__all__ = ["class_metrics", "format_per_class", "run_dataset_evaluator"]

logger = logging.getLogger(__name__)


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
    evaluator: Evaluator,
    log_period: int = 10,
    pixel_norm: PixelNorm | None = None,
    on_batch: Callable | None = None,
) -> dict:
    """Feed ``model(inputs, *extra_inputs)`` of every batch of this rank's share to
    ``evaluator``, then score all ranks' shares.

    Args:
        evaluator: has ``process(batch, outputs)`` and ``finalize() -> dict`` (which gathers
            over ranks itself), as made by the dataset's ``make_evaluator``.
        pixel_norm: normalises uint8 clips on ``device`` (needed when the loader sends them).
        on_batch: called as ``on_batch(inputs, outputs, labels, video_index)`` after each
            batch, with the model's raw outputs (e.g. TensorBoard galleries).

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
                on_batch(inputs, outputs, batch["label"], batch["video_index"])
        if (it + 1) % log_period == 0 or it + 1 == num_iters:
            eta = (time.perf_counter() - start) / (it + 1) * (num_iters - it - 1)
            logger.info("eval iter %d/%d  eta %s", it + 1, num_iters, format_eta(eta))
    results = evaluator.finalize()
    failed = [p for part in comm.all_gather_object(failed) for p in part]
    results["failed_views"] = len(failed)
    results["failed_paths"] = sorted(set(failed))
    return results
