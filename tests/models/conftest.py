"""Config factories shared by the model tests."""

import pytest
import torch

from slowvid.config import get_cfg


def _cfg(model: str = "SlowFast", arch: str = "slowfast", depth: int = 50, **overrides):
    """A default cfg for ``model`` / ``arch``; ``overrides`` maps "NODE.KEY" to a value."""
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME = model
    cfg.MODEL.ARCH = arch
    cfg.RESNET.DEPTH = depth
    cfg.DATA.INPUT_CHANNEL_NUM = [3, 3] if arch == "slowfast" else [3]
    for key, value in overrides.items():
        node, leaf = key.split(".")
        setattr(cfg[node], leaf, value)
    return cfg


@pytest.fixture
def make_cfg():
    """``make_cfg(model, arch, depth, **{"NODE.KEY": value})`` -> CfgNode."""
    return _cfg


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
