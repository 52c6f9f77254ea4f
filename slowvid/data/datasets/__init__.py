"""Datasets; importing this package registers them in ``slowvid.registry.DATASETS``."""

from .kinetics import Kinetics, read_split_file

__all__ = ["Kinetics", "read_split_file"]
