"""Foreign checkpoints load into slowvid models with the same logits as their source.

PyTorchVideo models are built by PyTorchVideo itself (its hub builders or ``create_*`` with the
hub settings) with random weights; tests/test_hubconf.py checks every PyTorchVideo hub entry
this way through slowvid's hubconf, so only CSN and MViT's eps bound remain here. PySlowFast,
Caffe2 and MMAction2 files are synthesised from a random slowvid model through inverse rename
tables, whose output must be the key list and shapes PySlowFast's / MMAction2's own code builds
(``foreign_keys/``, checked on its own in ``test_foreign_key_lists.py``); ImageNet weights come
from torchvision's ResNet-50. Every file goes through ``load_checkpoint``, the path
TRAIN/TEST.CHECKPOINT_FILE_PATH take.

Inputs are small (64 px, few frames) to keep the file fast on two cores; PyTorchVideo's fixed
head pools are sized for them. Batch norms, layer norms and classifiers are randomised (the
builders initialise norms to the identity, which would hide a swapped norm) at scales that keep
logits O(1), and every comparison checks the logits vary, so a wrong mapping cannot pass.

Known limits. PyTorchVideo's MViT builds its attention-pooling LayerNorms with eps 1e-5, where
PySlowFast and slowvid use 1e-6 throughout; eps is not a weight, so no conversion can carry it.
The MViT test sets PyTorchVideo's to 1e-6 to check the mapping to 1e-4, and bounds the effect
of the eps alone separately. An MMAction2 SlowFast cannot match MMAction2's own outputs: its
laterals are a bare convolution, while slowvid's add a norm (filled with the identity) and a
ReLU (which cannot be removed). Its test compares against a slowvid model whose lateral norms
are the identity, and asserts the warning.
"""

import logging
import os
import pickle
import re

import numpy as np
import pytest
import torch
from key_lists import read_key_list
from torch import nn

from slowvid.checkpoint import CheckpointMismatchError, CheckpointReadError, load_checkpoint
from slowvid.config import load_config
from slowvid.models import build_model
from slowvid.utils.pytorchvideo_compat import import_pytorchvideo

