"""Contract of every registered model, the projects' included, and the config plumbing of the
ResNet family.

The cases come from the registry and from what each class declares (``archs``, its input spec):
a model registered anywhere is held to ``slowvid.models.base.VideoModel`` without being added
to a table here.
"""

import math

import pytest
import torch
from torch import nn

from slowvid.config import get_cfg
from slowvid.config.project import PROJECTS_DIR, add_project_config, import_project
from slowvid.models import VideoModel, build_model, input_spec_of, model_class
from slowvid.models.ssl import SelfSupervisedModel
from slowvid.registry import MODELS

PROJECTS = sorted(p.name for p in PROJECTS_DIR.iterdir() if (p / p.name / "__init__.py").is_file())
for _project in PROJECTS:
    import_project(_project)  # registers the project's models

NUM_TINY_CLASSES = 5
SIZE = 32  # input side


def _registered_cfg(name: str, arch: str = "", **overrides):
    """Defaults plus every project's nodes, MODEL_NAME ``name``, tiny widths and the input
    pathways the model declares."""
    cfg = get_cfg()
    for project in PROJECTS:
        add_project_config(project, cfg)
    values = {
        "MODEL.MODEL_NAME": name,
        "MODEL.ARCH": arch,
        "MODEL.NUM_CLASSES": NUM_TINY_CLASSES,
        "RESNET.DEPTH": 18,
        "RESNET.WIDTH_PER_GROUP": 8,
        "SLOWFAST.ALPHA": 4,
        # MViT: 8-wide first block with MViT-B's schedule (the MVIT defaults are PySlowFast's
        # plain ViT); positional embedding sized for the 32-pixel tiny clip.
        "MVIT.EMBED_DIM": 8,
        "MVIT.DIM_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
        "MVIT.HEAD_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
        "MVIT.POOL_Q_STRIDE": [[1, 1, 2, 2], [3, 1, 2, 2], [14, 1, 2, 2]],
        "MVIT.POOL_KVQ_KERNEL": [3, 3, 3],
        "MVIT.POOL_KV_STRIDE_ADAPTIVE": [1, 8, 8],
        "MVIT.PATCH_PADDING": [1, 3, 3],
        # ViT and TimeSformer: 2 blocks of 16 channels over per-frame 16x16 patches, with the
        # embedding and head TimeSformer requires (class token, space + time positions).
        "VIT.EMBED_DIM": 16,
        "VIT.NUM_HEADS": 2,
        "VIT.DEPTH": 2,
        "VIT.PATCH_SIZE": [1, 16, 16],
        "VIT.POS_EMBED": "separate",
        "VIT.CLS_EMBED_ON": True,
        "VIT.USE_MEAN_POOLING": False,
        "VIT.K_BIAS": True,
        "DATA.TRAIN_CROP_SIZE": 32,
        "DATA.NUM_FRAMES": 8,
        "DETECTION.ROI_XFORM_RESOLUTION": 2,
        **overrides,
    }
    for key, value in values.items():
        node, leaf = key.split(".")
        setattr(cfg[node], leaf, value)
    cls = MODELS.get(name)
    cfg.DATA.INPUT_CHANNEL_NUM = [3] * len(cls.frame_strides_from_config(cfg))
    if "boxes" in cls.extra_inputs_from_config(cfg)[1]:
        cfg.MODEL.HEAD_NAME = "ROIHead"  # what a model taking boxes pools them with
    return cfg


# Self-supervised pre-training models compute a loss, not logits: their contract is tested in
# tests/models/test_ssl_contract.py.
CLASSIFIERS = [(name, cls) for name, cls in MODELS if not issubclass(cls, SelfSupervisedModel)]
CASES = [
    (name, arch)
    for name, cls in CLASSIFIERS
    for arch in cls.archs_from_config(_registered_cfg(name))
]
BACKBONES = [name for name, cls in CLASSIFIERS if not cls.extra_inputs_from_config(get_cfg())[1]]


def test_every_project_model_is_covered():
    registered = {name for name, _ in CASES}
    assert {"TSMResNet", "EfficientX3D", "AVSlowFast", "ActionDetector"} <= registered


def _channels(feature: torch.Tensor) -> int:
    return feature.shape[1] if feature.dim() == 5 else feature.shape[-1]  # maps or tokens


