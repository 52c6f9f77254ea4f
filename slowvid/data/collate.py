"""Batching clip items: pathways stacked, labels stacked, failed items dropped but counted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .device_decoding import EncodedBatch, EncodedClip
from .transforms import is_channels_last

__all__ = ["collate_clips"]


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch dataset items, dropping failed ones but keeping their paths.

    Args:
        items: dicts with ``inputs`` (list of ``(C, T, H, W)`` per pathway, or
            ``(N, C, T, H, W)`` for N augmented copies, or None), ``label`` (an int, or a
            tensor such as a multi-hot vector), ``video_index`` and ``failed``.

    Returns:
        ``{"inputs": list of (B, C, T, H, W) per pathway, or None when every item failed,
        "extra_inputs": [] (clip items have no per-batch inputs), "label": LongTensor (B,) or
        the stacked label tensors, "video_index": LongTensor (B,), "failed": list[str]}``;
        with copies, B counts every copy and labels repeat.
    """
    failed = [path for item in items for path in item["failed"]]
    good = [item for item in items if item["inputs"] is not None]
    if good and isinstance(good[0]["inputs"], EncodedClip):  # decoded later, on the device
        copies = [item["inputs"].num_views for item in good]
        inputs = EncodedBatch([item["inputs"] for item in good])
    elif good:
        copies = [x[0].shape[0] if x[0].dim() == 5 else 1 for x in (i["inputs"] for i in good)]
        inputs = [_batch_clips(pathway) for pathway in zip(*(item["inputs"] for item in good))]
    else:
        copies, inputs = [], None
    labels = [item["label"] for item, n in zip(good, copies) for _ in range(n)]
    if labels and isinstance(labels[0], torch.Tensor):
        label = torch.stack(labels)
    else:
        label = torch.tensor(labels, dtype=torch.long)
    indices = [item["video_index"] for item, n in zip(good, copies) for _ in range(n)]
    return {
        "inputs": inputs,
        "extra_inputs": [],
        "label": label,
        "video_index": torch.tensor(indices, dtype=torch.long),
        "failed": failed,
    }


def _batch_clips(clips: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate ``(C, T, H, W)`` clips or ``(N, C, T, H, W)`` copies into one batch.

    Channels-last clips (uint8 pixels) are batched channels-last too (``channels_last_3d``):
    a plain cat would move every byte across the channel axis, which the device does for free.
    """
    parts = [x if x.dim() == 5 else x.unsqueeze(0) for x in clips]
    if all(is_channels_last(x) for x in parts):
        return torch.cat([x.permute(0, 2, 3, 4, 1) for x in parts]).permute(0, 4, 1, 2, 3)
    return torch.cat(parts)