TOL = 1e-4


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random norms, classifiers and embeddings; convolutions keep their (scaled) init."""
    g = torch.Generator().manual_seed(seed)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    def normal(t, std):
        t.copy_(torch.randn(t.shape, generator=g) * std)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                uniform(module.weight, 0.3, 0.8)
                normal(module.bias, 0.1)
                normal(module.running_mean, 0.1)
                uniform(module.running_var, 0.5, 1.5)
            elif isinstance(module, nn.LayerNorm):
                uniform(module.weight, 0.5, 1.5)
                normal(module.bias, 0.1)
            elif isinstance(module, nn.Linear):
                normal(module.weight, module.in_features**-0.5)
                if module.bias is not None:
                    normal(module.bias, 0.1)
        for name, param in model.named_parameters():
            if "pos_embed" in name or "cls_token" in name:
                normal(param, 0.5)
    return model.eval()


def _slowvid(cfg_file: str, *opts) -> nn.Module:
    cfg = load_config(f"configs/Kinetics/{cfg_file}", list(opts))
    return build_model(cfg).eval()


def _assert_same_logits(model: nn.Module, path: str, inputs: list, reference: torch.Tensor):
    load_checkpoint(path, model)
    with torch.no_grad():
        out = model(inputs)
    assert out.shape == reference.shape
    # A wrong mapping must not hide behind constant logits.
    assert reference.std() > 0.05, reference
    diff = (out - reference).abs().max().item()
    print(f"max abs logit difference {diff:.3g} (logit std {reference.std():.3g})")
    assert diff <= TOL, f"max abs logit difference {diff:.3g}"
    return diff


def _clip(*shape, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# name -> (slowvid config, overrides, PyTorchVideo builder, input shapes)
PTV_CASES = {
    "csn_r101": (
        "CSN_32x2_R101.yaml",
        [],
        # hub.csn_r101's settings but a pool sized for the small clip.
        lambda m, h: m.csn.create_csn(
            model_depth=101, stem_pool=nn.MaxPool3d, head_pool_kernel_size=(1, 2, 2)
        ),
        [(1, 3, 8, 64, 64)],
    ),
    "mvit_base_16x4": (
        "MVIT_B_16x4.yaml",
        ["DATA.TRAIN_CROP_SIZE", "64"],
        lambda m, h: h.mvit_base_16x4(spatial_size=64),
        [(1, 3, 16, 64, 64)],
    ),
}
_SLOW = {"csn_r101", "mvit_base_16x4"}


# Logit change from PyTorchVideo's attention-pool LayerNorm eps (1e-5) vs slowvid's (1e-6).
MVIT_EPS_BOUND = 2e-3


def _attention_pool_norms(model: nn.Module) -> list[nn.LayerNorm]:
    return [m for n, m in model.named_modules() if re.search(r"attn\.norm_[qkv]$", n)]


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW else n for n in PTV_CASES]
)
def test_pytorchvideo_parity(name, tmp_path):
    cfg_file, opts, builder, shapes = PTV_CASES[name]
    models, hub = import_pytorchvideo()
    torch.manual_seed(0)
    source = _randomise(builder(models, hub))
    inputs = [_clip(*s, seed=i) for i, s in enumerate(shapes)]
    pool_norms = _attention_pool_norms(source)
    if pool_norms:
        with torch.no_grad():
            as_released = source(inputs[0])
        assert {m.eps for m in pool_norms} == {1e-5}
        for m in pool_norms:
            m.eps = 1e-6
    with torch.no_grad():
        # PyTorchVideo's SlowFast takes (and overwrites) a list; its other nets take the tensor.
        reference = source(list(inputs) if len(inputs) > 1 else inputs[0])
    path = str(tmp_path / f"{name}.pyth")
    torch.save({"model_state": source.state_dict()}, path)
    _assert_same_logits(_slowvid(cfg_file, *opts), path, inputs, reference)
    if pool_norms:
        eps_effect = (as_released - reference).abs().max().item()
        print(f"PyTorchVideo attention-pool eps 1e-5 vs 1e-6: {eps_effect:.3g}")
        assert eps_effect <= MVIT_EPS_BOUND


# --------------------------------------------------------------------------------------------
# Files synthesised from a slowvid model through inverse tables (slowvid name -> foreign name).
# --------------------------------------------------------------------------------------------


def _pathway(m: re.Match) -> str:
    return "1" if m["p"] == "fast_" else "0"


# PySlowFast's ResBlock / BottleneckTransform / X3DTransform names for slowvid's block parts.
_PSF_BLOCK = {
    "conv_a": "branch2.a",
    "conv_b": "branch2.b",
    "conv_c": "branch2.c",
    "norm_a": "branch2.a_bn",
    "norm_b": "branch2.b_bn",
    "norm_c": "branch2.c_bn",
    "shortcut.0": "branch1",
    "shortcut.1": "branch1_bn",
    "se.fc1": "branch2.se.fc1",
    "se.fc2": "branch2.se.fc2",
}
_P = r"(?P<p>slow_|fast_)?"
_R = r"(?P<r>\w+)"
TO_PYSLOWFAST = [
    (
        rf"{_P}stages\.(?P<s>\d)\.nonlocal(?P<i>\d+)\.(?P<m>\w+)\.{_R}",
        lambda m: f"s{int(m['s']) + 2}.pathway{_pathway(m)}_nonlocal{m['i']}.{m['m']}.{m['r']}",
    ),
    (rf"{_P}stem\.conv_xy\.{_R}", lambda m: f"s1.pathway{_pathway(m)}_stem.conv_xy.{m['r']}"),
    (rf"{_P}stem\.conv(_t)?\.{_R}", lambda m: f"s1.pathway{_pathway(m)}_stem.conv.{m['r']}"),
    (rf"{_P}stem\.norm\.{_R}", lambda m: f"s1.pathway{_pathway(m)}_stem.bn.{m['r']}"),
    (
        rf"{_P}stages\.(?P<s>\d)\.(?P<i>\d+)\.(?P<m>.+)\.{_R}",
        lambda m: (
            f"s{int(m['s']) + 2}.pathway{_pathway(m)}_res{m['i']}.{_PSF_BLOCK[m['m']]}.{m['r']}"
        ),
    ),
    (rf"fusions\.(?P<f>\d)\.conv\.{_R}", lambda m: f"s{int(m['f']) + 1}_fuse.conv_f2s.{m['r']}"),
    (rf"fusions\.(?P<f>\d)\.norm\.{_R}", lambda m: f"s{int(m['f']) + 1}_fuse.bn.{m['r']}"),
    (rf"head\.proj\.{_R}", lambda m: f"head.projection.{m['r']}"),
    (rf"head\.norm_5\.{_R}", lambda m: f"head.conv_5_bn.{m['r']}"),
    (rf"patch_embed\.{_R}", lambda m: f"patch_embed.proj.{m['r']}"),
    (
        rf"blocks\.(?P<b>\d+)\.attn\.pool_(?P<x>[qkv])\.pool\.{_R}",
        lambda m: f"blocks.{m['b']}.attn.pool_{m['x']}.{m['r']}",
    ),
    (
        rf"blocks\.(?P<b>\d+)\.attn\.pool_(?P<x>[qkv])\.norm\.{_R}",
        lambda m: f"blocks.{m['b']}.attn.norm_{m['x']}.{m['r']}",
    ),
]

# MMAction2's ResNet3d / ResNet3dSlowFast names.
_MMA_PATH = {None: "", "slow_": "slow_path.", "fast_": "fast_path."}
_MMA_BLOCK = {
    "conv_a": "conv1.conv",
    "conv_b": "conv2.conv",
    "conv_c": "conv3.conv",
    "norm_a": "conv1.bn",
    "norm_b": "conv2.bn",
    "norm_c": "conv3.bn",
    "shortcut.0": "downsample.conv",
    "shortcut.1": "downsample.bn",
}
TO_MMACTION2 = [
    (rf"{_P}stem\.conv\.{_R}", lambda m: f"backbone.{_MMA_PATH[m['p']]}conv1.conv.{m['r']}"),
    (rf"{_P}stem\.norm\.{_R}", lambda m: f"backbone.{_MMA_PATH[m['p']]}conv1.bn.{m['r']}"),
    (
        rf"{_P}stages\.(?P<s>\d)\.(?P<i>\d+)\.(?P<m>.+)\.{_R}",
        lambda m: (
            f"backbone.{_MMA_PATH[m['p']]}layer{int(m['s']) + 1}.{m['i']}."
            f"{_MMA_BLOCK[m['m']]}.{m['r']}"
        ),
    ),
    (rf"fusions\.0\.conv\.{_R}", lambda m: f"backbone.slow_path.conv1_lateral.conv.{m['r']}"),
    (
        rf"fusions\.(?P<f>\d)\.conv\.{_R}",
        lambda m: f"backbone.slow_path.layer{m['f']}_lateral.conv.{m['r']}",
    ),
    # MMAction2's laterals have no norm.
    (r"fusions\.\d\.norm\..*", lambda m: None),
    (rf"head\.proj\.{_R}", lambda m: f"cls_head.fc_cls.{m['r']}"),
]


def _rename(state: dict, table: list) -> dict:
    out = {}
    for key, value in state.items():
        for pattern, name in table:
            match = re.fullmatch(pattern, key)
            if match:
                key = name(match)
                break
        if key is not None:
            out[key] = value
    return out


def _fuse_qkv(state: dict) -> dict:
    """PySlowFast's MViT keeps q, k, v as one ``attn.qkv`` linear layer."""
    out = {}
    for key, value in state.items():
        match = re.fullmatch(r"(blocks\.\d+\.attn)\.q\.(weight|bias)", key)
        if match:
            pre, param = match.groups()
            parts = [state[f"{pre}.{x}.{param}"] for x in "qkv"]
            out[f"{pre}.qkv.{param}"] = torch.cat(parts)
        elif not re.fullmatch(r"blocks\.\d+\.attn\.[kv]\.(weight|bias)", key):
            out[key] = value
    return out


