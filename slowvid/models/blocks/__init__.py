"""Building blocks shared by the video architectures; imported by name, never registered."""

from .bottleneck import Bottleneck
from .bottleneck_2plus1d import Bottleneck2Plus1D, Conv2Plus1D
from .fusion import FuseFastToSlow
from .init import init_weights
from .nonlocal_block import NonLocal
from .stage import PathwaySpec, StageSpec, make_stage
from .stem import ResNetStem

__all__ = [
    "Bottleneck",
    "Bottleneck2Plus1D",
    "Conv2Plus1D",
    "FuseFastToSlow",
    "NonLocal",
    "PathwaySpec",
    "ResNetStem",
    "StageSpec",
    "init_weights",
    "make_stage",
]
