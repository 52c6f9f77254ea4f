"""Building blocks shared by the video architectures; imported by name, never registered."""

from .bottleneck import Bottleneck
from .fusion import FuseFastToSlow
from .init import init_weights
from .stage import PathwaySpec, StageSpec, make_stage
from .stem import ResNetStem

__all__ = [
    "Bottleneck",
    "FuseFastToSlow",
    "PathwaySpec",
    "ResNetStem",
    "StageSpec",
    "init_weights",
    "make_stage",
]