def _logits(model: nn.Module, inputs: list) -> torch.Tensor:
    with torch.no_grad():
        return model(inputs)


def _assert_layout_is_theirs(state: dict, key_list: str) -> None:
    """The synthesised names and shapes are those PySlowFast's / MMAction2's code builds."""
    theirs = read_key_list(key_list)
    assert state.keys() == theirs.keys(), set(state) ^ set(theirs)
    for key, value in state.items():
        if "pos" not in key:  # position tables follow the (small) input size of these tests
            assert value.shape == theirs[key].shape, key


PYSLOWFAST_CASES = {
    "slowfast_r50": ("SLOWFAST_8x8_R50.yaml", [], [(1, 3, 4, 64, 64), (1, 3, 16, 64, 64)]),
    "x3d_s": ("X3D_S.yaml", [], [(1, 3, 4, 64, 64)]),
    "mvit_b": ("MVIT_B_16x4.yaml", ["DATA.TRAIN_CROP_SIZE", "64"], [(1, 3, 16, 64, 64)]),
    "i3d_nln": ("I3D_NLN_8x8_R50.yaml", [], [(1, 3, 8, 64, 64)]),
    "mvitv2_s": ("MVITv2_S_16x4.yaml", ["DATA.TRAIN_CROP_SIZE", "64"], [(1, 3, 16, 64, 64)]),
}


