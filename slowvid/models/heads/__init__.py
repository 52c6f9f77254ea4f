"""Output heads; importing this package registers them in ``slowvid.registry.HEADS``."""

from .classification import ClassificationHead

__all__ = ["ClassificationHead"]
