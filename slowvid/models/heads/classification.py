"""Video classification head: pool each pathway, concatenate, dropout, linear."""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import HEADS

__all__ = ["ClassificationHead"]


@HEADS.register()
class ClassificationHead(nn.Module):
    """Global average pool per pathway -> concat -> dropout -> linear, giving raw logits.

    The pool is adaptive, so the same head serves training crops (224) and fully convolutional
    testing at other sizes (256) without a fixed kernel. No softmax is applied in any mode;
    losses and the evaluation code work on logits.

    ::

        [(B, C_0, T_0, H_0, W_0), (B, C_1, ...), ...]
          -> mean over (T, H, W) each -> concat (B, sum C_i) -> dropout -> linear
        (B, num_classes)

    Args:
        dim_in: channels of each pathway's features.
        num_classes: output classes.
        dropout_rate: dropout probability before the linear layer (0 disables it).
    """

    def __init__(self, dim_in: Sequence[int], num_classes: int, dropout_rate: float = 0.0):
        super().__init__()
        self.dim_in = tuple(dim_in)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.proj = nn.Linear(sum(self.dim_in), num_classes)

    @classmethod
    def from_config(cls, cfg, dim_in: Sequence[int]) -> dict:
        """Constructor arguments from cfg.MODEL; ``dim_in`` comes from the backbone."""
        return {
            "dim_in": list(dim_in),
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "dropout_rate": cfg.MODEL.DROPOUT_RATE,
        }

    def reset(self, num_classes: int) -> None:
        """Replaces the linear layer with a freshly initialised one of ``num_classes`` outputs."""
        self.proj = nn.Linear(sum(self.dim_in), num_classes)
        nn.init.normal_(self.proj.weight, std=0.01)
        nn.init.zeros_(self.proj.bias)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Args: features: per pathway (B, C_i, T_i, H_i, W_i). Returns: logits (B, num_classes)."""
        x = torch.cat([self.pool(f).flatten(1) for f in features], dim=1)
        return self.proj(self.dropout(x))
