"""The losses named by MODEL.LOSS_FUNC."""

import pytest
import torch
import torch.nn.functional as F

from slowvid.models import build_loss


def test_cross_entropy():
    logits, target = torch.randn(4, 5), torch.tensor([0, 1, 4, 2])
    assert torch.allclose(
        build_loss("cross_entropy")(logits, target), F.cross_entropy(logits, target)
    )


def test_bce_logit():
    logits, target = torch.randn(4, 5), torch.randint(0, 2, (4, 5)).float()
    expected = F.binary_cross_entropy_with_logits(logits, target)
    assert torch.allclose(build_loss("bce_logit")(logits, target), expected)


def test_soft_cross_entropy_matches_hard_on_one_hot_and_is_mean():
    logits, target = torch.randn(4, 5), torch.tensor([0, 1, 4, 2])
    soft = build_loss("soft_cross_entropy")
    assert torch.allclose(
        soft(logits, F.one_hot(target, 5).float()), F.cross_entropy(logits, target)
    )
    probs = torch.softmax(torch.randn(4, 5), dim=1)
    per_sample = -(probs * F.log_softmax(logits, dim=1)).sum(1)
    assert torch.allclose(soft(logits, probs), per_sample.mean())


def test_unknown_loss_names_choices():
    with pytest.raises(ValueError, match="soft_cross_entropy"):
        build_loss("focal")
