"""torch.export of zoo architectures: the exported program computes what the eager model does."""

import os

import pytest
import torch

from slowvid.config import load_config
from slowvid.models import build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# config -> per-pathway clip of one test view, shrunk to 64 px to keep the test cheap
CASES = {
    "X3D_S.yaml": [(3, 13, 64, 64)],
    "SLOWFAST_8x8_R50.yaml": [(3, 8, 64, 64), (3, 32, 64, 64)],
}


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("config", list(CASES))
def test_exported_program_matches_eager_for_any_batch(config):
    torch.manual_seed(0)
    model = build_model(load_config(os.path.join(REPO, "configs/Kinetics", config))).eval()
    clips = [torch.randn(2, *shape) for shape in CASES[config]]
    batch = torch.export.Dim("batch", min=1, max=64)
    exported = torch.export.export(
        model, (clips,), dynamic_shapes=([{0: batch}] * len(clips),)
    ).module()

    with torch.no_grad():
        for size in (2, 3):  # 3 was not seen while exporting
            inputs = [torch.randn(size, *shape) for shape in CASES[config]]
            expected = model(inputs)
            assert expected.shape == (size, 400)
            torch.testing.assert_close(exported(inputs), expected, rtol=1e-5, atol=1e-5)
