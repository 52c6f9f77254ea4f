"""Shared test settings: CPU only, few threads, GPU tests skipped without a GPU."""

import pytest
import torch

# Two cores in CI: more intra-op threads than cores only adds contention.
torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
