"""Output heads; importing this package registers them in ``slowvid.registry.HEADS``."""

from .classification import ClassificationHead
from .multitask import MultiTaskHead
from .roi_head import ROIHead
from .token import TokenHead
from .x3d_head import X3DHead

__all__ = ["ClassificationHead", "MultiTaskHead", "ROIHead", "TokenHead", "X3DHead"]
