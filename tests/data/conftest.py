"""Small videos and data directories shared by the data tests (built once per session)."""

import os

import numpy as np
import pytest
import torch
from synthetic import INDEX_GOP, NUM_INDEX_FRAMES, index_frame

from slowvid.data.demo import DemoSpec, make_demo_data, render_video, write_video


@pytest.fixture(scope="session")
def index_video(tmp_path_factory) -> str:
    """Lossless H.264 (libx264rgb, qp 0), 30 fps, a keyframe every 10 frames, B-frames on."""
    path = str(tmp_path_factory.mktemp("videos") / "index.mp4")
    frames = np.stack([index_frame(i) for i in range(NUM_INDEX_FRAMES)])
    write_video(
        path,
        frames,
        30,
        codec="libx264rgb",
        pix_fmt="rgb24",
        options={
            "qp": "0",
            "threads": "1",
            # Fixed GOPs (no scene cuts, which every frame here would trigger).
            "x264-params": f"keyint={INDEX_GOP}:min-keyint={INDEX_GOP}:scenecut=0",
        },
    )
    return path


@pytest.fixture(scope="session")
def h264_video(tmp_path_factory) -> str:
    """An ordinary lossy H.264 yuv420p demo video (moving shape, textured background)."""
    path = str(tmp_path_factory.mktemp("videos") / "shape.mp4")
    frames = render_video(3, DemoSpec(), np.random.default_rng(0))
    write_video(path, frames, 30, options={"threads": "1", "g": "12"})
    return path


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> str:
    """A tiny demo data set (2/1/1 videos per class) plus a corrupt, a truncated and a
    missing video listed in extra split files."""
    out = str(tmp_path_factory.mktemp("demo"))
    make_demo_data(
        out, DemoSpec(train_per_class=2, val_per_class=1, test_per_class=1), num_workers=1
    )
    bad = os.path.join(out, "bad")
    os.makedirs(bad)
    with open(os.path.join(bad, "random.mp4"), "wb") as f:
        f.write(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    good = os.path.join(out, "videos/train/left_slow/000.mp4")
    with open(good, "rb") as f:
        data = f.read()
    with open(os.path.join(bad, "truncated.mp4"), "wb") as f:
        f.write(data[: len(data) // 3])
    return out


@pytest.fixture
def one_thread():
    """Torch on one thread: tiny models gain nothing from a second, and on a shared 2-core
    machine the second spins against other processes (convolutions 20x slower, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
