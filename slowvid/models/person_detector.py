"""Person boxes for the AVA demo: torchvision's Faster R-CNN (ResNet-50 FPN, COCO).

PySlowFast's demo detects people itself (with a Detectron2 model); here torchvision's COCO
Faster R-CNN finds them on each window's keyframe and only its "person" class is kept. No
weights are downloaded at run time: they come from a local file, or from the torch hub cache
where ``torchvision`` keeps its downloads (:func:`hub_cache_path`).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

__all__ = ["COCO_PERSON", "PersonDetector", "hub_cache_path"]

# torchvision's COCO label of "person" (0 is the background).
COCO_PERSON = 1
_WEIGHTS_FILE = "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
_WEIGHTS_URL = "https://download.pytorch.org/models/" + _WEIGHTS_FILE


def hub_cache_path() -> str:
    """Where torchvision caches the COCO weights: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", _WEIGHTS_FILE)


class PersonDetector:
    """Normalised person boxes in a frame.

    Args:
        model: a torchvision detection model (images in [0, 1], COCO labels out).
        score_threshold: boxes scoring lower are dropped.
        device: where the model runs.
    """

    def __init__(self, model: nn.Module, score_threshold: float, device: str | torch.device):
        self.model = model.eval().to(device)
        self.score_threshold = score_threshold
        self.device = torch.device(device)

    @classmethod
    def build(
        cls,
        weights: str = "",
        score_threshold: float = 0.9,
        min_size: int = 800,
        device: str | torch.device = "cpu",
    ) -> PersonDetector:
        """Faster R-CNN R50-FPN with COCO weights.

        Args:
            weights: a local ``.pth`` state dict; "" looks in the torch hub cache; "random"
                keeps random initialisation (to test the plumbing: it finds no real persons).
            score_threshold: the lowest person score kept.
            min_size: shorter side the detector resizes frames to (torchvision's 800).
            device: where the model runs.

        Raises:
            FileNotFoundError: the weights are neither at ``weights`` nor in the hub cache;
                the message says where to put them.
        """
        from torchvision.models.detection import fasterrcnn_resnet50_fpn

        model = fasterrcnn_resnet50_fpn(
            weights=None,
            weights_backbone=None,
            box_score_thresh=score_threshold,
            min_size=min_size,
            max_size=max(min_size, round(min_size * 1333 / 800)),
        )
        if weights != "random":
            path = weights or hub_cache_path()
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"no person-detector weights at {path}. Download {_WEIGHTS_URL} and put it "
                    f"at {hub_cache_path()} (where torchvision caches it) or pass its path with "
                    "--detector-weights; or give person boxes with --boxes"
                )
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return cls(model, score_threshold, device)

    @torch.no_grad()
    def __call__(self, frame: np.ndarray | torch.Tensor) -> list[list[float]]:
        """Person boxes ``[x1, y1, x2, y2]`` normalised to [0, 1], best first.

        Args:
            frame: uint8 (H, W, 3) RGB.
        """
        frame = torch.as_tensor(np.asarray(frame))
        h, w = frame.shape[:2]
        image = frame.permute(2, 0, 1).float().div(255).to(self.device)
        out = self.model([image])[0]
        keep = (out["labels"] == COCO_PERSON) & (out["scores"] >= self.score_threshold)
        boxes = out["boxes"][keep].cpu() / torch.tensor([w, h, w, h], dtype=torch.float32)
        return boxes.clamp(0, 1).tolist()