@pytest.mark.parametrize("name,arch", CASES)
def test_declared_interface(name, arch):
    torch.manual_seed(0)
    cfg = _registered_cfg(name, arch)
    model = build_model(cfg)
    assert isinstance(model, VideoModel) and not hasattr(model, "cfg")
    spec = model.input_spec
    assert spec == type(model).input_spec_from_config(cfg) == input_spec_of(cfg)
    inputs, extra = model.example_inputs(2, 8, SIZE)
    assert len(inputs) == spec.num_pathways + len(spec.extra_pathways)
    assert [x.shape[2] for x in inputs[: spec.num_pathways]] == list(spec.pathway_frames(8))
    assert len(extra) == len(spec.extra_args)

    hooked = {}
    for layer in model.feature_layers:
        model.get_submodule(layer).register_forward_hook(
            lambda _m, _args, out, layer=layer: hooked.__setitem__(layer, out)
        )
    out = model(inputs, *extra)
    rows = extra[0].shape[0] if extra else 2  # per box for a detector
    assert out.shape == (rows, NUM_TINY_CLASSES) and torch.isfinite(out).all()
    out.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname

    model.eval()
    with torch.no_grad():
        features = model.forward_features(inputs)
        out = model(inputs, *extra)
        assert torch.equal(out, model.forward_head(features, *extra))
    assert not torch.allclose(out.sum(1), torch.ones(rows))  # raw logits in eval too
    assert len(features) == len(model.feature_dims) == len(model.feature_layers)
    assert [_channels(f) for f in features] == list(model.feature_dims)
    for layer, feature in zip(model.feature_layers, features):
        assert torch.equal(hooked[layer], feature), layer
    if model.feature_stride is not None:
        assert all(f.shape[-1] == math.ceil(SIZE / model.feature_stride) for f in features)
    with torch.no_grad():
        model.reset_head(3)
        assert model(inputs, *extra).shape == (rows, 3)


@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
def test_architecture_and_pathways_are_checked(name):
    cls = model_class(_registered_cfg(name))
    archs = cls.archs_from_config(_registered_cfg(name))
    assert cls.arch_of(_registered_cfg(name)) == archs[0]  # MODEL.ARCH "" takes the first
    with pytest.raises(ValueError, match="MODEL.ARCH 'no_such_arch'"):
        cls.arch_of(_registered_cfg(name, "no_such_arch"))
    cfg = _registered_cfg(name)
    cfg.DATA.INPUT_CHANNEL_NUM = [3] * (len(cfg.DATA.INPUT_CHANNEL_NUM) + 1)
    with pytest.raises(ValueError, match="DATA.INPUT_CHANNEL_NUM"):
        build_model(cfg)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_detector_takes_any_backbone_with_a_feature_map(backbone):
    cfg = _registered_cfg("ActionDetector", **{"DETECTION.BACKBONE": backbone})
    backbone_cfg = _registered_cfg(backbone)
    if build_model(backbone_cfg).feature_stride is None:
        with pytest.raises(ValueError, match="no spatial feature map"):
            build_model(cfg)
        return
    cfg.DATA.INPUT_CHANNEL_NUM = backbone_cfg.DATA.INPUT_CHANNEL_NUM
    model = build_model(cfg).eval()
    inputs, (boxes,) = model.example_inputs(2, 8, SIZE)
    with torch.no_grad():
        assert model(inputs, boxes).shape == (4, NUM_TINY_CLASSES)


def tiny_cfg(make_cfg, name, arch, **overrides):
    return make_cfg(
        name,
        arch,
        18,
        **{
            "RESNET.WIDTH_PER_GROUP": 8,
            "MODEL.NUM_CLASSES": NUM_TINY_CLASSES,
            "SLOWFAST.ALPHA": 4,
            **overrides,
        },
    )


def tiny_clip(name, batch=2, size=32):
    # Fast path 8 frames, slow path 8 / alpha.
    if name in ("SlowFast", "PTVSlowFast"):
        return [torch.randn(batch, 3, 2, size, size), torch.randn(batch, 3, 8, size, size)]
    return [torch.randn(batch, 3, 8, size, size)]


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
    cfg = tiny_cfg(make_cfg, name, MODELS.get(name).archs[0], **{key: value})
    with pytest.raises(ValueError, match=match):
        build_model(cfg)


def test_slowfast_rejects_frame_mismatch(make_cfg):
    model = build_model(tiny_cfg(make_cfg, "SlowFast", "slowfast"))
    with pytest.raises(ValueError, match="ALPHA"):
        model([torch.randn(1, 3, 2, 32, 32), torch.randn(1, 3, 4, 32, 32)])
    with pytest.raises(ValueError, match="slow, fast"):
        model([torch.randn(1, 3, 8, 32, 32)])
