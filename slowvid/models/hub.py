"""PyTorchVideo's calling convention on a slowvid model, for the torch.hub entry points.

slowvid models take a list of pathway clips and return logits. PyTorchVideo's hub models take
a bare tensor when they have one pathway (a list for SlowFast, ``(clips, boxes)`` for the
detectors, an image ``(B, C, H, W)`` for the image MViT) and some end in an activation (softmax
for X3D and R(2+1)D, sigmoid for the detectors). :func:`follow_pytorchvideo_convention` gives a
slowvid model the same convention with two forward hooks, so the model keeps its class and its
state-dict names: its weights save and load exactly as those of ``build_model``'s model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["HEAD_ACTIVATIONS", "follow_pytorchvideo_convention"]

# Output activations PyTorchVideo's hub models end in; None returns logits.
HEAD_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "softmax": lambda logits: logits.softmax(dim=1),
    "sigmoid": torch.sigmoid,
}


class _ClipsAsPathways:
    """Forward pre-hook: a bare clip tensor becomes the one-pathway list slowvid models take.

    Lists pass through unchanged. With ``image``, a ``(B, C, H, W)`` image is a one-frame clip.
    A module-level class rather than a closure so that a model carrying it still pickles.
    """

    def __init__(self, image: bool):
        self.image = image

    def __call__(self, module: nn.Module, args: tuple) -> tuple | None:
        if not args or not isinstance(args[0], torch.Tensor):
            return None
        x = args[0]
        expected = 4 if self.image else 5
        if x.dim() != expected:
            shape = "(B, C, H, W) images" if self.image else "(B, C, T, H, W) clips"
            raise ValueError(
                f"{type(module).__name__} takes {shape} (or a list of pathway clips); "
                f"got a tensor of shape {tuple(x.shape)}"
            )
        return ([x.unsqueeze(2) if self.image else x], *args[1:])


class _HeadActivation:
    """Forward hook applying a named activation from :data:`HEAD_ACTIVATIONS` to the output."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return HEAD_ACTIVATIONS[self.name](output)


def follow_pytorchvideo_convention(
    model: nn.Module, *, image: bool = False, head_activation: str | None = None
) -> nn.Module:
    """Lets ``model`` be called as the PyTorchVideo hub model of the same architecture is.

    Args:
        model: a slowvid model (``forward(inputs: list[Tensor], *extra)``).
        image: the model classifies images: ``(B, C, H, W)`` tensors become one-frame clips.
        head_activation: "softmax", "sigmoid" or None (logits), applied to every output.

    Returns:
        ``model`` itself, which now also accepts a bare tensor for a one-pathway input.
    """
    if head_activation is not None and head_activation not in HEAD_ACTIVATIONS:
        raise ValueError(
            f"head_activation must be one of {sorted(HEAD_ACTIVATIONS)} or None, "
            f"got {head_activation!r}"
        )
    model.register_forward_pre_hook(_ClipsAsPathways(image))
    if head_activation is not None:
        model.register_forward_hook(_HeadActivation(head_activation))
    return model
