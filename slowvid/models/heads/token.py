"""Classification head over transformer tokens: the class token or the mean token, an optional
norm after pooling, dropout, linear."""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import HEADS

__all__ = ["TokenHead"]


@HEADS.register()
class TokenHead(nn.Module):
    """Class token or mean over tokens -> [norm] -> dropout -> linear, giving raw logits.

    ::

        [(B, N, C)] -> token 0 (use_cls) or mean over tokens skip_tokens.. -> (B, C)
          -> [norm] -> dropout -> linear
        (B, num_classes)

    Args:
        dim_in: channels of the single token sequence, as a one-element sequence.
        num_classes: output classes.
        dropout_rate: dropout probability before the linear layer (0 disables it).
        use_cls: read the class token (the first); otherwise average the tokens.
        skip_tokens: leading tokens left out of the average (a class token the mean-pooling
            heads of VideoMAE / MAE-ST do not read).
        norm: applied after pooling (VideoMAE's ``fc_norm``, PySlowFast's ``USE_MEAN_POOLING``);
            None when the tokens arrive normalised.
        init_scale: the initial linear weights are multiplied by it (PySlowFast's
            ``HEAD_INIT_SCALE``, VideoMAE's ``init_scale``: a near-zero start for fine-tuning).
    """

    def __init__(
        self,
        dim_in: Sequence[int],
        num_classes: int,
        dropout_rate: float = 0.0,
        use_cls: bool = True,
        *,
        skip_tokens: int = 0,
        norm: nn.Module | None = None,
        init_scale: float = 1.0,
    ):
        super().__init__()
        if len(dim_in) != 1:
            raise ValueError(f"TokenHead takes one token sequence, got dim_in={list(dim_in)}")
        self.dim_in = tuple(dim_in)
        self.use_cls = use_cls
        self.skip_tokens = skip_tokens
        self.norm = norm
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.init_scale = init_scale
        self.proj = nn.Linear(dim_in[0], num_classes)
        self.init_weights()

    @classmethod
    def from_config(cls, cfg, dim_in: Sequence[int], use_cls: bool = True, **kwargs) -> dict:
        """Reads MODEL.NUM_CLASSES and MODEL.DROPOUT_RATE; ``dim_in``, ``use_cls`` (whether
        the tokens start with a class token the head reads) and the keyword arguments
        (``skip_tokens``, ``norm``, ``init_scale``) come from the backbone."""
        return {
            "dim_in": list(dim_in),
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "dropout_rate": cfg.MODEL.DROPOUT_RATE,
            "use_cls": use_cls,
            **kwargs,
        }

    def init_weights(self) -> None:
        """Truncated-normal weights (std 0.02) times ``init_scale``, zero bias."""
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)
        with torch.no_grad():
            self.proj.weight.mul_(self.init_scale)

    def reset(self, num_classes: int) -> None:
        """Replaces the linear layer with a fresh one of ``num_classes`` outputs."""
        self.proj = nn.Linear(self.dim_in[0], num_classes, device=self.proj.weight.device)
        self.init_weights()

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Args: features: ``[(B, N, C)]`` tokens. Returns: logits (B, num_classes)."""
        x = features[0][:, 0] if self.use_cls else features[0][:, self.skip_tokens :].mean(1)
        if self.norm is not None:
            x = self.norm(x)
        return self.proj(self.dropout(x))
