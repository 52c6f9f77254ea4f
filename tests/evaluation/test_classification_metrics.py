"""AP / mAP, confusion matrix, per-class accuracy, the rendered matrix and the multi-label
evaluator, against hand-computed values."""

import math

import pytest
import torch

from slowvid.engine.evaluator import class_metrics
from slowvid.evaluation import (
    MultiLabelEvaluator,
    VideoEnsemble,
    average_precision,
    confusion_matrix,
    mean_average_precision,
    per_class_accuracy,
    render_confusion_matrix,
)


def test_average_precision_by_hand():
    # Thresholds 0.9, 0.8, 0.7: (P, R) = (1, 1/2), (1/2, 1/2), (2/3, 1) -> 1/2 + 0 + 1/3.
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert average_precision(scores, torch.tensor([1, 0, 1, 0])) == pytest.approx(5 / 6)
    assert average_precision(scores, torch.tensor([1, 1, 0, 0])) == pytest.approx(1.0)
    # Tied scores form one threshold: P = 1/2 at R = 1.
    assert average_precision(torch.tensor([0.5, 0.5]), torch.tensor([0, 1])) == 0.5
    assert math.isnan(average_precision(scores, torch.zeros(4)))


def test_map_skips_classes_without_positives():
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.8, 0.7, 0.2], [0.1, 0.2, 0.9]])
    targets = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    mean_ap, aps = mean_average_precision(scores, targets)
    # class 0: (1, 1/2), (1/2, 1/2), (2/3, 1) -> 5/6; class 1: rank 1 -> 1; class 2: no positive.
    assert aps[0] == pytest.approx(5 / 6) and aps[1] == pytest.approx(1.0)
    assert math.isnan(aps[2])
    assert mean_ap == pytest.approx((5 / 6 + 1) / 2)


def test_confusion_matrix_and_per_class_accuracy():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    preds = torch.tensor([0, 1, 1, 1, 0, 2])
    cm = confusion_matrix(preds, labels, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    acc = per_class_accuracy(cm)
    assert acc[:3].tolist() == pytest.approx([50.0, 200 / 3, 100.0])
    assert math.isnan(acc[3])


def test_class_metrics_from_ensemble():
    ens = VideoEnsemble(num_videos=3, num_classes=2)
    ens.update(torch.tensor([0, 1]), torch.tensor([[0.9, 0.1], [0.8, 0.2]]), torch.tensor([0, 1]))
    metrics, cm = class_metrics(ens)  # video 2 never seen: left out
    assert cm.tolist() == [[1, 0], [1, 0]]
    assert metrics["per_class_acc"] == [100.0, 0.0] and metrics["mean_class_acc"] == 50.0


def test_render_confusion_matrix():
    cm = torch.tensor([[3, 0], [1, 1]])
    image = render_confusion_matrix(cm, size=8)
    assert image.shape == (3, 8, 8) and image.dtype == torch.uint8
    # A full row is the bright end of the map, an empty cell the dark end.
    assert image[:, 0, 0].sum() > image[:, 0, 7].sum()
    assert torch.equal(image[:, 4, 0], image[:, 4, 4])  # 1/2 and 1/2 look the same


def test_multilabel_evaluator_max_pools_views():
    ev = MultiLabelEvaluator(num_videos=2, num_classes=2, method="max")
    logit = torch.logit
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    ev.process(
        {"video_index": torch.tensor([0, 1]), "label": labels},
        logit(torch.tensor([[0.2, 0.6], [0.3, 0.4]])),
    )
    ev.process(
        {"video_index": torch.tensor([0, 1]), "label": labels},
        logit(torch.tensor([[0.9, 0.1], [0.3, 0.5]])),
    )
    scores, _, seen = ev.pooled()
    assert torch.allclose(scores, torch.tensor([[0.9, 0.6], [0.3, 0.5]], dtype=torch.float64))
    assert seen.tolist() == [2, 2]
    # class 0: video 0 ranks first -> 1; class 1: video 0 (0.6) beats video 1 (0.5) -> 1/2.
    assert ev.finalize()["mAP"] == pytest.approx(75.0)
