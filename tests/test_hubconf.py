"""torch.hub entry points in hubconf.py, loaded the way users load them."""

import importlib.util
import os

import pytest
import torch

from slowvid.models import count_parameters

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name, **kwargs):
    return torch.hub.load(REPO, name, source="local", **kwargs)


def test_every_architecture_is_listed():
    # torch.hub.list reads only GitHub repos; list the entry points as it does: public callables
    spec = importlib.util.spec_from_file_location("hubconf", os.path.join(REPO, "hubconf.py"))
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    names = {n for n in dir(hubconf) if callable(getattr(hubconf, n)) and not n.startswith("_")}
    assert {"slowfast_r50", "slow_r50", "x3d_s", "csn_r101", "r2plus1d_r50"} <= names
    assert {"mvit_base_16x4", "c2d_r50", "i3d_r50"} <= names
    assert {"videomae_vit_b_16x4", "mae_st_vit_l_16x4", "timesformer_8x32"} <= names
    assert {"timesformer_hr_16x16", "timesformer_l_96x4", "rev_mvit_b_16x4"} <= names


def test_entry_point_builds_the_zoo_model_with_the_requested_head():
    model = _load("x3d_xs", num_classes=10)
    # the published 3.79 M is for 400 classes: the head's 2048-wide projection has 390 fewer rows
    assert round((count_parameters(model) + 390 * (2048 + 1)) / 1e6, 2) == 3.79
    assert model([torch.randn(1, 3, 4, 64, 64)]).shape == (1, 10)


def test_weights_argument_loads_a_local_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = _load("x3d_xs", num_classes=7)
    path = tmp_path / "x3d_xs.pyth"
    torch.save({"model_state": source.state_dict()}, path)
    torch.manual_seed(1)
    loaded = _load("x3d_xs", num_classes=7, weights=str(path)).eval()
    clip = [torch.randn(1, 3, 4, 64, 64)]
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), source.eval()(clip))


def test_pretrained_without_weights_is_an_error():
    with pytest.raises(ValueError, match="hosts no weights; pass weights="):
        _load("slow_r50", pretrained=True)


def test_entry_points_are_the_hub_variants_of_the_table():
    from slowvid.model_zoo import VARIANTS, hub_variants

    spec = importlib.util.spec_from_file_location("hubconf", os.path.join(REPO, "hubconf.py"))
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert hubconf.ARCHITECTURES == {n: v.config for n, v in hub_variants().items()}
    for name in hub_variants():
        assert (
            callable(getattr(hubconf, name))
            and VARIANTS[name].config in getattr(hubconf, name).__doc__
        )
