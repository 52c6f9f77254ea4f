"""A tiny generated data set and the overrides for a tiny SlowFast run on it."""

import os

import pytest
from demo_config import DEMO_CFG, REFERENCE_OPTS, demo_opts

from slowvid.data.demo import DemoSpec, make_demo_data


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> str:
    """8 classes x (3 train, 1 val, 1 test) real H.264 videos, 48 px, 24 frames."""
    root = str(tmp_path_factory.mktemp("tiny_demo"))
    spec = DemoSpec(train_per_class=3, val_per_class=1, test_per_class=1, size=48, num_frames=24)
    make_demo_data(root, spec, num_workers=2)
    return root


@pytest.fixture
def tiny_opts(tiny_data, tmp_path):
    """Build the overrides of a seconds-long SlowFast run writing into a fresh OUTPUT_DIR."""

    def make(**overrides) -> list[str]:
        return demo_opts(tiny_data, str(tmp_path / "run"), **overrides)

    return make


@pytest.fixture(scope="session")
def ddp_reference(tiny_data, tmp_path_factory) -> str:
    """OUTPUT_DIR of a 2-process DDP run (NUM_CPU_PROCESSES 2) of REFERENCE_OPTS, trained
    and tested."""
    from slowvid import engine
    from slowvid.config import load_config
    from slowvid.distributed import launch_job

    out = str(tmp_path_factory.mktemp("ddp_reference"))
    opts = demo_opts(tiny_data, out, NUM_CPU_PROCESSES=2, NUM_GPUS=0, **REFERENCE_OPTS)
    # One thread per process, as torchrun's workers get: the same summation order, so runs
    # launched either way can be compared bit for bit.
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        launch_job(load_config(DEMO_CFG, opts), engine.train_and_test)
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return out