# Each case's layout as PySlowFast's own code builds it (foreign_keys/README.md).
PYSLOWFAST_KEY_LISTS = {
    "slowfast_r50": "pyslowfast_SLOWFAST_8x8_R50",
    "x3d_s": "pyslowfast_X3D_S",
    "mvit_b": "pyslowfast_MVIT_B_16x4_CONV",
    "i3d_nln": "pyslowfast_I3D_NLN_8x8_R50",
    "mvitv2_s": "pyslowfast_MVITv2_S_16x4",
}
MMACTION2_KEY_LISTS = {
    "SLOW_8x8_R50.yaml": "mmaction2_slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb",
    "SLOWFAST_8x8_R50.yaml": "mmaction2_slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb",
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n != "x3d_s" else n for n in PYSLOWFAST_CASES],
)
def test_pyslowfast_round_trip(name, tmp_path):
    cfg_file, opts, shapes = PYSLOWFAST_CASES[name]
    torch.manual_seed(0)
    source = _randomise(_slowvid(cfg_file, *opts))
    inputs = [_clip(*s, seed=i) for i, s in enumerate(shapes)]
    state = _fuse_qkv(_rename(source.state_dict(), TO_PYSLOWFAST))
    _assert_layout_is_theirs(state, PYSLOWFAST_KEY_LISTS[name])
    path = str(tmp_path / "pyslowfast.pyth")
    torch.save({"epoch": 196, "model_state": state, "cfg": "MODEL:\n  ARCH: x\n"}, path)
    _assert_same_logits(_slowvid(cfg_file, *opts), path, inputs, _logits(source, inputs))


_C2_BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
_C2_BLOCK = {"a": "branch2a", "b": "branch2b", "c": "branch2c"}


