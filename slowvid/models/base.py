"""The contract every video model keeps: what it takes, what it gives, where it may be hooked.

Other layers ask a model these questions through this interface, never by probing it:

- the data side reads :meth:`VideoModel.input_spec_from_config` (pathways, frames per pathway,
  extra inputs) to pack clips before any model is built;
- heads and the detector read ``feature_dims`` and ``feature_stride``;
- visualisation hooks ``feature_layers``;
- the engine calls ``model(inputs, *extra_args)``.

A family writes ``__init__`` (setting the declared attributes), ``from_config`` and
:meth:`VideoModel.forward_features`; ``forward``, ``forward_head`` and ``reset_head`` are written
here once. ``tests/models/test_model_registry.py`` holds every registered model to this.

::

    inputs [(B, C_i, T_i, H, W) per pathway, extra pathways...], *extra_args
      -> forward_features(inputs)          [features per pathway]
      -> forward_head(features, *extra)    logits (B, K), or (boxes, K) for a detector
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

__all__ = ["InputSpec", "VideoModel"]


@dataclass(frozen=True)
class InputSpec:
    """What a model takes.

    Attributes:
        frame_strides: per clip pathway, the step between the frames it keeps of the
            DATA.NUM_FRAMES clip: ``(1,)`` for one pathway, ``(alpha, 1)`` for SlowFast's slow
            and fast pathways.
        channels: per clip pathway, its input channels (DATA.INPUT_CHANNEL_NUM).
        extra_pathways: per-clip tensors the dataset's ``extra_inputs`` hook appends after the
            clips in ``inputs`` (AVSlowFast: ``("audio",)``).
        extra_args: per-batch tensors passed after ``inputs``, from ``batch["extra_inputs"]``
            (ActionDetector: ``("boxes",)``).
    """

    frame_strides: tuple[int, ...] = (1,)
    channels: tuple[int, ...] = (3,)
    extra_pathways: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()

    def __post_init__(self):
        if len(self.channels) != len(self.frame_strides) or not self.frame_strides:
            raise ValueError(
                f"InputSpec: {len(self.frame_strides)} frame strides but "
                f"{len(self.channels)} channel counts"
            )
        if any(s < 1 for s in self.frame_strides):
            raise ValueError(f"InputSpec: frame strides must be >= 1, got {self.frame_strides}")

    @property
    def num_pathways(self) -> int:
        """Clip pathways (extra pathways not counted)."""
        return len(self.frame_strides)

    def pathway_frames(self, num_frames: int) -> tuple[int, ...]:
        """Frames each clip pathway gets from a clip of ``num_frames``."""
        return tuple(num_frames // s for s in self.frame_strides)


class VideoModel(nn.Module):
    """Base of every registered model.

    Subclasses set these in ``__init__`` (the contract test checks each):

    Attributes:
        input_spec: what :meth:`forward` takes; equals ``input_spec_from_config(cfg)`` for a
            model built from ``cfg``.
        feature_dims: channels of each feature tensor :meth:`forward_features` returns.
        feature_stride: input pixels per feature pixel (32 for a ResNet); None when the
            features are not a spatial map (tokens), which detection heads need.
        feature_layers: dotted names of the submodules whose outputs are those features,
            one per feature tensor, for visualisation hooks (Grad-CAM) to attach to.
        head: maps the features (and the extra arguments) to logits; has ``reset(classes)``.

    Class attributes:
        archs: the MODEL.ARCH values this family builds; the first is the one used when
            MODEL.ARCH is left empty.
        block_types: the classes of the repeated blocks, the units of activation
            checkpointing (MODEL.ACT_CHECKPOINT) and of FSDP sharding; () = none declared.
        channels_last_devices: device types ("cpu", "cuda") on which this family measured
            faster in channels-last-3D (MODEL.CHANNELS_LAST None picks it there).
    """

    archs: ClassVar[tuple[str, ...]] = ()
    block_types: ClassVar[tuple[type[nn.Module], ...]] = ()
    channels_last_devices: ClassVar[tuple[str, ...]] = ()

    input_spec: InputSpec
    feature_dims: tuple[int, ...]
    feature_stride: int | None
    feature_layers: tuple[str, ...]
    head: nn.Module

    # ------------------------------------------------------------------ config side
    @classmethod
    def archs_from_config(cls, cfg) -> tuple[str, ...]:
        """The MODEL.ARCH values this model accepts under ``cfg`` (a detector: its
        backbone's)."""
        return cls.archs

    @classmethod
    def arch_of(cls, cfg) -> str:
        """MODEL.ARCH, or this family's first architecture when it is empty.

        Raises:
            ValueError: MODEL.ARCH names an architecture this family does not build.
        """
        archs = cls.archs_from_config(cfg)
        arch = cfg.MODEL.ARCH or archs[0]
        if arch not in archs:
            raise ValueError(
                f"MODEL.ARCH {arch!r} is not an architecture of {cls.__name__} "
                f"(MODEL.MODEL_NAME); choose from {list(archs)}, or leave MODEL.ARCH empty"
            )
        return arch

    @classmethod
    def frame_strides_from_config(cls, cfg) -> tuple[int, ...]:
        """Per clip pathway, the frame step (see :class:`InputSpec`); one pathway by default."""
        return (1,)

    @classmethod
    def extra_inputs_from_config(cls, cfg) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(extra_pathways, extra_args)`` of :class:`InputSpec`; none by default."""
        return (), ()

    @classmethod
    def input_spec_from_config(cls, cfg) -> InputSpec:
        """What a model built from ``cfg`` takes, without building it (the data side reads it).

        Raises:
            ValueError: DATA.INPUT_CHANNEL_NUM lists another number of pathways than the model
                takes.
        """
        strides = cls.frame_strides_from_config(cfg)
        channels = tuple(cfg.DATA.INPUT_CHANNEL_NUM)
        if len(channels) != len(strides):
            raise ValueError(
                f"DATA.INPUT_CHANNEL_NUM {list(channels)} lists {len(channels)} pathway(s), but "
                f"{cls.__name__} takes {len(strides)}: set DATA.INPUT_CHANNEL_NUM "
                f"{[channels[0] if channels else 3] * len(strides)}"
            )
        extra_pathways, extra_args = cls.extra_inputs_from_config(cfg)
        return InputSpec(strides, channels, extra_pathways, extra_args)

    # ------------------------------------------------------------------ model side
    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per-pathway features of the inputs; the one method a family must write."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward_features")

    def forward_head(
        self, features: Sequence[torch.Tensor], *extra_args: torch.Tensor
    ) -> torch.Tensor:
        """Logits of the features (and of the extra arguments, e.g. a detector's boxes)."""
        return self.head(features, *extra_args)

    def forward(self, inputs: Sequence[torch.Tensor], *extra_args: torch.Tensor) -> torch.Tensor:
        """Args:
            inputs: the clips per pathway ``(B, C_i, T_i, H, W)``, then any extra pathways.
            extra_args: the tensors ``input_spec.extra_args`` names.

        Returns:
            Raw logits (no softmax in any mode).
        """
        return self.forward_head(self.forward_features(inputs), *extra_args)

    def reset_head(self, num_classes: int) -> None:
        """Replaces the classifier with a fresh one of ``num_classes`` outputs (fine-tuning)."""
        self.head.reset(num_classes)

    # ------------------------------------------------------------------ training / loading
    def no_weight_decay(self) -> set[str]:
        """Names of parameters to train without weight decay (the optimizer reads it; the
        transformers name their position embeddings and class token here)."""
        return set()

    def fit_position_embeddings(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Adapts, in place, a checkpoint's tensors that depend on the training clip size
        (position embeddings) to this model's; returns what it changed. The checkpoint loader
        calls it before comparing shapes."""
        return []

    def example_inputs(
        self, batch_size: int = 1, num_frames: int = 8, size: int = 32
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """Random ``(inputs, extra_args)`` of this model's spec, on its device, for tests,
        FLOP counts and export; families with extra inputs extend it.

        Args:
            batch_size: clips in the batch.
            num_frames: DATA.NUM_FRAMES of the clip the pathways are sampled from.
            size: height and width.
        """
        device = next(self.parameters()).device
        spec = self.input_spec
        clips = [
            torch.randn(batch_size, c, t, size, size, device=device)
            for c, t in zip(spec.channels, spec.pathway_frames(num_frames))
        ]
        return clips, ()

    def with_extra_args(self, extra_args: tuple[str, ...]) -> InputSpec:
        """This model's input spec taking ``extra_args`` too (a wrapper adding boxes)."""
        return dataclasses.replace(self.input_spec, extra_args=extra_args)
