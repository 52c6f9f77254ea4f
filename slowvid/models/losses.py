"""Classification losses named by cfg.MODEL.LOSS_FUNC; all take raw logits, mean-reduced."""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SoftTargetCrossEntropy", "build_loss"]


class SoftTargetCrossEntropy(nn.Module):
    """Cross entropy against probability-vector targets (mixup / cutmix / label smoothing).

    Args (forward):
        logits: (B, num_classes) raw scores.
        target: (B, num_classes) probabilities; each row sums to 1.

    Returns:
        Scalar, the batch mean of ``-sum(target * log_softmax(logits))``.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()


_LOSSES = {
    # targets: (B,) class indices
    "cross_entropy": nn.CrossEntropyLoss,
    # targets: (B, num_classes) 0/1 multi-label (Charades, AVA)
    "bce_logit": nn.BCEWithLogitsLoss,
    # targets: (B, num_classes) probabilities
    "soft_cross_entropy": SoftTargetCrossEntropy,
}


def build_loss(name: str) -> nn.Module:
    """The loss module called ``name`` (see cfg.MODEL.LOSS_FUNC), with mean reduction.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in _LOSSES:
        raise ValueError(f"Unknown MODEL.LOSS_FUNC {name!r}; choose one of {sorted(_LOSSES)}")
    return _LOSSES[name]()
