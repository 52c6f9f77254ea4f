"""X3D for mobile CPUs as a slowvid project: importing this package registers ``EfficientX3D``."""

from slowvid.deploy.quantize import ClipModel, export_float, fuse_conv_bn, quantize_int8

from .config import add_config
from .model import EfficientX3D

__all__ = [
    "ClipModel",
    "EfficientX3D",
    "add_config",
    "export_float",
    "fuse_conv_bn",
    "quantize_int8",
]
