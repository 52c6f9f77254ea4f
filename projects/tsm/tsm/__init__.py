"""Temporal Shift Module as a slowvid project: importing this package registers ``TSMResNet``."""

from .config import add_config
from .model import TSMResNet, temporal_shift

__all__ = ["TSMResNet", "add_config", "temporal_shift"]
