"""Classification head over transformer tokens: the class token (or the mean token), dropout,
linear."""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import HEADS

__all__ = ["TokenHead"]


@HEADS.register()
class TokenHead(nn.Module):
    """Class token or mean over tokens -> dropout -> linear, giving raw logits.

    ::

        [(B, N, C)] -> token 0 (use_cls) or mean over N -> (B, C) -> dropout -> linear
        (B, num_classes)

    Args:
        dim_in: channels of the single token sequence, as a one-element sequence.
        num_classes: output classes.
        dropout_rate: dropout probability before the linear layer (0 disables it).
        use_cls: read the class token (the first); otherwise average all tokens.
    """

    def __init__(
        self,
        dim_in: Sequence[int],
        num_classes: int,
        dropout_rate: float = 0.0,
        use_cls: bool = True,
    ):
        super().__init__()
        if len(dim_in) != 1:
            raise ValueError(f"TokenHead takes one token sequence, got dim_in={list(dim_in)}")
        self.dim_in = tuple(dim_in)
        self.use_cls = use_cls
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.proj = nn.Linear(dim_in[0], num_classes)

    @classmethod
    def from_config(cls, cfg, dim_in: Sequence[int], use_cls: bool = True) -> dict:
        """Reads MODEL.NUM_CLASSES and MODEL.DROPOUT_RATE; ``dim_in`` and ``use_cls`` (whether
        the tokens start with a class token) come from the backbone."""
        return {
            "dim_in": list(dim_in),
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "dropout_rate": cfg.MODEL.DROPOUT_RATE,
            "use_cls": use_cls,
        }

    def reset(self, num_classes: int) -> None:
        """Replaces the linear layer with a fresh one of ``num_classes`` outputs."""
        self.proj = nn.Linear(self.dim_in[0], num_classes)
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Args: features: ``[(B, N, C)]`` tokens. Returns: logits (B, num_classes)."""
        x = features[0][:, 0] if self.use_cls else features[0].mean(1)
        return self.proj(self.dropout(x))
