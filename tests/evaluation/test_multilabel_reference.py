"""Multi-label AP / mAP against ``sklearn.metrics.average_precision_score`` (the function
PySlowFast scores Charades with) on random scores with ties, classes without positives and
several views per video."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from slowvid.evaluation import MultiLabelEvaluator, average_precision, mean_average_precision


def _sklearn_map(scores: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    aps = [
        average_precision_score(labels[:, k], scores[:, k]) if labels[:, k].any() else math.nan
        for k in range(labels.shape[1])
    ]
    return float(np.nanmean(aps)), aps


@pytest.mark.parametrize("seed", range(4))
def test_average_precision_equals_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    for n, levels in ((7, 3), (40, 5), (200, 11)):
        # Few score levels: most thresholds hold several videos, positives and negatives mixed.
        scores = rng.integers(0, levels, n) / levels
        labels = rng.random(n) < 0.3
        labels[rng.integers(n)] = True
        ours = average_precision(torch.from_numpy(scores), torch.from_numpy(labels))
        assert ours == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_ties_decide_the_value():
    # Ranked one by one, the positive could come first (AP 1) or last (AP 1/2); tied, both
    # sit at one threshold: P = 1/2 at R = 1.
    for labels in ([1, 0], [0, 1]):
        scores, target = torch.tensor([0.5, 0.5]), torch.tensor(labels)
        assert average_precision(scores, target) == 0.5
        assert average_precision_score(labels, [0.5, 0.5]) == 0.5


def test_mean_average_precision_equals_sklearn():
    rng = np.random.default_rng(7)
    scores = np.round(rng.random((60, 9)), 1)
    labels = rng.random((60, 9)) < 0.2
    labels[:, [2, 6]] = False  # classes without positives: NaN, left out of the mean
    expected_map, expected = _sklearn_map(scores, labels)
    mean_ap, aps = mean_average_precision(torch.from_numpy(scores), torch.from_numpy(labels))
    assert mean_ap == pytest.approx(expected_map, abs=1e-12)
    assert np.allclose(aps, expected, atol=1e-12, equal_nan=True)
    assert math.isnan(aps[2]) and math.isnan(aps[6])


@pytest.mark.parametrize("method, pool", [("max", np.max), ("sum", np.sum)])
def test_multilabel_evaluator_pools_views_then_equals_sklearn(method, pool):
    rng = np.random.default_rng(3)
    num_videos, num_classes, views = 30, 6, 3
    logits = np.round(rng.normal(0, 2, (views, num_videos, num_classes)), 1)
    labels = rng.random((num_videos, num_classes)) < 0.3
    labels[:, 4] = False
    ev = MultiLabelEvaluator(num_videos=num_videos, num_classes=num_classes, method=method)
    order = rng.permutation(views * num_videos)  # views arrive shuffled, in batches of 8
    for batch in np.array_split(order, len(order) // 8):
        view, video = batch // num_videos, batch % num_videos
        ev.process(
            {"video_index": torch.from_numpy(video), "label": torch.from_numpy(labels[video])},
            torch.from_numpy(logits[view, video]),
        )
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected_map, _ = _sklearn_map(pool(probs, axis=0), labels)
    result = ev.finalize()
    assert result["mAP"] == pytest.approx(100 * expected_map, abs=1e-9)
    assert result["num_videos"] == num_videos and result["num_missing"] == 0
