"""Data pipeline: decoding, temporal sampling, transforms, datasets and loaders.

Importing this package registers every core dataset.
"""

from . import datasets  # noqa: F401  (registers datasets)
from .build import build_dataset, build_loader, collate_clips, make_loader, shuffle_loader
from .decoding import DecodeError, open_video
from .transforms import pack_pathways

__all__ = [
    "DecodeError",
    "build_dataset",
    "build_loader",
    "collate_clips",
    "make_loader",
    "open_video",
    "pack_pathways",
    "shuffle_loader",
]
