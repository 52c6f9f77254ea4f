"""What the trainer of ``TASK ssl`` expects of a self-supervised model."""

from collections.abc import Sequence

import torch

from ..base import VideoModel

__all__ = ["SelfSupervisedModel"]


class SelfSupervisedModel(VideoModel):
    """A model that computes its own pre-training loss, without labels.

    A :class:`~slowvid.models.base.VideoModel` on the input side (``input_spec``, ``archs``:
    the data side packs its clips as for the network it pre-trains) and on the feature side
    (``forward_features`` gives the backbone's features, ``feature_dims`` / ``feature_layers``
    name them); it has no classifier. ``forward(inputs)`` returns a dict of scalars whose
    ``loss*`` entries are summed into the loss (the others are logged), in training and in
    evaluation; evaluation changes no state (queues, momentum encoders, counters). The trainer
    calls :meth:`set_progress` before each training step and :meth:`adjust_gradients` after
    each backward, before the optimizer step.
    """

    head = None  # no classifier: fine-tuning builds one (TASK ssl_eval)

    def declare_backbone(self, backbone: VideoModel, prefix: str) -> None:
        """Takes the input and feature declarations of the network being pre-trained, found
        under ``prefix`` (the submodule's name) in this model."""
        self.input_spec = backbone.input_spec
        self.feature_dims = tuple(backbone.feature_dims)
        self.feature_stride = backbone.feature_stride
        self.feature_layers = tuple(f"{prefix}.{name}" for name in backbone.feature_layers)
        if not type(self).block_types:  # a wrapper of any backbone: its blocks
            self.block_types = tuple(backbone.block_types)

    def forward(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward_head(self, features, *extra_args):
        raise TypeError(f"{type(self).__name__} has no classifier; fine-tune it (TASK ssl_eval)")

    def reset_head(self, num_classes: int) -> None:
        raise TypeError(f"{type(self).__name__} has no classifier; fine-tune it (TASK ssl_eval)")

    def set_progress(self, epoch: float) -> None:
        """Training progress in epochs (fractional), for schedules such as a momentum's."""

    def adjust_gradients(self) -> bool:
        """Changes gradients before the step (e.g. freezes a layer); False skips the step."""
        return True
