"""Classification losses named by cfg.MODEL.LOSS_FUNC; all take raw logits, mean-reduced."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MultiTaskCrossEntropy",
    "MultipleMSELoss",
    "SigmoidBCELoss",
    "SoftTargetCrossEntropy",
    "build_loss",
    "scores_of",
]


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


class MultiTaskCrossEntropy(nn.Module):
    """Sum over tasks of the mean cross entropy of each task (EPIC verb + noun).

    Args:
        task_num_classes: classes of each task; the logits are their concatenation.

    Args (forward):
        logits: (B, sum K_t) task logits side by side, as :class:`MultiTaskHead` returns.
        target: (B, num_tasks) long class indices, one column per task.

    Returns:
        Scalar, ``sum_t CE(logits_t, target[:, t])``.
    """

    def __init__(self, task_num_classes: Sequence[int]):
        super().__init__()
        if not task_num_classes:
            raise ValueError("multitask_cross_entropy needs MODEL.TASK_NUM_CLASSES")
        self.task_num_classes = tuple(task_num_classes)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() != 2 or target.shape[1] != len(self.task_num_classes):
            raise ValueError(
                f"multitask labels must be (B, {len(self.task_num_classes)}), "
                f"got {tuple(target.shape)}"
            )
        tasks = torch.split(logits, self.task_num_classes, dim=1)
        return sum(F.cross_entropy(x, target[:, t]) for t, x in enumerate(tasks))


class SigmoidBCELoss(nn.BCEWithLogitsLoss):
    """PySlowFast's "bce": binary cross entropy of the sigmoid probabilities (its detection head
    applies the sigmoid before the loss), computed from the logits in one stable step.

    Args (forward):
        logits: (N, K) raw scores.
        target: (N, K) 0/1 (or soft) targets.

    Returns:
        Scalar, ``BCELoss(sigmoid(logits), target)``, without its log(0) clamping.
    """


class MultipleMSELoss(nn.Module):
    """PySlowFast's "multi_mse": the weighted sum of one MSE per (prediction, target) pair, for
    models that predict several targets (MaskFeat's HOG and pixel heads).

    Args (forward):
        predictions: sequence of tensors.
        targets: sequence of the same length; each a tensor, ``(tensor, weight)`` or
            ``(tensor, weight, "mse")``.

    Returns:
        Scalar, ``sum_i weight_i * mean((predictions_i - targets_i) ** 2)``.
    """

    def forward(self, predictions, targets) -> torch.Tensor:
        if isinstance(predictions, torch.Tensor) or len(predictions) != len(targets):
            raise ValueError(
                "multi_mse compares a sequence of predictions with a sequence of targets of the "
                "same length (PySlowFast's MaskMViT heads); a classifier's logits are not one"
            )
        total = 0.0
        for pred, target in zip(predictions, targets):
            weight, kind = 1.0, "mse"
            if isinstance(target, tuple | list):
                target, weight, *rest = target
                kind = rest[0] if rest else "mse"
            if kind != "mse":
                raise ValueError(f"multi_mse: unknown loss {kind!r} (only 'mse')")
            total = total + weight * F.mse_loss(pred, target)
        return total


_LOSSES = {
    # targets: (B,) class indices
    "cross_entropy": nn.CrossEntropyLoss,
    # targets: (B, num_classes) 0/1 multi-label (Charades, AVA)
    "bce_logit": nn.BCEWithLogitsLoss,
    # as bce_logit: PySlowFast's BCE of sigmoid probabilities (MODEL.HEAD_ACT sigmoid)
    "bce": SigmoidBCELoss,
    # targets: float, shaped as the outputs (regression)
    "mse": nn.MSELoss,
    # targets: a sequence of (target[, weight]) per prediction head
    "multi_mse": MultipleMSELoss,
    # targets: (B, num_classes) probabilities
    "soft_cross_entropy": SoftTargetCrossEntropy,
    # targets: (B, num_tasks) class indices; logits: the tasks' logits concatenated
    "multitask_cross_entropy": MultiTaskCrossEntropy,
}


# How each loss's logits become probabilities: the scores evaluation pools over views and the
# demo shows (a multi-task model's softmax is per task).
_SCORES = {
    "cross_entropy": "softmax",
    "bce_logit": "sigmoid",
    "bce": "sigmoid",
    # regressions: PySlowFast's default MODEL.HEAD_ACT (set it to "none" for the raw outputs)
    "mse": "softmax",
    "multi_mse": "softmax",
    "soft_cross_entropy": "softmax",
    "multitask_cross_entropy": "softmax",
}


def scores_of(name: str) -> str:
    """ "softmax" or "sigmoid": how the logits of a model trained with loss ``name`` become
    probabilities."""
    if name not in _SCORES:
        raise ValueError(f"Unknown MODEL.LOSS_FUNC {name!r}; choose one of {sorted(_SCORES)}")
    return _SCORES[name]


def build_loss(name: str, task_num_classes: Sequence[int] = ()) -> nn.Module:
    """The loss module called ``name`` (see cfg.MODEL.LOSS_FUNC), with mean reduction.

    ``task_num_classes`` (cfg.MODEL.TASK_NUM_CLASSES) is read by "multitask_cross_entropy" only.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in _LOSSES:
        raise ValueError(f"Unknown MODEL.LOSS_FUNC {name!r}; choose one of {sorted(_LOSSES)}")
    if name == "multitask_cross_entropy":
        return MultiTaskCrossEntropy(task_num_classes)
    return _LOSSES[name]()
