"""Synthetic frames and a tiny-clip config shared by the data tests and their fixtures."""

import os

import numpy as np

from slowvid.config import get_cfg
from slowvid.data.decoding import open_video

NUM_INDEX_FRAMES = 90
INDEX_GOP = 10


def index_frame(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Frame ``i`` of the lossless video: every pixel's RGB encodes the index."""
    frame = np.empty((h, w, 3), dtype=np.uint8)
    frame[..., 0] = i
    frame[..., 1] = 255 - i
    frame[..., 2] = (7 * i) % 256
    return frame


def data_cfg(data_dir: str, **overrides):
    """A cfg reading ``data_dir`` with tiny clips; ``overrides`` maps "NODE.KEY" to a value."""
    cfg = get_cfg()
    cfg.DATA.PATH_TO_DATA_DIR = data_dir
    cfg.DATA.PATH_PREFIX = data_dir
    cfg.DATA.NUM_FRAMES = 8
    cfg.DATA.SAMPLING_RATE = 2
    cfg.DATA.TRAIN_JITTER_SCALES = [64, 80]
    cfg.DATA.TRAIN_CROP_SIZE = 56
    cfg.DATA.TEST_CROP_SIZE = 64
    cfg.DATA.RANDOM_FLIP = False
    cfg.DATA.INPUT_CHANNEL_NUM = [3, 3]
    cfg.SLOWFAST.ALPHA = 4
    cfg.DATA.NUM_RETRIES = 3
    cfg.DATA_LOADER.NUM_WORKERS = 0
    cfg.DATA_LOADER.PIN_MEMORY = False
    cfg.TRAIN.BATCH_SIZE = 4
    cfg.TEST.BATCH_SIZE = 4
    cfg.TEST.NUM_ENSEMBLE_VIEWS = 2
    cfg.TEST.NUM_SPATIAL_CROPS = 3
    for key, value in overrides.items():
        node, leaf = key.split(".")
        setattr(cfg[node], leaf, value)
    return cfg


def extract_frames(video: str, folder: str, template: str = "img_{:05d}.jpg") -> np.ndarray:
    """Write every frame of ``video`` into ``folder`` as jpgs numbered from 1 (what
    ``ffmpeg -i video folder/img_%05d.jpg`` does); returns the decoded frames (T, H, W, 3)."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    with open_video(video) as v:
        frames = v.get_frames(range(v.num_frames)).numpy()
    for n, frame in enumerate(frames, start=1):
        path = os.path.join(folder, template.format(n))
        cv2.imwrite(path, frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return frames


# Rows at the bottom of a frame holding its index (lossless videos only): red = i % 256,
# green = i // 256.
INDEX_ROWS = 6
LOSSLESS_X264 = {"codec": "libx264rgb", "pix_fmt": "rgb24"}


def lossless_options(gop: int) -> dict[str, str]:
    """x264 options of a lossless video with a keyframe exactly every ``gop`` frames."""
    return {"qp": "0", "threads": "1", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}


def write_index_rows(frames: np.ndarray) -> np.ndarray:
    """Write each frame's index into its bottom rows, in place; returns ``frames``."""
    for i, frame in enumerate(frames):
        frame[-INDEX_ROWS:] = (i % 256, i // 256, 0)
    return frames


def read_index_rows(frames) -> list[int]:
    """The indices in the bottom rows of decoded uint8 ``(T, H, W, 3)`` frames."""
    px = np.asarray(frames)[:, -INDEX_ROWS // 2, frames.shape[2] // 2].astype(int)
    return (px[:, 0] + 256 * px[:, 1]).tolist()
