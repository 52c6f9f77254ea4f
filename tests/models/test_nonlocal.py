"""Non-local blocks: the block itself, and I3D NLN built from NONLOCAL.* keys."""

import os

import pytest
import torch

from slowvid.config import load_config
from slowvid.models import build_model, count_parameters
from slowvid.models.blocks import NonLocal

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _reference(block: NonLocal, x: torch.Tensor) -> torch.Tensor:
    """The embedded-Gaussian formula, position by position (paper eq. 1-3)."""
    b, c, t, h, w = x.shape
    theta = block.conv_theta(x).flatten(2)  # (B, C', N)
    pooled = block.pool(x) if block.pool is not None else x
    phi, g = block.conv_phi(pooled).flatten(2), block.conv_g(pooled).flatten(2)
    weights = torch.einsum("bci,bcj->bij", theta, phi) / theta.shape[1] ** 0.5
    y = torch.einsum("bij,bcj->bci", weights.softmax(-1), g).reshape(b, -1, t, h, w)
    return x + block.bn(block.conv_out(y))


@pytest.mark.parametrize("pool_size", [(1, 2, 2), (1, 1, 1)])
def test_block_matches_the_formula_and_starts_as_identity(pool_size):
    torch.manual_seed(0)
    block = NonLocal(8, 4, pool_size).eval()
    x = torch.randn(2, 8, 3, 4, 6)
    block.zero_init_final_norm()
    torch.testing.assert_close(block(x), x)  # residual branch silenced at initialisation
    torch.nn.init.normal_(block.bn.weight)
    out = block(x)
    assert not torch.allclose(out, x)
    torch.testing.assert_close(out, _reference(block, x), rtol=1e-5, atol=1e-5)


def test_i3d_nln_places_blocks_and_keeps_checkpoint_names():
    plain = build_model(load_config(os.path.join(REPO, "configs/Kinetics/I3D_8x8_R50.yaml")))
    nln = build_model(load_config(os.path.join(REPO, "configs/Kinetics/I3D_NLN_8x8_R50.yaml")))
    names = [n for n, m in nln.named_modules() if isinstance(m, NonLocal)]
    assert names == [
        "stages.1.nonlocal1",
        "stages.1.nonlocal3",
        "stages.2.nonlocal1",
        "stages.2.nonlocal3",
        "stages.2.nonlocal5",
    ]
    # Every plain I3D key is still there: I3D checkpoints initialise an NLN model.
    assert set(plain.state_dict()) <= set(nln.state_dict())
    # Per block at width C: three C -> C/2 and one C/2 -> C 1x1x1 convs with biases, and a norm.
    per_block = {c: 3 * (c * c // 2 + c // 2) + (c // 2 * c + c) + 2 * c for c in (512, 1024)}
    added = 2 * per_block[512] + 3 * per_block[1024]
    assert count_parameters(nln) - count_parameters(plain) == added == 7_358_464
    with torch.no_grad():
        assert nln.eval()([torch.randn(1, 3, 8, 64, 64)]).shape == (1, 400)


def test_location_outside_the_stage_names_the_key():
    opts = ["NONLOCAL.LOCATION", "[[[]], [[4]], [[]], [[]]]"]
    with pytest.raises(ValueError, match="NONLOCAL.LOCATION: blocks \\[4\\]"):
        build_model(load_config(os.path.join(REPO, "configs/Kinetics/I3D_8x8_R50.yaml"), opts))
