"""Verb / noun / action accuracy of MultiTaskEvaluator on hand-built predictions."""

import pytest
import torch

from slowvid.evaluation import MultiTaskEvaluator, action_topk_correct

TASKS = (6, 8)


def _logits(verb_rank: list[int], noun_rank: list[int]) -> torch.Tensor:
    """Concatenated logits whose order of classes, best first, starts with the given lists."""
    out = torch.zeros(sum(TASKS))
    for offset, rank in ((0, verb_rank), (TASKS[0], noun_rank)):
        for place, c in enumerate(rank):
            out[offset + c] = 10.0 - 2 * place
    return out


def test_verb_noun_action_accuracy():
    labels = torch.tensor([[1, 3], [2, 5], [0, 7], [4, 4]])
    views = [
        _logits([1], [3]),  # both right
        _logits([2], [0, 5]),  # verb right, noun second
        _logits([3, 0], [7]),  # verb second, noun right
        _logits([5, 1, 2, 3, 0], [0, 1, 2, 3, 5, 6]),  # both wrong, outside every top-5
    ]
    ev = MultiTaskEvaluator(4, TASKS, ("verb", "noun"))
    ev.process({"video_index": torch.arange(4), "label": labels}, torch.stack(views))
    r = ev.finalize()
    assert r["verb_top1_acc"] == 50.0 and r["noun_top1_acc"] == 50.0
    assert r["verb_top5_acc"] == 75.0 and r["noun_top5_acc"] == 75.0
    assert r["action_top1_acc"] == 25.0
    # pairs by product of softmax scores: (2, 0) then (2, 5) -> segment 1's action at rank 2;
    # segment 2's (0, 7) also ranks second.
    assert r["action_top5_acc"] == 75.0
    assert r["num_videos"] == 4 and r["num_missing"] == 0


def test_views_are_ensembled_per_segment():
    labels = torch.tensor([[1, 3], [1, 3], [2, 2]])
    # segment 0: a weak wrong view and a confident right one; segment 1: verb wrong;
    # segment 2: no view at all
    logits = torch.stack([_logits([0], [0]) * 0.1, _logits([1], [3]), _logits([0], [2])])
    ev = MultiTaskEvaluator(3, TASKS, ("verb", "noun"), method="sum")
    ev.process({"video_index": torch.tensor([0, 0, 1]), "label": labels}, logits)
    r = ev.finalize()
    assert r["num_videos"] == 2 and r["num_missing"] == 1
    assert r["verb_top1_acc"] == 50.0 and r["noun_top1_acc"] == 100.0
    assert r["action_top1_acc"] == 50.0


def test_action_topk_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(10, 4, generator=g), torch.rand(10, 5, generator=g)
    labels = torch.stack([torch.randint(0, 4, (10,), generator=g), torch.randint(0, 5, (10,))], 1)
    got = action_topk_correct(a, b, labels, (1, 3), chunk=3)
    for k, count in zip((1, 3), got):
        hits = 0
        for i in range(10):
            pairs = sorted((a[i, x] * b[i, y], x, y) for x in range(4) for y in range(5))[::-1]
            hits += (int(labels[i, 0]), int(labels[i, 1])) in [(x, y) for _, x, y in pairs[:k]]
        assert count == hits


def test_task_names_must_match_tasks():
    with pytest.raises(ValueError, match="task names"):
        MultiTaskEvaluator(2, TASKS, ("verb",))
