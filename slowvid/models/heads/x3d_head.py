"""The X3D head: conv5, global pool, a wide fc layer, dropout, linear.

From "X3D: Expanding Architectures for Efficient Video Recognition", Feichtenhofer,
arXiv:2004.04730 (Table 1, conv5 / pool5 / fc1 / fc2). Layout follows PySlowFast's ``X3DHead``
(Apache-2.0) so released checkpoints map one to one; the code here is written anew.
"""

from collections.abc import Callable, Sequence

import torch
from torch import nn

from slowvid.registry import HEADS

from ..build import build_norm

__all__ = ["X3DHead"]


@HEADS.register()
class X3DHead(nn.Module):
    """conv5 1x1x1 -> norm -> act -> global pool -> fc1 (1x1x1 conv, no bias) -> act -> fc2.

    The pool is adaptive, so training crops and larger fully convolutional test crops share one
    head; logits are raw in every mode (no softmax).

    ::

        [(B, C_in, T, H, W)]
          -> conv_5 1x1x1 C_in -> C_inner -> norm -> act      (B, C_inner, T, H, W)
          -> mean over (T, H, W)                              (B, C_inner, 1, 1, 1)
          -> lin_5 1x1x1 C_inner -> C_out [-> norm] -> act    (B, C_out, 1, 1, 1)
          -> flatten -> dropout -> linear
        (B, num_classes)

    Args:
        dim_in: channels of the single pathway's features, C_in.
        dim_inner: channels of conv_5 (X3D: the last stage's inner width, 432 for XS..L).
        dim_out: channels of lin_5 (X3D.DIM_C5, 2048).
        num_classes: output classes.
        dropout_rate: dropout probability before the linear layer (0 disables it).
        bn_lin5: put a norm after lin_5 (X3D.BN_LIN5; off in the released models).
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
    """

    def __init__(
        self,
        dim_in: Sequence[int],
        dim_inner: int,
        dim_out: int,
        num_classes: int,
        dropout_rate: float = 0.0,
        bn_lin5: bool = False,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        if len(dim_in) != 1:
            raise ValueError(f"X3DHead takes one pathway, got dim_in={list(dim_in)}")
        self.dim_in = tuple(dim_in)
        self.dim_out = dim_out
        self.conv_5 = nn.Conv3d(dim_in[0], dim_inner, kernel_size=1, bias=False)
        self.norm_5 = norm(dim_inner)
        self.act_5 = activation()
        self.pool = nn.AdaptiveAvgPool3d(1)
        # No bias, as released; with bn_lin5 the norm supplies the shift.
        self.lin_5 = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
        self.lin_5_norm = norm(dim_out) if bn_lin5 else nn.Identity()
        self.lin_5_act = activation()
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.proj = nn.Linear(dim_out, num_classes)

    @classmethod
    def from_config(cls, cfg, dim_in: Sequence[int]) -> dict:
        """Reads X3D.BOTTLENECK_FACTOR, X3D.DIM_C5, X3D.BN_LIN5, MODEL.*, BN.*.

        ``dim_in`` comes from the backbone; conv_5's width is the last stage's inner width,
        ``int(X3D.BOTTLENECK_FACTOR * dim_in)``, as PySlowFast builds it.
        """
        return {
            "dim_in": list(dim_in),
            "dim_inner": int(cfg.X3D.BOTTLENECK_FACTOR * dim_in[0]),
            "dim_out": cfg.X3D.DIM_C5,
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "dropout_rate": cfg.MODEL.DROPOUT_RATE,
            "bn_lin5": cfg.X3D.BN_LIN5,
            "norm": build_norm(cfg),
        }

    def reset(self, num_classes: int) -> None:
        """Replaces the linear layer with a freshly initialised one of ``num_classes`` outputs."""
        self.proj = nn.Linear(self.dim_out, num_classes)
        nn.init.normal_(self.proj.weight, std=0.01)
        nn.init.zeros_(self.proj.bias)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Args: features: ``[(B, C_in, T, H, W)]``. Returns: logits (B, num_classes)."""
        if len(features) != 1:
            raise ValueError(f"X3DHead takes one pathway, got {len(features)} feature tensors")
        x = self.act_5(self.norm_5(self.conv_5(features[0])))
        x = self.lin_5_act(self.lin_5_norm(self.lin_5(self.pool(x))))
        return self.proj(self.dropout(x.flatten(1)))
