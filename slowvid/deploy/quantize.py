"""Eager-mode deployment of a one-pathway model: BN folding, a float program, FX int8.

Moved here from projects/efficient_x3d (which now calls the core); ``tools/export.py`` and
``benchmarks/deploy_latency.py`` use it.

::

    model (list of clips in) -> ClipModel (one tensor in, for tracers)
      -> fuse_conv_bn: every Conv3d + BatchNorm3d pair folded into one conv (eval only)
      -> export_float: torch.export program (float)
      -> quantize_int8: FX graph-mode static quantization, calibrated on real clips

int8 uses PyTorch's FX graph-mode quantization with the fbgemm (x86) or qnnpack (ARM) backend:
this torch has no PT2E quantizer in core (it moved to the torchao package, whose int8 kernels
need an inductor compile), and FX is what runs int8 3D convolutions on the CPU without one.
Grouped (channelwise) 3D convolutions stay in float by default: the int8 backends run them
group by group, which made the int8 X3D 5-17x *slower* than float in our measurements, while the
1x1x1 convolutions that hold most of X3D's multiply-adds quantize well.
"""

from collections.abc import Iterable

import torch
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
from torch.fx.experimental.optimization import fuse as fx_fuse

__all__ = ["ClipModel", "export_float", "fuse_conv_bn", "quantize_int8"]


class ClipModel(nn.Module):
    """One single-pathway clip tensor in, logits out: the interface tracers and apps want."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Args: clip: (B, C, T, H, W). Returns: (B, num_classes) logits."""
        return self.model([clip])


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """An eval-mode copy with each batch norm folded into the convolution before it.

    Args:
        model: a :class:`ClipModel` (its forward must be traceable by ``torch.fx``).
    """
    return fx_fuse(model.eval(), inplace=False)


def export_float(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """``torch.export`` of ``model`` (eval), returned as a callable module."""
    return torch.export.export(model.eval(), (example,)).module()


@torch.no_grad()
def quantize_int8(
    model: nn.Module,
    calibration: Iterable[torch.Tensor],
    backend: str | None = None,
    float_grouped_convs: bool = True,
) -> nn.Module:
    """Static int8 quantization of a :class:`ClipModel`, observers calibrated on real clips.

    Args:
        model: float model, eval mode (batch norms are folded during conversion).
        calibration: clips (B, C, T, H, W) as the model will see them.
        backend: "fbgemm", "x86", "onednn" or "qnnpack"; None picks fbgemm where it is
            available (x86 CPUs; the fastest here), qnnpack elsewhere.
        float_grouped_convs: keep grouped convolutions (X3D's channelwise ones) in float.

    Returns:
        The int8 model: quantized convolutions and linear layers, float input and output.
    """
    if backend is None:
        engines = torch.backends.quantized.supported_engines
        backend = "fbgemm" if "fbgemm" in engines else "qnnpack"
    torch.backends.quantized.engine = backend
    mapping = get_default_qconfig_mapping(backend)
    if float_grouped_convs:
        for name, module in model.named_modules():
            if isinstance(module, nn.Conv3d) and module.groups > 1:
                mapping = mapping.set_module_name(name, None)
    clips = iter(calibration)
    first = next(clips)
    prepared = prepare_fx(model.eval(), mapping, (first,))
    prepared(first)
    for clip in clips:
        prepared(clip)
    return convert_fx(prepared)
