"""From a trained video model to a file another runtime loads: torch.export, ONNX, ExecuTorch.

::

    model (list of pathway clips in)
      -> PathwayInputs: one tensor argument per pathway (what tracers and runtimes want)
      -> export_program: torch.export, batch dimension dynamic
           -> .pt2 (torch.export.save)
           -> to_onnx: ONNX (onnxscript exporter), one graph input per pathway
      -> ExecuTorch (float or int8, XNNPACK): :mod:`slowvid.deploy.on_device`

Every path is checked against eager by :func:`max_abs_error` in ``tools/export.py`` and the tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = [
    "PATHWAY_NAMES",
    "PathwayInputs",
    "example_clips",
    "export_program",
    "max_abs_error",
    "run_onnx",
    "to_onnx",
]

# Graph input names by pathway count: what an app feeds.
PATHWAY_NAMES = {1: ("clip",), 2: ("slow", "fast")}


class PathwayInputs(nn.Module):
    """``model(list of clips)`` as ``forward(*clips)``: one named tensor per pathway."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *clips: torch.Tensor) -> torch.Tensor:
        """Args: clips: per pathway (B, C, T_i, H, W). Returns: (B, num_classes) logits."""
        return self.model(list(clips))


def example_clips(
    channels: Sequence[int], num_frames: int, alpha: int, crop: int, batch: int = 1
) -> list[torch.Tensor]:
    """Random clips shaped as the model's test input.

    Args:
        channels: input channels of each pathway (DATA.INPUT_CHANNEL_NUM).
        num_frames: frames of the (fast) clip (DATA.NUM_FRAMES).
        alpha: fast-to-slow frame ratio (SLOWFAST.ALPHA), used with two pathways.
        crop: spatial side (DATA.TEST_CROP_SIZE).
        batch: clips per batch.
    """
    if len(channels) not in PATHWAY_NAMES:
        raise ValueError(f"export supports 1 or 2 pathways, got {len(channels)}")
    frames = [num_frames] if len(channels) == 1 else [num_frames // alpha, num_frames]
    return [torch.randn(batch, c, t, crop, crop) for c, t in zip(channels, frames, strict=True)]


def export_program(
    model: nn.Module, clips: Sequence[torch.Tensor], dynamic_batch: bool = True
) -> torch.export.ExportedProgram:
    """``torch.export`` of ``model`` in eval mode, one input per pathway.

    Args:
        model: takes a list of per-pathway clips.
        clips: example clips; their batch size must be >= 2 when ``dynamic_batch`` (torch.export
            specialises a size-1 dimension).
        dynamic_batch: let the batch dimension vary (1..1024).
    """
    wrapped = PathwayInputs(model).eval()
    dynamic = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1024)
        dynamic = (tuple({0: batch} for _ in clips),)
    return torch.export.export(wrapped, tuple(clips), dynamic_shapes=dynamic)


def to_onnx(program: torch.export.ExportedProgram, path: str, opset: int = 18) -> None:
    """Write ``program`` as ONNX: inputs named per :data:`PATHWAY_NAMES`, output ``logits``."""
    num_inputs = len(program.graph_signature.user_inputs)
    onnx_program = torch.onnx.export(
        program,
        input_names=list(PATHWAY_NAMES[num_inputs]),
        output_names=["logits"],
        opset_version=opset,
        dynamo=True,
        verbose=False,
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx_program.save(path)


def run_onnx(path: str, clips: Sequence[torch.Tensor], threads: int = 0) -> torch.Tensor:
    """Logits of the ONNX file at ``path`` under ONNX Runtime's CPU provider."""
    session = onnx_session(path, threads)
    feeds = {i.name: c.numpy() for i, c in zip(session.get_inputs(), clips, strict=True)}
    return torch.from_numpy(session.run(None, feeds)[0])


def onnx_session(path: str, threads: int = 0):
    """An ONNX Runtime CPU session; ``threads`` 0 lets ORT choose."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def max_abs_error(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Largest absolute difference of two logit arrays of one shape."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a - b).abs().max().item()