def _to_caffe2(state: dict, last_fast_block: dict[int, int]) -> dict[str, np.ndarray]:
    """slowvid SlowFast names -> PySlowFast's Caffe2 blob names (``t_`` = fast pathway)."""
    blobs = {}
    for key, value in state.items():
        *module, param = key.split(".")
        if param == "num_batches_tracked":
            continue
        is_norm = module[-1].startswith("norm") or module[-1] == "1"
        suffix = _C2_BN[param] if is_norm else {"weight": "w", "bias": "b"}[param]
        t = "t_" if module[0].startswith("fast_") else ""
        if module[0].endswith("stem"):
            name = f"{t}res_conv1_bn_{suffix}" if module[1] == "norm" else f"{t}conv1_{suffix}"
        elif module[0].endswith("stages"):
            s, i, part = int(module[1]) + 2, module[2], module[3]
            branch = "branch1" if part == "shortcut" else _C2_BLOCK[part[-1]]
            bn = "_bn" if is_norm else ""
            name = f"{t}res{s}_{i}_{branch}{bn}_{suffix}"
        elif module[0] == "fusions":
            f = int(module[1])
            base = f"t_res{f + 1}_{last_fast_block.get(f)}_branch2c_bn_subsample"
            base = "t_pool1_subsample" if f == 0 else base
            name = f"{base}_bn_{suffix}" if is_norm else f"{base}_{suffix}"
        else:
            name = f"pred_{suffix}"
        blobs[name] = value.numpy().copy()
    return blobs


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_caffe2_pickle_round_trip(tmp_path):
    torch.manual_seed(0)
    source = _randomise(_slowvid("SLOWFAST_8x8_R50.yaml"))
    inputs = [_clip(1, 3, 4, 64, 64, seed=0), _clip(1, 3, 16, 64, 64, seed=1)]
    last = {f: len(source.fast_stages[f - 1]) - 1 for f in range(1, 4)}
    blobs = _to_caffe2(source.state_dict(), last)
    assert {"conv1_w", "t_pool1_subsample_w", "res2_0_branch2a_bn_riv", "pred_w"} <= blobs.keys()
    # Optimizer blobs ride along in the released files and are dropped.
    blobs["res2_0_branch2a_w_momentum"] = np.zeros(3, dtype=np.float32)
    blobs["lr"] = np.array([0.1], dtype=np.float32)
    path = str(tmp_path / "SLOWFAST_8x8_R50.pkl")
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)
    _assert_same_logits(_slowvid("SLOWFAST_8x8_R50.yaml"), path, inputs, _logits(source, inputs))


def test_caffe2_pickle_refuses_code(tmp_path):
    path = str(tmp_path / "evil.pkl")
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": np.zeros(1)}, "x": print}, f)
    with pytest.raises(CheckpointReadError, match="not allowed"):
        load_checkpoint(path, nn.Linear(1, 1))


def _identity_lateral_norms(model: nn.Module) -> None:
    with torch.no_grad():
        for fusion in model.fusions:
            fusion.norm.weight.fill_(1.0)
            fusion.norm.bias.zero_()
            fusion.norm.running_mean.zero_()
            fusion.norm.running_var.fill_(1.0 - fusion.norm.eps)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "cfg_file, shapes",
    [
        ("SLOW_8x8_R50.yaml", [(1, 3, 4, 64, 64)]),
        pytest.param(
            "SLOWFAST_8x8_R50.yaml",
            [(1, 3, 4, 64, 64), (1, 3, 16, 64, 64)],
            marks=pytest.mark.slow,
        ),
    ],
)
def test_mmaction2_round_trip(cfg_file, shapes, tmp_path, caplog):
    torch.manual_seed(0)
    source = _randomise(_slowvid(cfg_file))
    two_pathway = hasattr(source, "fusions")
    if two_pathway:
        # MMAction2's laterals are a bare conv: only identity norms survive the trip.
        _identity_lateral_norms(source)
    inputs = [_clip(*s, seed=i) for i, s in enumerate(shapes)]
    state = _rename(source.state_dict(), TO_MMACTION2)
    _assert_layout_is_theirs(state, MMACTION2_KEY_LISTS[cfg_file])
    path = str(tmp_path / "mmaction2.pth")
    torch.save({"meta": {"epoch": 256}, "state_dict": state}, path)
    with caplog.at_level(logging.WARNING):
        _assert_same_logits(_slowvid(cfg_file), path, inputs, _logits(source, inputs))
    assert ("no ReLU" in caplog.text) == two_pathway


