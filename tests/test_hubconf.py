"""torch.hub entry points in hubconf.py, loaded the way users load them.

Every PyTorchVideo hub name is checked against PyTorchVideo's own hub function: its model is
built with random weights, saved as PyTorchVideo saves checkpoints, loaded through slowvid's
entry with ``weights=``, and both are called the PyTorchVideo way (a tensor, a list for
SlowFast, ``(clips, boxes)`` for the detectors, an image for ``mvit_base_16``) on the same
input; the outputs, activations included, must agree.

Inputs are small (64 px, few frames). PyTorchVideo's CNN heads average with a fixed kernel
sized for the released clip (e.g. ``(8, 7, 7)``), followed by a global average; those pools
are made adaptive to the same output (equal at the released size), and MViTs are built for the
small clip with PyTorchVideo's own ``spatial_size`` / ``temporal_size``. PyTorchVideo builds
its MViT attention-pool LayerNorms with eps 1e-5 where slowvid uses 1e-6 (the released
PySlowFast value); the test sets PyTorchVideo's to 1e-6 (tests/checkpoint/test_converters.py
bounds the effect of that eps alone).
"""

import importlib.util
import os
import re

import pytest
import torch
from torch import nn

from slowvid.checkpoint.converters import convert_checkpoint
from slowvid.models import count_parameters
from slowvid.utils.pytorchvideo_compat import import_pytorchvideo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-4


def _load(name, **kwargs):
    return torch.hub.load(REPO, name, source="local", **kwargs)


def _hubconf():
    spec = importlib.util.spec_from_file_location("hubconf", os.path.join(REPO, "hubconf.py"))
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    return hubconf


@pytest.fixture(autouse=True)
def _one_thread():
    # Small convolutions run faster on one thread on the shared 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_entry_points_are_pytorchvideos_names_and_the_zoo():
    # torch.hub.list reads only GitHub repos; list the entry points as it does: public callables
    hubconf = _hubconf()
    names = {n for n in dir(hubconf) if callable(getattr(hubconf, n)) and not n.startswith("_")}
    _, hub = import_pytorchvideo()
    pytorchvideo_names = {n for n in dir(hub) if callable(getattr(hub, n)) and n[0] != "_"}
    assert len(pytorchvideo_names) == 19
    assert set(hubconf.PYTORCHVIDEO_NAMES) == pytorchvideo_names
    assert names == set(hubconf.ENTRIES)
    assert pytorchvideo_names | {"slow_r50_4x16", "slowfast_r50_4x16"} <= names
    assert {"videomae_vit_b_16x4", "mae_st_vit_l_16x4", "timesformer_8x32"} <= names
    assert {"timesformer_hr_16x16", "timesformer_l_96x4", "rev_mvit_b_16x4"} <= names


