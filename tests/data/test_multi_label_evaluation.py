"""DATA.MULTI_LABEL picks a clip dataset's evaluator: mAP of the pooled sigmoid scores (checked
against scikit-learn) instead of top-k accuracy."""

import pytest
import torch
from sklearn.metrics import average_precision_score

from slowvid.config import load_config
from slowvid.data.datasets.clip_dataset import ClipDataset
from slowvid.evaluation import ClassificationEvaluator, MultiLabelEvaluator

_TINY = ["MODEL.NUM_CLASSES", "4", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "1"]


def _dataset(opts: list[str], labels) -> ClipDataset:
    kwargs = ClipDataset.from_config(load_config([], _TINY + opts), "test")
    return ClipDataset(paths=[f"v{i}.mp4" for i in range(len(labels))], labels=labels, **kwargs)


def test_multi_label_scores_videos_by_map():
    g = torch.Generator().manual_seed(0)
    labels = [
        torch.tensor(row, dtype=torch.float32)
        for row in [
            [1, 0, 0, 1],
            [0, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 0, 1, 1],
            [0, 0, 1, 0],
            [1, 0, 0, 0],
        ]
    ]
    dataset = _dataset(["DATA.MULTI_LABEL", "True", "MODEL.LOSS_FUNC", "bce_logit"], labels)
    evaluator = dataset.make_evaluator("", "test_0")
    assert isinstance(evaluator, MultiLabelEvaluator)
    # Two views of each video in two batches; the evaluator pools their sigmoid scores.
    logits = torch.randn(12, 4, generator=g)
    index = torch.arange(6).repeat_interleave(2)
    target = torch.stack(labels).repeat_interleave(2, dim=0)
    for rows in (slice(0, 7), slice(7, 12)):
        batch = {"video_index": index[rows], "label": target[rows]}
        evaluator.process(batch, logits[rows])
    results = evaluator.finalize()
    pooled = logits.sigmoid().view(6, 2, 4).sum(1)  # TEST.ENSEMBLE_METHOD sum
    expected = average_precision_score(torch.stack(labels).numpy(), pooled.numpy(), average="macro")
    assert results["mAP"] == pytest.approx(100 * expected)
    assert results["num_videos"] == 6 and "top1_acc" not in results


def test_single_label_scores_videos_by_accuracy():
    dataset = _dataset([], [0, 1, 2])
    evaluator = dataset.make_evaluator("", "test_0")
    assert isinstance(evaluator, ClassificationEvaluator)
    logits = torch.eye(4)[[0, 0, 1, 1, 3, 3]]  # videos 0 and 1 right, video 2 wrong
    evaluator.process(
        {
            "video_index": torch.tensor([0, 0, 1, 1, 2, 2]),
            "label": torch.tensor([0, 0, 1, 1, 2, 2]),
        },
        logits,
    )
    results = evaluator.finalize()
    assert results["top1_acc"] == pytest.approx(200 / 3) and "mAP" not in results


def test_multi_label_without_multi_hot_labels_is_refused():
    with pytest.raises(ValueError, match="DATA.MULTI_LABEL: ClipDataset has one class index"):
        _dataset(["DATA.MULTI_LABEL", "True", "MODEL.LOSS_FUNC", "bce_logit"], [0, 1])
