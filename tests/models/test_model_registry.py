"""Contract of every registered model, and the config plumbing of the ResNet family."""

import pytest
import torch
from torch import nn

from slowvid.models import build_model
from slowvid.registry import MODELS

NUM_TINY_CLASSES = 5
# Registered model -> the MODEL.ARCH values it accepts. A new model must add itself here.
TINY_ARCHS = {
    "ResNet": ["c2d", "c2d_nopool", "i3d", "i3d_nopool", "slow"],
    "SlowFast": ["slowfast"],
    "X3D": ["x3d"],
    "CSN": ["csn"],
    "R2Plus1D": ["r2plus1d"],
    "MViT": ["mvit"],
    "VisionTransformer": ["vit"],
    "TimeSformer": ["vit"],
}
# Core models only: projects registered by other tests check their own models. Detectors
# (forward(inputs, boxes)) have their contract test in tests/models/test_detector.py.
CASES = [
    (name, arch)
    for name, cls in MODELS
    if cls.__module__.startswith("slowvid.") and not getattr(cls, "takes_boxes", False)
    for arch in TINY_ARCHS.get(name, [None])
]


def tiny_cfg(make_cfg, name, arch, **overrides):
    return make_cfg(
        name,
        arch,
        18,
        **{
            "RESNET.WIDTH_PER_GROUP": 8,
            "MODEL.NUM_CLASSES": NUM_TINY_CLASSES,
            "SLOWFAST.ALPHA": 4,
            # MViT: 8-wide first block with MViT-B's schedule; positional embedding sized for
            # the 32-pixel tiny clip.
            "MVIT.EMBED_DIM": 8,
            "MVIT.DIM_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
            "MVIT.HEAD_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
            "MVIT.POOL_Q_STRIDE": [[1, 1, 2, 2], [3, 1, 2, 2], [14, 1, 2, 2]],
            "MVIT.POOL_KVQ_KERNEL": [3, 3, 3],
            "MVIT.POOL_KV_STRIDE_ADAPTIVE": [1, 8, 8],
            "MVIT.PATCH_PADDING": [1, 3, 3],
            "DATA.TRAIN_CROP_SIZE": 32,
            # ViT and TimeSformer: 2 blocks of 16 channels over per-frame 16x16 patches, the
            # embedding and head TimeSformer requires (class token, space + time positions).
            "VIT.EMBED_DIM": 16,
            "VIT.NUM_HEADS": 2,
            "VIT.DEPTH": 2,
            "VIT.PATCH_SIZE": [1, 16, 16],
            "VIT.POS_EMBED": "separate",
            "VIT.CLS_EMBED_ON": True,
            "VIT.USE_MEAN_POOLING": False,
            "VIT.K_BIAS": True,
            **overrides,
        },
    )


def tiny_clip(name, batch=2, size=32):
    # Fast path 8 frames, slow path 8 / alpha.
    if name == "SlowFast":
        return [torch.randn(batch, 3, 2, size, size), torch.randn(batch, 3, 8, size, size)]
    return [torch.randn(batch, 3, 8, size, size)]


@pytest.mark.parametrize("name,arch", CASES)
def test_forward_backward(make_cfg, name, arch):
    assert arch is not None, f"add {name} to TINY_ARCHS"
    model = build_model(tiny_cfg(make_cfg, name, arch))
    out = model(tiny_clip(name))
    assert out.shape == (2, NUM_TINY_CLASSES) and torch.isfinite(out).all()
    out.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    model.eval()
    with torch.no_grad():
        out = model(tiny_clip(name))  # raw logits in eval too: no softmax
    assert out.shape == (2, NUM_TINY_CLASSES) and torch.isfinite(out).all()
    assert not torch.allclose(out.sum(1), torch.ones(2))


@pytest.mark.parametrize(
    "name", [name for name, cls in MODELS if not getattr(cls, "takes_boxes", False)]
)
def test_shared_interface(make_cfg, name):
    model = build_model(tiny_cfg(make_cfg, name, TINY_ARCHS[name][-1])).eval()
    clip = tiny_clip(name)
    with torch.no_grad():
        assert torch.equal(model(clip), model.forward_head(model.forward_features(clip)))
        model.reset_head(3)
        assert model(clip).shape == (2, 3)
    assert not hasattr(model, "cfg")


def test_zero_init_final_bn_and_init(make_cfg):
    model = build_model(tiny_cfg(make_cfg, "SlowFast", "slowfast"))
    block = model.slow_stages[0][0]
    assert torch.equal(block.norm_c.weight, torch.zeros_like(block.norm_c.weight))
    assert torch.equal(block.norm_a.weight, torch.ones_like(block.norm_a.weight))
    off = build_model(
        tiny_cfg(make_cfg, "SlowFast", "slowfast", **{"RESNET.ZERO_INIT_FINAL_BN": False})
    )
    assert torch.equal(off.slow_stages[0][0].norm_c.weight, torch.ones_like(block.norm_c.weight))
    assert model.head.proj.weight.std() < 0.05 and not model.head.proj.bias.any()


@pytest.mark.parametrize("norm_type", ["batchnorm", "sync_batchnorm"])
def test_bn_keys(make_cfg, norm_type):
    cfg = tiny_cfg(
        make_cfg,
        "ResNet",
        "slow",
        **{"BN.NORM_TYPE": norm_type, "BN.EPSILON": 1e-3, "BN.MOMENTUM": 0.05},
    )
    bns = [m for m in build_model(cfg).modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    assert bns and all(type(m) is nn.BatchNorm3d for m in bns)
    assert all(m.eps == 1e-3 and m.momentum == 0.05 for m in bns)


def test_pyslowfast_style_per_pathway_lists(make_cfg):
    cfg = tiny_cfg(
        make_cfg,
        "SlowFast",
        "slowfast",
        **{
            "RESNET.SPATIAL_STRIDES": [[1, 1], [2, 2], [2, 2], [2, 2]],
            "RESNET.NUM_BLOCK_TEMP_KERNEL": [[2, 2], [2, 2], [1, 2], [2, 2]],
        },
    )
    model = build_model(cfg)
    assert [b.conv_a.kernel_size[0] for b in model.slow_stages[2]] == [3, 1]
    assert [b.conv_a.kernel_size[0] for b in model.fast_stages[2]] == [3, 3]
    assert model(tiny_clip("SlowFast")).shape == (2, NUM_TINY_CLASSES)


@pytest.mark.parametrize(
    "name,key,value,match",
    [
        ("ResNet", "MODEL.ARCH", "slowfast", "MODEL.ARCH"),
        ("SlowFast", "MODEL.ARCH", "i3d", "MODEL.ARCH"),
        ("ResNet", "RESNET.DEPTH", 34, "RESNET.DEPTH"),
        ("ResNet", "BN.NORM_TYPE", "groupnorm", "BN.NORM_TYPE"),
    ],
)
def test_bad_config_names_the_key(make_cfg, name, key, value, match):
    cfg = tiny_cfg(make_cfg, name, TINY_ARCHS[name][-1], **{key: value})
    with pytest.raises(ValueError, match=match):
        build_model(cfg)


def test_slowfast_rejects_frame_mismatch(make_cfg):
    model = build_model(tiny_cfg(make_cfg, "SlowFast", "slowfast"))
    with pytest.raises(ValueError, match="ALPHA"):
        model([torch.randn(1, 3, 2, 32, 32), torch.randn(1, 3, 4, 32, 32)])
    with pytest.raises(ValueError, match="slow, fast"):
        model([torch.randn(1, 3, 8, 32, 32)])
