"""The evaluator the Lightning module feeds: the dataset's own (``make_evaluator`` of the
VideoDataset protocol), as ``slowvid.engine.evaluate`` uses it, so both loops score alike.

A plain dataset outside the protocol (items of single clips with class labels) is scored by
:class:`~slowvid.evaluation.ClassificationEvaluator`, views pooled per video.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from slowvid.data.datasets import VideoDataset
from slowvid.data.shards import StreamingDataset
from slowvid.evaluation import ClassificationEvaluator, Evaluator

__all__ = ["ViewEnsembleEvaluator", "make_evaluator"]


class ViewEnsembleEvaluator(ClassificationEvaluator):
    """:class:`ClassificationEvaluator` with keyword arguments: ``multi_label`` pools sigmoid
    scores (and reports no per-class accuracy), otherwise softmax ones."""

    def __init__(
        self, *, num_videos: int, num_classes: int, method: str = "sum", multi_label: bool = False
    ):
        scores = "sigmoid" if multi_label else "softmax"
        super().__init__(num_videos, num_classes, method, scores)


def make_evaluator(
    dataset: Dataset,
    *,
    num_classes: int,
    method: str,
    multi_label: bool,
    output_dir: str,
    tag: str,
) -> Evaluator:
    """The dataset's evaluator; for a plain dataset the view ensemble over ``num_classes``."""
    if isinstance(dataset, VideoDataset | StreamingDataset):
        return dataset.make_evaluator(output_dir, tag)
    return ViewEnsembleEvaluator(
        num_videos=dataset.num_videos,
        num_classes=num_classes,
        method=method,
        multi_label=multi_label,
    )