def _resnet50_2d() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return _randomise(torchvision.models.resnet50(weights=None))


@pytest.mark.timeout(120)
def test_imagenet_inflated_c2d_matches_2d_resnet(tmp_path):
    # C2D has no temporal kernel: on a clip of identical frames it is the 2D ResNet per frame.
    resnet = _resnet50_2d()
    image = _clip(1, 3, 64, 64)
    path = str(tmp_path / "resnet50.pth")
    torch.save(resnet.state_dict(), path)
    clip = image.unsqueeze(2).repeat(1, 1, 2, 1, 1)
    model = _slowvid("C2D_8x8_R50.yaml", "MODEL.NUM_CLASSES", "1000")
    _assert_same_logits(model, path, [clip], _logits(resnet, image))


@pytest.mark.timeout(120)
def test_imagenet_inflates_slow_pathway_and_skips_fast(tmp_path, caplog):
    resnet = _resnet50_2d()
    path = str(tmp_path / "resnet50.pth")
    torch.save(resnet.state_dict(), path)
    model = _slowvid("SLOWFAST_8x8_R50.yaml")
    fast_before = model.fast_stem.conv.weight.clone()
    with caplog.at_level(logging.WARNING):
        load_checkpoint(path, model)
    assert "fast pathway" in caplog.text and "fast_stem.conv" in caplog.text
    assert "fusions.0.conv" in caplog.text
    assert "head" in caplog.text  # 1000 ImageNet classes vs 400: the head keeps its init
    assert torch.equal(model.fast_stem.conv.weight, fast_before)
    w2d = resnet.layer3[0].conv1.weight  # res4 of Slow has temporal kernel 3
    w3d = model.slow_stages[2][0].conv_a.weight
    assert w3d.shape[2] == 3 and torch.allclose(w3d[:, : w2d.shape[1]].sum(2), w2d)
    # Input channels added by the laterals start at zero, so the slow pathway is the 2D net.
    assert w3d.shape[1] > w2d.shape[1] and not w3d[:, w2d.shape[1] :].any()


