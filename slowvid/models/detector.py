"""Action detection: a video backbone and an ROI head that classifies given person boxes.

The boxes travel beside the clips, never through the backbone: ``forward(inputs, boxes)``.
Any backbone in MODELS that exposes ``forward_features``, ``feature_dims`` and
``feature_stride`` works (ResNet/Slow, SlowFast).
"""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import HEADS, MODELS

__all__ = ["ActionDetector"]


@MODELS.register()
class ActionDetector(nn.Module):
    """Backbone features of a clip, pooled in each person box by an ROI head.

    ::

        clips [(B, 3, T_i, H, W)] -> backbone.forward_features -> [(B, C_i, T_i', H/s, W/s)]
        boxes (K, 5) [batch_index, x1, y1, x2, y2] ──────────────> head -> (K, classes) logits

    Args:
        backbone: a model whose ``forward_features`` gives per-pathway features; its own
            classification head is not used.
        head: maps ``(features, boxes)`` to per-box logits.
    """

    # Batches for this model carry the boxes as an extra input (see ``Ava.collate_fn``).
    takes_boxes = True

    def __init__(self, *, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    @property
    def block_types(self) -> tuple[type[nn.Module], ...]:
        """The backbone's repeated blocks (units of activation checkpointing and FSDP)."""
        return self.backbone.block_types

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Builds DETECTION.BACKBONE from the same cfg, then MODEL.HEAD_NAME on its features."""
        name = cfg.DETECTION.BACKBONE
        if name == cls.__name__:
            raise ValueError("DETECTION.BACKBONE cannot be ActionDetector itself")
        backbone_cls = MODELS.get(name)
        backbone_cfg = cfg.clone()
        backbone_cfg.defrost()
        # The backbone's own head is built as a classifier and then dropped.
        backbone_cfg.MODEL.HEAD_NAME = "ClassificationHead"
        kwargs = backbone_cls.from_config(backbone_cfg)
        kwargs["head"] = nn.Identity()
        backbone = backbone_cls(**kwargs)
        stride = getattr(backbone, "feature_stride", None)
        if stride is None:
            raise ValueError(
                f"DETECTION.BACKBONE {name!r} does not expose feature_stride; "
                "use ResNet or SlowFast"
            )
        head_cls = HEADS.get(cfg.MODEL.HEAD_NAME)
        head = head_cls(
            **head_cls.from_config(cfg, dim_in=backbone.feature_dims, spatial_scale=1.0 / stride)
        )
        return {"backbone": backbone, "head": head}

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per-pathway backbone features of the clips."""
        return self.backbone.forward_features(inputs)

    def forward_head(self, features: Sequence[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """Per-box logits ``(K, num_classes)``."""
        return self.head(features, boxes)

    def forward(self, inputs: Sequence[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """Args:
            inputs: per pathway ``(B, C, T_i, H, W)``.
            boxes: ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in input pixels.

        Returns:
            logits ``(K, num_classes)``.
        """
        return self.forward_head(self.forward_features(inputs), boxes)

    def reset_head(self, num_classes: int) -> None:
        """A fresh projection of ``num_classes`` outputs (fine-tuning)."""
        self.head.reset(num_classes)
