"""How much memory autograd keeps for the backward pass."""

from __future__ import annotations

import torch
from torch.autograd.graph import saved_tensors_hooks

__all__ = ["SavedTensorBytes"]


class SavedTensorBytes(saved_tensors_hooks):
    """Counts the bytes of the tensors autograd saves for backward inside the block: the
    activation memory that checkpointing and reversible blocks remove; exact and device
    independent (a tensor saved twice counts twice).

    ::

        with SavedTensorBytes() as saved:
            loss = model(inputs).sum()
        saved.bytes
    """

    def __init__(self):
        self.bytes = 0
        super().__init__(self._pack, lambda tensor: tensor)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self.bytes += tensor.numel() * tensor.element_size()
        return tensor

    def __enter__(self) -> SavedTensorBytes:
        super().__enter__()
        return self
