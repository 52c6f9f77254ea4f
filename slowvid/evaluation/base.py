"""The evaluator interface every task's scoring keeps (detectron2's ``DatasetEvaluator`` idea).

One inference loop (``slowvid.engine.evaluator.run_dataset_evaluator``) drives every task: it
runs the model on each batch of a dataset's loader and calls ``process(batch, outputs)``, then
``finalize()``. Which evaluator scores a split is the dataset's choice (its
``make_evaluator``), so the loop never looks at loss names or label shapes.

::

    for batch in loader (this rank's share):   evaluator.process(batch, model(inputs, *extra))
    evaluator.finalize()   gathers every rank's share, returns the metrics (on every rank)
    evaluator.images()     pictures for TensorBoard, after finalize
    evaluator.predictions()  per-video scores and labels to save (TEST.SAVE_RESULTS_PATH)
"""

from __future__ import annotations

import torch

__all__ = ["Evaluator"]


class Evaluator:
    """Accumulates a split's outputs on each rank; :meth:`finalize` scores them over all ranks.

    Subclasses write :meth:`process` and :meth:`finalize`; the other two have defaults.
    """

    def process(self, batch: dict, outputs: torch.Tensor) -> None:
        """Keep what scoring needs from one batch and the model's raw outputs (logits) on it."""
        raise NotImplementedError(f"{type(self).__name__} does not define process")

    def finalize(self) -> dict:
        """Gather every rank's batches and return the metrics (numbers, and lists for detail).

        A collective: every rank calls it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define finalize")

    def images(self) -> dict[str, torch.Tensor]:
        """``(3, H, W)`` uint8 pictures of the last :meth:`finalize` for TensorBoard, by name."""
        return {}

    def predictions(self) -> dict[str, torch.Tensor] | None:
        """Per-video scores and labels of the last :meth:`finalize`, to save; None when the
        task has none to save."""
        return None
