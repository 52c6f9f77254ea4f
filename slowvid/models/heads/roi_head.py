"""ROI head for action detection: per-box features from each pathway, multi-label logits.

Follows the head of "SlowFast Networks for Video Recognition" (arXiv:1812.03982, Sec. 5) as
PySlowFast's ``ResNetRoIHead`` (Apache-2.0) builds it; written anew.
"""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.layers import roi_align
from slowvid.registry import HEADS

__all__ = ["ROIHead"]


@HEADS.register()
class ROIHead(nn.Module):
    """Temporal mean per pathway -> ROIAlign -> spatial max -> concat -> dropout -> linear.

    ::

        [(B, C_i, T_i, H', W')]  -- mean over T_i -->  (B, C_i, H', W')
          -> ROIAlign(boxes, resolution r, scale 1/stride)   (K, C_i, r, r)
          -> max over r x r -> concat over pathways           (K, sum C_i)
          -> dropout -> linear                                (K, num_classes) logits

    Logits are returned in every mode: a sigmoid gives the per-class probabilities (the BCE
    loss fuses it in training; evaluation and the demo apply it).

    Args:
        dim_in: channels of each pathway's features.
        num_classes: output classes (80 for AVA, of which 60 are evaluated).
        spatial_scale: feature pixels per input pixel, 1 / the backbone's stride.
        resolution: ROIAlign output side.
        sampling_ratio: ROIAlign samples per bin side (0 = adaptive).
        aligned: half-pixel aligned ROIAlign.
        dropout_rate: dropout before the projection (0 disables it).
    """

    def __init__(
        self,
        dim_in: Sequence[int],
        num_classes: int,
        spatial_scale: float,
        resolution: int = 7,
        sampling_ratio: int = 0,
        aligned: bool = True,
        dropout_rate: float = 0.0,
    ):
        super().__init__()
        self.dim_in = tuple(dim_in)
        self.spatial_scale = spatial_scale
        self.resolution = resolution
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.reset(num_classes)

    @classmethod
    def from_config(cls, cfg, dim_in: Sequence[int], spatial_scale: float) -> dict:
        """Reads MODEL.NUM_CLASSES, MODEL.DROPOUT_RATE and DETECTION.*; the rest comes from
        the backbone."""
        d = cfg.DETECTION
        return {
            "dim_in": list(dim_in),
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "spatial_scale": spatial_scale,
            "resolution": d.ROI_XFORM_RESOLUTION,
            "sampling_ratio": d.ROI_SAMPLING_RATIO,
            "aligned": d.ALIGNED,
            "dropout_rate": cfg.MODEL.DROPOUT_RATE,
        }

    def reset(self, num_classes: int) -> None:
        """A freshly initialised projection of ``num_classes`` outputs."""
        self.proj = nn.Linear(sum(self.dim_in), num_classes)
        nn.init.normal_(self.proj.weight, std=0.01)
        nn.init.zeros_(self.proj.bias)

    def forward(self, features: Sequence[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """Args:
            features: per pathway ``(B, C_i, T_i, H', W')``, all with the same H', W'.
            boxes: ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in input pixels.

        Returns:
            logits ``(K, num_classes)``.
        """
        pooled = []
        for f in features:
            rois = roi_align(
                f.mean(dim=2),
                boxes,
                self.resolution,
                self.spatial_scale,
                self.sampling_ratio,
                self.aligned,
            )
            pooled.append(rois.amax(dim=(2, 3)))
        return self.proj(self.dropout(torch.cat(pooled, dim=1)))