def test_mismatches_listed_in_one_error(tmp_path):
    torch.manual_seed(0)
    model = _slowvid("X3D_S.yaml")
    state = _rename(model.state_dict(), TO_PYSLOWFAST)
    del state["s2.pathway0_res0.branch2.a.weight"]
    state["s2.pathway0_res0.branch2.b.weight"] = torch.zeros(3, 3)
    state["s9.pathway0_nonlocal0.conv_g.weight"] = torch.zeros(1)  # renamed, but X3D has none
    state["s2.pathway0_mystery.weight"] = torch.zeros(1)  # matches no rule
    path = str(tmp_path / "broken.pyth")
    torch.save({"model_state": state}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(path, model)
    message = str(err.value)
    assert "converted from pyslowfast" in message
    assert "missing in checkpoint: stages.0.0.conv_a.weight" in message
    assert "stages.0.0.conv_b.weight (from s2.pathway0_res0.branch2.b.weight)" in message
    assert (
        "unexpected in checkpoint: stages.7.nonlocal0.conv_g.weight "
        "(from s9.pathway0_nonlocal0.conv_g.weight)" in message
    )
    assert "unexpected in checkpoint: s2.pathway0_mystery.weight" in message


def test_other_class_count_only_warns(tmp_path, caplog):
    torch.manual_seed(0)
    source = _randomise(_slowvid("SLOW_8x8_R50.yaml", "MODEL.NUM_CLASSES", "600"))
    path = str(tmp_path / "k600.pyth")
    torch.save({"model_state": _rename(source.state_dict(), TO_PYSLOWFAST)}, path)
    model = _slowvid("SLOW_8x8_R50.yaml")
    with caplog.at_level(logging.WARNING):
        load_checkpoint(path, model)
    assert "head.proj.weight (from head.projection.weight)" in caplog.text
    assert torch.equal(model.stem.conv.weight, source.stem.conv.weight)


def _tiny_slow(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    opts = ["RESNET.DEPTH", "18", "RESNET.WIDTH_PER_GROUP", "8", "MODEL.NUM_CLASSES", "5"]
    return _randomise(_slowvid("SLOW_8x8_R50.yaml", *opts), seed)


@pytest.mark.timeout(60)
def test_checkpoint_type_caffe2_reads_blobs_whatever_the_file_name(tmp_path):
    from slowvid.engine.jobs import _resume_or_initialise

    source, inputs = _tiny_slow(0), [_clip(1, 3, 4, 64, 64)]
    path = str(tmp_path / "released_model.bin")  # not .pkl: the key, not the name, decides
    with open(path, "wb") as f:
        pickle.dump({"blobs": _to_caffe2(source.state_dict(), {})}, f, protocol=2)
    opts = ["RESNET.DEPTH", "18", "RESNET.WIDTH_PER_GROUP", "8", "MODEL.NUM_CLASSES", "5"]
    opts += ["TRAIN.AUTO_RESUME", "False", "TRAIN.CHECKPOINT_FILE_PATH", path]
    cfg = load_config(
        "configs/Kinetics/SLOW_8x8_R50.yaml", opts + ["TRAIN.CHECKPOINT_TYPE", "caffe2"]
    )
    target = _tiny_slow(1)
    _resume_or_initialise(cfg, target, None)
    with torch.no_grad():
        torch.testing.assert_close(target(inputs), source(inputs), rtol=0, atol=TOL)
    # As in PySlowFast, "pytorch" means a torch file: the blob pickle does not load as one.
    cfg = load_config("configs/Kinetics/SLOW_8x8_R50.yaml", opts)
    with pytest.raises(CheckpointReadError, match="released_model.bin"):
        _resume_or_initialise(cfg, _tiny_slow(1), None)
    pkl = str(tmp_path / "released_model.pkl")
    os.replace(path, pkl)
    with pytest.raises(CheckpointReadError, match="TRAIN.CHECKPOINT_TYPE caffe2"):
        load_checkpoint(pkl, _tiny_slow(1), checkpoint_type="pytorch")
    with pytest.raises(ValueError, match="TRAIN.CHECKPOINT_TYPE"):
        load_config("configs/Kinetics/SLOW_8x8_R50.yaml", ["TRAIN.CHECKPOINT_TYPE", "pkl"])


@pytest.fixture
def prefixed_format():
    """A project's format, registered from outside the core: ``net.`` before slowvid names."""
    from slowvid.checkpoint.converters import CheckpointFormat, Conversion
    from slowvid.registry import CHECKPOINT_FORMATS

    @CHECKPOINT_FORMATS.register()
    class NetPrefixed(CheckpointFormat):
        name = "net_prefixed"
        signature = r"net\."

        def convert(self, state, model):
            renamed = {k.removeprefix("net."): v for k, v in state.items()}
            return Conversion(
                state=renamed, source=self.name, origin={k: f"net.{k}" for k in renamed}
            )

    yield NetPrefixed
    CHECKPOINT_FORMATS._obj_map.pop("NetPrefixed")


@pytest.mark.timeout(60)
def test_a_registered_format_is_detected_and_converted(tmp_path, prefixed_format, caplog):
    from slowvid.checkpoint.converters import checkpoint_formats

    assert [f.name for f in checkpoint_formats()][-1] == "net_prefixed"  # after the core's
    source, inputs = _tiny_slow(0), [_clip(1, 3, 4, 64, 64)]
    path = str(tmp_path / "fork.pth")
    torch.save({f"net.{k}": v for k, v in source.state_dict().items()}, path)
    target = _tiny_slow(1)
    with caplog.at_level(logging.INFO):
        _assert_same_logits(target, path, inputs, source(inputs).detach())
    assert "converting from the net_prefixed format" in caplog.text
