"""Datasets; importing this package registers them in ``slowvid.registry.DATASETS``."""

from .ava import Ava
from .base import VideoDataset
from .charades import Charades
from .clip_dataset import ClipDataset
from .domsev import DoMSEV, DoMSEVFrames
from .epic_kitchens import EpicKitchens
from .imagenet import ImageNet
from .kinetics import Kinetics, read_split_file
from .ssv2 import SSv2
from .ucf_hmdb import HMDB51, UCF101
from .video_folder import VideoFolder
from .video_shards import VideoShards
from .video_windows import VideoWindows

__all__ = [
    "HMDB51",
    "Ava",
    "UCF101",
    "Charades",
    "ClipDataset",
    "DoMSEV",
    "DoMSEVFrames",
    "EpicKitchens",
    "ImageNet",
    "Kinetics",
    "SSv2",
    "VideoDataset",
    "VideoFolder",
    "VideoShards",
    "VideoWindows",
    "read_split_file",
]
