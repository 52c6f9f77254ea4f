"""Multi-task classification head: one linear projection per task on shared pooled features.

Contract shared with :class:`~slowvid.models.losses.MultiTaskCrossEntropy` and
:class:`~slowvid.evaluation.MultiTaskEvaluator`: the head returns the task logits
concatenated along the class axis, ``(B, sum(task_num_classes))`` in task order, and labels are
a long ``(B, num_tasks)`` tensor of class indices. One tensor keeps the engine, DDP, autocast,
checkpoints and FLOP counting unchanged; ``torch.split(logits, task_num_classes, dim=1)`` gives
the tasks back.
"""

from collections.abc import Sequence

import torch
from torch import nn

from slowvid.registry import HEADS

__all__ = ["MultiTaskHead"]


@HEADS.register()
class MultiTaskHead(nn.Module):
    """Global average pool per pathway -> concat -> dropout -> one linear per task -> concat.

    ::

        [(B, C_0, T_0, H_0, W_0), ...] -> pool, concat (B, sum C_i) -> dropout
          -> [linear_t (B, K_t) for each task] -> concat (B, sum K_t)

    Takes the same features as :class:`ClassificationHead`, so it fits any backbone that one
    does (ResNet, SlowFast, ...).

    Args:
        dim_in: channels of each pathway's features.
        task_num_classes: classes of each task, e.g. ``(97, 300)`` for EPIC verb and noun.
        dropout_rate: dropout probability before the projections (0 disables it).
    """

    def __init__(
        self, dim_in: Sequence[int], task_num_classes: Sequence[int], dropout_rate: float = 0.0
    ):
        super().__init__()
        if not task_num_classes:
            raise ValueError("MultiTaskHead needs at least one task (MODEL.TASK_NUM_CLASSES)")
        self.dim_in = tuple(dim_in)
        self.task_num_classes = tuple(task_num_classes)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.projs = nn.ModuleList(nn.Linear(sum(self.dim_in), k) for k in self.task_num_classes)

    @classmethod
    def from_config(cls, cfg, dim_in: Sequence[int]) -> dict:
        """Constructor arguments from cfg.MODEL; ``dim_in`` comes from the backbone."""
        return {
            "dim_in": list(dim_in),
            "task_num_classes": list(cfg.MODEL.TASK_NUM_CLASSES),
            "dropout_rate": cfg.MODEL.DROPOUT_RATE,
        }

    def reset(self, num_classes: int | Sequence[int]) -> None:
        """Fresh projections; an int keeps the task count and requires the same total."""
        if isinstance(num_classes, int):
            if num_classes != sum(self.task_num_classes):
                raise ValueError(
                    f"MultiTaskHead.reset: {num_classes} classes; give per-task counts to "
                    f"change {self.task_num_classes}"
                )
            num_classes = self.task_num_classes
        self.task_num_classes = tuple(num_classes)
        self.projs = nn.ModuleList(nn.Linear(sum(self.dim_in), k) for k in self.task_num_classes)
        for proj in self.projs:
            nn.init.normal_(proj.weight, std=0.01)
            nn.init.zeros_(proj.bias)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Args: features: per pathway (B, C_i, T_i, H_i, W_i).
        Returns: concatenated task logits (B, sum K_t)."""
        x = self.dropout(torch.cat([self.pool(f).flatten(1) for f in features], dim=1))
        return torch.cat([proj(x) for proj in self.projs], dim=1)