def _clip(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _boxes(batch: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(5, 2, generator=g) * size * 0.6
    wh = torch.rand(5, 2, generator=g) * size * 0.4 + 4
    index = torch.arange(5).remainder(batch).unsqueeze(1).float()
    return torch.cat([index, xy, xy + wh], dim=1)


_SINGLE = (1, 3, 4, 64, 64)
_SLOWFAST = [(1, 3, 4, 64, 64), (1, 3, 16, 64, 64)]
_SMALL_MVIT = {"spatial_size": 64, "temporal_size": 4}
# name -> (inputs in PyTorchVideo's convention, size kwargs given to both hubs)
CASES = {
    "c2d_r50": (lambda: _clip(*_SINGLE), {}),
    "i3d_r50": (lambda: _clip(*_SINGLE), {}),
    "slow_r50": (lambda: _clip(*_SINGLE), {}),
    "slow_r50_detection": (lambda: (_clip(2, 3, 4, 64, 64), _boxes(2, 64)), {}),
    "slowfast_r50": (lambda: [_clip(*s, seed=i) for i, s in enumerate(_SLOWFAST)], {}),
    "slowfast_r101": (lambda: [_clip(*s, seed=i) for i, s in enumerate(_SLOWFAST)], {}),
    "slowfast_16x8_r101_50_50": (
        lambda: [_clip(*s, seed=i) for i, s in enumerate(_SLOWFAST)],
        {},
    ),
    "slowfast_r50_detection": (
        lambda: ([_clip(2, 3, 4, 64, 64), _clip(2, 3, 16, 64, 64, seed=2)], _boxes(2, 64)),
        {},
    ),
    "csn_r101": (lambda: _clip(1, 3, 8, 64, 64), {}),
    "r2plus1d_r50": (lambda: _clip(1, 3, 8, 64, 64), {}),
    "x3d_xs": (lambda: _clip(*_SINGLE), {}),
    "x3d_s": (lambda: _clip(*_SINGLE), {}),
    "x3d_m": (lambda: _clip(*_SINGLE), {}),
    "x3d_l": (lambda: _clip(*_SINGLE), {}),
    "efficient_x3d_xs": (lambda: _clip(*_SINGLE), {}),
    "efficient_x3d_s": (lambda: _clip(*_SINGLE), {}),
    "mvit_base_16x4": (lambda: _clip(*_SINGLE), _SMALL_MVIT),
    "mvit_base_32x3": (lambda: _clip(*_SINGLE), _SMALL_MVIT),
    # PyTorchVideo's builder defaults to 400 classes for this ImageNet model; slowvid's to 1000.
    "mvit_base_16": (lambda: _clip(1, 3, 64, 64), {"spatial_size": 64, "head_num_classes": 1000}),
}
# Numerically checked elsewhere or through a sibling (the R101s share every operator with the
# R50s; MViT-B 32x3 is 16x4 at this clip size; csn_r101 in test_converters.py): their
# architecture is checked by the weights alone, on the meta device.
_BY_WEIGHTS_ONLY = {"slowfast_r101", "slowfast_16x8_r101_50_50", "csn_r101", "mvit_base_32x3"}


def _adaptive_head_pools(model: nn.Module) -> None:
    """PyTorchVideo's fixed head pools -> adaptive pools with the output they have at the
    released clip size: 1 along each axis the kernel spans, the input size where it is 1."""
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.AvgPool3d):
            size = tuple(1 if k > 1 else None for k in module.kernel_size)
            parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
            setattr(parent, name.rpartition(".")[2], nn.AdaptiveAvgPool3d(size))


def _randomise(model: nn.Module) -> nn.Module:
    """Random norms, classifiers and embeddings (the builders initialise norms to the identity,
    which would hide a swapped norm), at scales that keep outputs O(1)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=g) * 0.5 + 0.3)
                module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.1)
                module.running_mean.copy_(torch.randn(module.num_features, generator=g) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=g) + 0.5)
            elif isinstance(module, nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=g) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.1)
            elif isinstance(module, nn.Linear):
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=g) * module.in_features**-0.5
                )
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.1)
        for name, param in model.named_parameters():
            if "pos_embed" in name or "cls_token" in name:
                param.copy_(torch.randn(param.shape, generator=g) * 0.5)
    return model.eval()


def _call(model, inputs):
    # PyTorchVideo's SlowFast overwrites the list it is given: pass each model its own copy.
    if isinstance(inputs, tuple):
        clips, boxes = inputs
        return model(list(clips) if isinstance(clips, list) else clips, boxes)
    return model(list(inputs) if isinstance(inputs, list) else inputs)


@pytest.mark.parametrize("name", list(CASES))
def test_pytorchvideo_weights_fill_the_entry_point_exactly(name):
    """Every tensor of PyTorchVideo's model lands on one of slowvid's, shape for shape, and
    none is left over: the layer structure, widths and kernels agree (built on meta)."""
    _, sizes = CASES[name]
    _, hub = import_pytorchvideo()
    # PyTorchVideo's MViT builder reads tensor values (drop-path rates), which meta cannot.
    with torch.device("cpu" if name.startswith("mvit") else "meta"):
        source = getattr(hub, name)(**sizes).state_dict()
    with torch.device("meta"):
        model = _load(name, **sizes)
    conversion = convert_checkpoint({"model_state": source}, model)
    assert conversion.source == "pytorchvideo"
    target = model.state_dict()
    assert sorted(set(conversion.state) - set(target)) == []
    assert sorted(set(target) - set(conversion.state)) == []
    wrong = {k: (v.shape, target[k].shape) for k, v in conversion.state.items()}
    assert {k: s for k, s in wrong.items() if s[0] != s[1]} == {}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", [n for n in CASES if n not in _BY_WEIGHTS_ONLY])
def test_pytorchvideo_entry_point_parity(name, tmp_path):
    make_inputs, sizes = CASES[name]
    _, hub = import_pytorchvideo()
    torch.manual_seed(0)
    source = getattr(hub, name)(**sizes)
    _adaptive_head_pools(source)
    source = _randomise(source)
    for n, m in source.named_modules():
        if re.search(r"attn\.norm_[qkv]$", n):
            m.eps = 1e-6
    inputs = make_inputs()
    with torch.no_grad():
        reference = _call(source, inputs)
    path = tmp_path / f"{name}.pyth"
    state = source.state_dict()
    # PyTorchVideo releases its mobile X3D as a bare state dict, the others under model_state.
    torch.save(state if name.startswith("efficient") else {"model_state": state}, path)
    del source

    model = _load(name, weights=str(path), **sizes).eval()
    with torch.no_grad():
        out = _call(model, inputs)
    assert out.shape == reference.shape
    # A wrong mapping must not hide behind constant outputs (softmax ones included).
    assert reference.std() > 0.1 * reference.abs().mean(), reference
    scale = reference.abs().max().item()
    torch.testing.assert_close(out, reference, rtol=TOL, atol=TOL * scale)


def test_entry_point_builds_the_zoo_model_with_the_requested_head():
    model = _load("x3d_xs", num_classes=10, head_activation=None).eval()
    # the published 3.79 M is for 400 classes: the head's 2048-wide projection has 390 fewer rows
    assert round((count_parameters(model) + 390 * (2048 + 1)) / 1e6, 2) == 3.79
    clip = torch.randn(1, 3, 4, 64, 64)
    logits = model(clip)
    assert logits.shape == (1, 10)
    # a one-element list is slowvid's own convention and still works
    torch.testing.assert_close(model([clip]), logits)
    probs = _load("x3d_xs", model_num_class=10).eval()(clip)  # PyTorchVideo's default: softmax
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(1))


def test_weights_argument_loads_a_local_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = _load("x3d_xs", num_classes=7)
    path = tmp_path / "x3d_xs.pyth"
    torch.save({"model_state": source.state_dict()}, path)
    torch.manual_seed(1)
    loaded = _load("x3d_xs", num_classes=7, weights=str(path)).eval()
    clip = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), source.eval()(clip))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="hosts no weights; pass weights="):
        _load("slow_r50", pretrained=True)
    with pytest.raises(TypeError, match=r"unexpected arguments \['input_clip_length'\]"):
        _load("x3d_xs", input_clip_length=4)
    with pytest.raises(ValueError, match="head_activation must be one of"):
        _load("x3d_xs", head_activation="relu")
    model = _load("slow_r50", num_classes=5)
    with pytest.raises(ValueError, match=r"takes \(B, C, T, H, W\) clips.*\(1, 3, 64, 64\)"):
        model(torch.randn(1, 3, 64, 64))


def test_entry_points_read_the_variant_table():
    from slowvid.model_zoo import VARIANTS, hub_variants

    spec = importlib.util.spec_from_file_location("hubconf", os.path.join(REPO, "hubconf.py"))
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    for name in hub_variants():  # every hub row of the table has its entry point, by its name
        assert hubconf.ENTRIES[name].variant == name
    for name, entry in hubconf.ENTRIES.items():
        assert callable(getattr(hubconf, name))
        if entry.variant is not None:
            assert VARIANTS[entry.variant].config in getattr(hubconf, name).__doc__
            assert hubconf.ARCHITECTURES[name] == VARIANTS[entry.variant].config
