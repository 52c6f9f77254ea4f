"""X3D for mobile CPUs: the same network with activations that quantize and run cheaply.

Swish becomes hard-swish and the squeeze-excitation gate a hard sigmoid (piecewise linear, so
int8 kernels exist for them and no exp() runs per element), as PyTorchVideo's mobile X3D and
MobileNetV3 ("Searching for MobileNetV3", Howard et al., arXiv:1905.02244) do. Activations have
no weights, so a regular X3D checkpoint loads unchanged; fine-tuning a few epochs recovers
what the cheaper activations cost.
"""

from collections.abc import Callable

from torch import nn

from slowvid.models.x3d import X3D, X3DActivations
from slowvid.registry import MODELS

__all__ = ["ACTIVATIONS", "EfficientX3D"]

# EFFICIENT_X3D.* names -> module factories.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "swish": nn.SiLU,
    "hardswish": nn.Hardswish,
    "sigmoid": nn.Sigmoid,
    "hardsigmoid": nn.Hardsigmoid,
}


def _activation(key: str, name: str) -> Callable[[], nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"{key} must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


@MODELS.register()
class EfficientX3D(X3D):
    """:class:`~slowvid.models.x3d.X3D` with the activations of ``cfg.EFFICIENT_X3D``."""

    @classmethod
    def from_config(cls, cfg) -> dict:
        """X3D's arguments (MODEL.ARCH "x3d", X3D.*), plus EFFICIENT_X3D.* activations."""
        e = cfg.EFFICIENT_X3D
        return {
            **X3D.from_config(cfg),
            "block_activations": X3DActivations(
                inner=_activation("EFFICIENT_X3D.ACTIVATION", e.ACTIVATION),
                se=_activation("EFFICIENT_X3D.SE_ACTIVATION", e.SE_ACTIVATION),
                se_gate=_activation("EFFICIENT_X3D.SE_GATE", e.SE_GATE),
            ),
        }
