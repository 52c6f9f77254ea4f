"""What the trainer of ``TASK ssl`` expects of a self-supervised model."""

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["SelfSupervisedModel"]


class SelfSupervisedModel(nn.Module):
    """A model that computes its own pre-training loss, without labels.

    ``forward(inputs)`` returns a dict of scalars whose ``loss*`` entries are summed into the
    loss (the others are logged), in training and in evaluation; evaluation changes no state
    (queues, momentum encoders, counters). The trainer calls :meth:`set_progress` before each
    training step and :meth:`adjust_gradients` after each backward, before the optimizer step.
    """

    def forward(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def set_progress(self, epoch: float) -> None:
        """Training progress in epochs (fractional), for schedules such as a momentum's."""

    def adjust_gradients(self) -> bool:
        """Changes gradients before the step (e.g. freezes a layer); False skips the step."""
        return True
