"""Action detection: a video backbone and an ROI head that classifies given person boxes.

The boxes travel beside the clips, never through the backbone: ``forward(inputs, boxes)``.
Any registered backbone whose features are a spatial map (a declared ``feature_stride``) works:
ResNet/Slow, SlowFast, X3D, CSN, R(2+1)D; MViT's tokens do not.
"""

import logging
from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import HEADS, MODELS

from .base import VideoModel

__all__ = ["ActionDetector"]

logger = logging.getLogger(__name__)


def _check_feature_map(backbone: VideoModel) -> VideoModel:
    if backbone.feature_stride is None:
        raise ValueError(
            f"DETECTION.BACKBONE {type(backbone).__name__} gives no spatial feature map "
            "(feature_stride None) for ROIAlign; use ResNet, SlowFast, X3D, CSN or R2Plus1D"
        )
    return backbone


@MODELS.register()
class ActionDetector(VideoModel):
    """Backbone features of a clip, pooled in each person box by an ROI head.

    ::

        clips [(B, 3, T_i, H, W)] -> backbone.forward_features -> [(B, C_i, T_i', H/s, W/s)]
        boxes (K, 5) [batch_index, x1, y1, x2, y2] ──────────────> head -> (K, classes) logits

    ``model(inputs, boxes)``: ``inputs`` per pathway ``(B, C, T_i, H, W)``, ``boxes`` ``(K, 5)``
    rows ``[batch_index, x1, y1, x2, y2]`` in input pixels; returns logits ``(K, classes)``. Its
    input spec is the backbone's plus ``extra_args = ("boxes",)``: batches for it carry the
    boxes in ``batch["extra_inputs"]`` (see ``Ava.collate_fn``).

    Args:
        backbone: a model whose ``forward_features`` gives per-pathway feature maps; its own
            classification head is not used.
        head: maps ``(features, boxes)`` to per-box logits.
    """

    def __init__(self, *, backbone: VideoModel, head: nn.Module):
        super().__init__()
        _check_feature_map(backbone)
        self.backbone = backbone
        self.head = head
        self.input_spec = backbone.with_extra_args(("boxes",))
        self.feature_dims = backbone.feature_dims
        self.feature_stride = backbone.feature_stride
        self.feature_layers = tuple(f"backbone.{name}" for name in backbone.feature_layers)

    @classmethod
    def backbone_class(cls, cfg) -> type[VideoModel]:
        """The backbone's class: MODEL.MODEL_NAME with DETECTION.ENABLE (PySlowFast's way of
        asking for a detector), DETECTION.BACKBONE when MODEL_NAME is ActionDetector itself."""
        name = cfg.MODEL.MODEL_NAME
        if name == cls.__name__:
            name = cfg.DETECTION.BACKBONE
        if name == cls.__name__:
            raise ValueError("DETECTION.BACKBONE cannot be ActionDetector itself")
        return MODELS.get(name)

    @classmethod
    def archs_from_config(cls, cfg) -> tuple[str, ...]:
        """The backbone's architectures: MODEL.ARCH describes the backbone."""
        return cls.backbone_class(cfg).archs_from_config(cfg)

    @classmethod
    def frame_strides_from_config(cls, cfg) -> tuple[int, ...]:
        return cls.backbone_class(cfg).frame_strides_from_config(cfg)

    @classmethod
    def extra_inputs_from_config(cls, cfg) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (), ("boxes",)

    @property
    def block_types(self) -> tuple[type[nn.Module], ...]:
        """The backbone's repeated blocks (units of activation checkpointing and FSDP)."""
        return self.backbone.block_types

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Builds the backbone (:meth:`backbone_class`) from the same cfg, then
        MODEL.HEAD_NAME (default ROIHead) on its features. The ROIAlign scale is
        1 / DETECTION.SPATIAL_SCALE_FACTOR, or 1 / the backbone's stride when that is 0."""
        backbone_cls = cls.backbone_class(cfg)
        backbone_cfg = cfg.clone()
        backbone_cfg.defrost()
        # The backbone's own head is built as a classifier and then dropped.
        backbone_cfg.MODEL.HEAD_NAME = "ClassificationHead"
        backbone_cfg.DETECTION.ENABLE = False
        kwargs = backbone_cls.from_config(backbone_cfg)
        kwargs["head"] = nn.Identity()
        backbone = _check_feature_map(backbone_cls(**kwargs))
        stride = backbone.feature_stride
        factor = cfg.DETECTION.SPATIAL_SCALE_FACTOR or stride
        if factor != stride:
            logger.warning(
                "DETECTION.SPATIAL_SCALE_FACTOR %s differs from the backbone's stride %s: boxes "
                "are pooled at scale 1/%s, as asked",
                factor,
                stride,
                factor,
            )
        head_cls = HEADS.get(cfg.MODEL.HEAD_NAME or "ROIHead")
        head = head_cls(
            **head_cls.from_config(cfg, dim_in=backbone.feature_dims, spatial_scale=1.0 / factor)
        )
        return {"backbone": backbone, "head": head}

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per-pathway backbone features of the clips."""
        return self.backbone.forward_features(inputs)

    def example_inputs(
        self, batch_size: int = 1, num_frames: int = 8, size: int = 32
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """The backbone's clips and two boxes per clip: the whole frame and its centre."""
        clips, _ = self.backbone.example_inputs(batch_size, num_frames, size)
        whole, centre = [0.0, 0.0, size, size], [size / 4, size / 4, 3 * size / 4, 3 * size / 4]
        rows = [[float(b), *box] for b in range(batch_size) for box in (whole, centre)]
        return clips, (torch.tensor(rows, device=clips[0].device),)
