import pytest
import torch

from slowvid.evaluation import VideoEnsemble


def make_views(num_videos=12, views=5, num_classes=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    index = torch.arange(num_videos).repeat_interleave(views)
    probs = torch.rand(index.numel(), num_classes, generator=g).softmax(dim=1)
    labels_per_video = torch.randint(num_classes, (num_videos,), generator=g)
    return index, probs, labels_per_video[index]


def feed(ens, index, probs, labels, order, batch):
    for start in range(0, len(order), batch):
        sel = order[start : start + batch]
        ens.update(index[sel], probs[sel], labels[sel])


@pytest.mark.parametrize("method", ["sum", "max"])
def test_order_and_batching_do_not_change_the_result(method):
    index, probs, labels = make_views()
    ref = VideoEnsemble(12, 7, method)
    feed(ref, index, probs, labels, torch.arange(len(index)), batch=8)
    for seed in range(3):
        order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
        other = VideoEnsemble(12, 7, method)
        feed(other, index, probs, labels, order, batch=3 + seed)
        assert other.finalize() == ref.finalize()
        assert torch.allclose(other.video_preds, ref.video_preds, rtol=0, atol=1e-12)
        assert torch.equal(other.num_views_seen, ref.num_views_seen)


@pytest.mark.parametrize("method", ["sum", "max"])
def test_merging_per_process_ensembles_equals_one_process(method):
    index, probs, labels = make_views()
    whole = VideoEnsemble(12, 7, method)
    whole.update(index, probs, labels)
    # Two "ranks" see interleaved views, as a DistributedSampler would give them.
    rank0, rank1 = VideoEnsemble(12, 7, method), VideoEnsemble(12, 7, method)
    rank0.update(index[0::2], probs[0::2], labels[0::2])
    rank1.update(index[1::2], probs[1::2], labels[1::2])
    rank0.merge(rank1)
    assert rank0.finalize() == whole.finalize()
    assert torch.allclose(rank0.video_preds, whole.video_preds, rtol=0, atol=1e-12)


def test_sum_and_max_differ_as_expected():
    # Video 0, label 1: class 0 has one confident view, class 1 is steadily second.
    index = torch.tensor([0, 0, 0])
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.2, 0.5, 0.3]])
    labels = torch.tensor([1, 1, 1])
    ens_sum, ens_max = VideoEnsemble(1, 3, "sum"), VideoEnsemble(1, 3, "max")
    ens_sum.update(index, probs, labels)
    ens_max.update(index, probs, labels)
    assert torch.allclose(ens_sum.video_preds, torch.tensor([[1.3, 1.1, 0.6]], dtype=torch.float64))
    assert torch.allclose(ens_max.video_preds, torch.tensor([[0.9, 0.5, 0.3]], dtype=torch.float64))
    assert ens_sum.finalize()["top1_acc"] == 0.0
    assert ens_max.finalize()["top1_acc"] == 0.0
    # A third view tips the sum but not the max.
    more = (torch.tensor([0]), torch.tensor([[0.0, 0.6, 0.4]]), torch.tensor([1]))
    ens_sum.update(*more)
    ens_max.update(*more)
    assert ens_sum.finalize()["top1_acc"] == 100.0
    assert ens_max.finalize()["top1_acc"] == 0.0


def test_missing_videos_are_reported_and_excluded():
    ens = VideoEnsemble(num_videos=5, num_classes=3)
    # Videos 1 and 3 never arrive (e.g. every clip failed to decode).
    ens.update(
        torch.tensor([0, 2, 4, 0]),
        torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]]),
        torch.tensor([0, 2, 2, 0]),
    )
    assert ens.num_views_seen.tolist() == [2, 0, 1, 0, 1]
    stats = ens.finalize()
    assert stats["num_videos"] == 3
    assert stats["num_missing"] == 2 and stats["missing_videos"] == [1, 3]
    assert stats["top1_acc"] == pytest.approx(200 / 3)
    assert stats["top5_acc"] == 100.0  # clipped to top-3 of 3 classes


def test_conflicting_labels_raise():
    ens = VideoEnsemble(2, 3)
    ens.update(torch.tensor([0]), torch.rand(1, 3), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"\[0\]"):
        ens.update(torch.tensor([0]), torch.rand(1, 3), torch.tensor([2]))
    with pytest.raises(ValueError, match=r"\[1\]"):
        ens.update(torch.tensor([1, 1]), torch.rand(2, 3), torch.tensor([0, 2]))


def test_bad_inputs_raise():
    ens = VideoEnsemble(2, 3)
    with pytest.raises(ValueError, match="outside"):
        ens.update(torch.tensor([2]), torch.rand(1, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="probs"):
        ens.update(torch.tensor([0]), torch.rand(1, 4), torch.tensor([0]))
    with pytest.raises(ValueError, match="TEST.ENSEMBLE_METHOD"):
        VideoEnsemble(2, 3, method="mean")
