"""A tiny generated video set for the Lightning and example tests."""

import pytest

from slowvid.data.demo import DemoSpec, make_demo_data


@pytest.fixture(scope="session")
def library_data(tmp_path_factory) -> str:
    """8 classes x (2 train, 1 val, 1 test) real H.264 videos, 48 px, 24 frames."""
    root = str(tmp_path_factory.mktemp("library_demo"))
    spec = DemoSpec(train_per_class=2, val_per_class=1, test_per_class=1, size=48, num_frames=24)
    make_demo_data(root, spec, num_workers=2)
    return root
