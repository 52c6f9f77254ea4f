"""Output heads; importing this package registers them in ``slowvid.registry.HEADS``."""

from .classification import ClassificationHead
from .x3d_head import X3DHead

__all__ = ["ClassificationHead", "X3DHead"]
