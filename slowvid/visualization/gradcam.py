"""Grad-CAM for video models: where in the clip the evidence for a class lies.

Paper: "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
Selvaraju et al., arXiv:1610.02391. As PySlowFast's ``TENSORBOARD.MODEL_VIS.GRAD_CAM``, one
target layer per pathway, each giving its own map over that pathway's input clip.

For a target layer with activations ``A`` (B, C, T', H', W') and the gradient ``dA`` of the
class score, each channel is weighted by its gradient averaged over space (per frame, so a
channel may count in some frames and not others), the weighted sum is rectified, resized to the
clip (trilinear) and scaled to [0, 1] per clip::

    map = normalise(upsample(relu(sum_c mean_hw(dA)[c, t] * A[c, t])))

Transformer layers whose output is ``(tokens (B, [1 +] N, C), grid (T', H', W'))`` (MViT
blocks) are read as the token grid, class token dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GradCAM", "default_target_layers", "overlay_heatmap"]


def default_target_layers(model: nn.Module) -> list[str]:
    """The last feature stage of each pathway of ``model``: where Grad-CAM usually looks.

    TODO(#13): read the layers the VideoModel base class declares instead of this table.
    """
    from slowvid.models.detector import ActionDetector
    from slowvid.models.mvit import MViT
    from slowvid.models.resnet3d import ResNet
    from slowvid.models.slowfast import SlowFast
    from slowvid.models.x3d import X3D

    if isinstance(model, ActionDetector):
        return [f"backbone.{name}" for name in default_target_layers(model.backbone)]
    if isinstance(model, SlowFast):
        last = len(model.slow_stages) - 1
        return [f"slow_stages.{last}", f"fast_stages.{last}"]
    if isinstance(model, ResNet | X3D):  # CSN and R(2+1)D are ResNets
        return [f"stages.{len(model.stages) - 1}"]
    if isinstance(model, MViT):
        # With a class token, the last block's other tokens feed nothing the head reads.
        return [f"blocks.{len(model.blocks) - (2 if model.cls_embed_on else 1)}"]
    raise ValueError(
        f"no default Grad-CAM layers for {type(model).__name__}; "
        "set TENSORBOARD.MODEL_VIS.GRAD_CAM.LAYER_LIST (one layer name per pathway)"
    )


def _activation(output) -> tuple[torch.Tensor, tuple[int, int, int] | None]:
    """A layer's output tensor, and its token grid when it is (tokens, (T, H, W))."""
    if isinstance(output, torch.Tensor) and output.dim() == 5:
        return output, None
    if isinstance(output, tuple) and len(output) == 2 and isinstance(output[0], torch.Tensor):
        return output[0], tuple(output[1])
    raise ValueError(
        "a Grad-CAM layer must output (B, C, T, H, W) or (tokens, (T, H, W)); got "
        f"{type(output).__name__}"
    )


def _as_grid(x: torch.Tensor, grid: tuple[int, int, int] | None) -> torch.Tensor:
    """(B, C, T, H, W) of an activation (or of its gradient)."""
    if grid is None:
        return x
    t, h, w = grid
    tokens = x[:, -t * h * w :]  # drop the class token if there is one
    return tokens.transpose(1, 2).reshape(x.shape[0], -1, t, h, w)


class GradCAM:
    """Grad-CAM maps of a model's prediction, one per pathway.

    Args:
        model: takes a list of per-pathway clips, returns (B, num_classes) logits.
        layers: names (as in ``model.named_modules()``) of one target layer per pathway.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]):
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            raise ValueError(
                f"Grad-CAM layers not in {type(model).__name__}: {missing}; "
                f"e.g. {default_target_layers(model) if _has_default(model) else list(modules)[:8]}"
            )
        self.model = model
        self.layers = list(layers)
        self._modules = [modules[name] for name in layers]

    def __call__(
        self, inputs: Sequence[torch.Tensor], targets: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Maps for ``targets`` (default: each clip's top-scoring class).

        Args:
            inputs: per pathway (B, C, T_i, H, W) normalised clips.
            targets: (B,) class per clip.

        Returns:
            ``(maps, logits)``: per pathway (B, T_i, H, W) in [0, 1]; logits (B, num_classes).
        """
        if len(inputs) != len(self._modules):
            raise ValueError(
                f"{len(self._modules)} Grad-CAM layers {self.layers} for {len(inputs)} pathways; "
                "give one layer per pathway"
            )
        activations: list[tuple | None] = [None] * len(self._modules)

        def keep(i):
            def hook(_module, _inputs, output):
                tensor, grid = _activation(output)
                tensor.retain_grad()
                activations[i] = (tensor, grid)

            return hook

        handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(self._modules)]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.enable_grad():
                inputs = [x.detach().requires_grad_(False) for x in inputs]
                logits = self.model(list(inputs))
                if targets is None:
                    targets = logits.argmax(dim=1)
                score = logits.gather(1, targets.view(-1, 1).to(logits.device)).sum()
                self.model.zero_grad(set_to_none=True)
                score.backward()
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)
        maps = []
        for kept, clip, name in zip(activations, inputs, self.layers, strict=True):
            if kept is None or kept[0].grad is None:
                raise RuntimeError(f"Grad-CAM layer {name} does not lead to the class score")
            act, grad = _as_grid(kept[0], kept[1]), _as_grid(kept[0].grad, kept[1])
            weights = grad.mean(dim=(3, 4), keepdim=True)  # (B, C, T', 1, 1)
            cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
            cam = F.interpolate(cam, size=clip.shape[2:], mode="trilinear", align_corners=False)
            cam = cam[:, 0]
            low = cam.flatten(1).min(1).values.view(-1, 1, 1, 1)
            high = cam.flatten(1).max(1).values.view(-1, 1, 1, 1)
            maps.append((cam - low) / (high - low).clamp_min(1e-8))
        return maps, logits.detach()


def _has_default(model: nn.Module) -> bool:
    try:
        default_target_layers(model)
    except ValueError:
        return False
    return True


def overlay_heatmap(
    frames: torch.Tensor, heat: torch.Tensor, colormap: str = "viridis", alpha: float = 0.5
) -> torch.Tensor:
    """Frames blended with a colour-mapped heat map.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        heat: (T, H, W) in [0, 1], resized to the frames if needed.
        colormap: an OpenCV colormap name (viridis, jet, inferno, magma, plasma, turbo, ...).
        alpha: weight of the heat map.

    Returns:
        uint8 (T, H, W, 3).
    """
    import cv2

    code = getattr(cv2, f"COLORMAP_{colormap.upper()}", None)
    if code is None:
        raise ValueError(f"unknown colormap {colormap!r}; e.g. viridis, jet, inferno, turbo")
    if heat.shape != frames.shape[:3]:
        heat = F.interpolate(
            heat[None, None].float(), size=tuple(frames.shape[:3]), mode="trilinear"
        )[0, 0]
    grey = (heat.clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
    # applyColorMap maps a 2D image to BGR; frames are stacked into one tall image.
    rgb = cv2.applyColorMap(grey.reshape(-1, grey.shape[-1]), code)[..., ::-1]
    rgb = rgb.reshape(*grey.shape, 3).astype(np.float32)
    out = (1 - alpha) * frames.cpu().numpy().astype(np.float32) + alpha * rgb
    return torch.from_numpy(out.clip(0, 255).astype(np.uint8))
