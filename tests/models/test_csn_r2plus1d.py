"""ir-CSN R101 32x2 and R(2+1)D R50 16x4: layout, blocks and configs.

Their zoo sizes (CSN 22.21 M / 75.62 GFLOPs, R(2+1)D 28.11 M / 76.45 per 256 px view, batch norm
counted at fvcore's training-mode rate) are checked with the other rows in test_model_zoo.py.

Deviations from the papers, kept because they are what the published figures and the PyTorchVideo
checkpoints describe: R(2+1)D's (2+1)D conv runs its temporal conv first and keeps the bottleneck
width between the two convs (the paper factorises spatial-first with a wider ``M_i``); both models
end in an adaptive average pool instead of PyTorchVideo's fixed (4, 7, 7) pool, which fvcore does
not count, so FLOPs are unchanged.
"""

import os

import pytest
import torch
from torch import nn

from slowvid.config import load_config
from slowvid.models import build_model, count_gflops, gflops_by_operator
from slowvid.models.blocks import Bottleneck, Bottleneck2Plus1D, Conv2Plus1D

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # On the shared two-core machine a second intra-op thread mostly waits for a busy core
    # (measured up to 50x slower); one thread keeps this file well under 40 s.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_count_gflops_is_the_operator_sum(make_cfg):
    # Full depth at 1/8 width keeps this cheap; it guards the cached per-operator path above.
    model = build_model(make_cfg("CSN", "csn", 101, **{"RESNET.WIDTH_PER_GROUP": 8}))
    view = [torch.zeros(1, 3, 8, 64, 64)]
    assert count_gflops(model, view) == pytest.approx(sum(gflops_by_operator(model, view).values()))


@pytest.mark.parametrize(
    "name,arch,depth,frames,expected",
    [
        ("CSN", "csn", 101, 32, (1, 256, 4, 2, 2)),  # time / 8: res3..res5 stride 2
        ("R2Plus1D", "r2plus1d", 50, 16, (1, 256, 4, 2, 2)),  # time / 4: res4, res5 stride 2
    ],
)
def test_feature_shapes(make_cfg, name, arch, depth, frames, expected):
    model = build_model(make_cfg(name, arch, depth, **{"RESNET.WIDTH_PER_GROUP": 8})).eval()
    with torch.no_grad():
        feats = model.forward_features([torch.zeros(1, 3, frames, 64, 64)])
        logits = model([torch.zeros(1, 3, frames, 64, 64)])
    assert [tuple(f.shape) for f in feats] == [expected]
    assert logits.shape == (1, 400)


def test_csn_blocks_are_channel_separated(make_cfg):
    model = build_model(make_cfg("CSN", "csn", 50, **{"RESNET.WIDTH_PER_GROUP": 8}))
    assert model.stem.conv.kernel_size == (3, 7, 7) and isinstance(model.stem.pool, nn.MaxPool3d)
    for stage in model.stages:
        for block in stage:
            assert block.conv_a.kernel_size == (1, 1, 1)
            assert block.conv_b.kernel_size == (3, 3, 3)
            assert block.conv_b.groups == block.conv_b.in_channels  # depthwise
    assert [s[0].conv_b.stride for s in model.stages] == [
        (1, 1, 1),
        (2, 2, 2),
        (2, 2, 2),
        (2, 2, 2),
    ]


def test_r2plus1d_layout(make_cfg):
    model = build_model(make_cfg("R2Plus1D", "r2plus1d", 50, **{"RESNET.WIDTH_PER_GROUP": 8}))
    assert model.stem.conv.kernel_size == (1, 7, 7) and isinstance(model.stem.pool, nn.Identity)
    firsts = [stage[0].conv_b for stage in model.stages]
    assert all(isinstance(c, Conv2Plus1D) for c in firsts)
    assert [c.conv_t.stride[0] for c in firsts] == [1, 1, 2, 2]
    assert [c.conv_xy.stride[1] for c in firsts] == [2, 2, 2, 2]
    assert firsts[0].conv_t.kernel_size == (3, 1, 1) and firsts[0].conv_xy.kernel_size == (1, 3, 3)


@pytest.mark.parametrize(
    "dim,t_kernel,stride", [(4, 3, (1, 1, 1)), (8, 3, (2, 2, 2)), (6, 1, (1, 2, 2))]
)
def test_conv2plus1d_shape(dim, t_kernel, stride):
    y = Conv2Plus1D(dim, t_kernel, stride)(torch.randn(2, dim, 4, 8, 8))
    assert y.shape == (2, dim, 4 // stride[0], 8 // stride[1], 8 // stride[2])


@pytest.mark.parametrize("block_cls", [Bottleneck, Bottleneck2Plus1D])
@pytest.mark.parametrize("temporal_stride,stride", [(1, 1), (2, 1), (2, 2)])
def test_temporal_stride_blocks(block_cls, temporal_stride, stride):
    block = block_cls(8, 8, 4, stride=stride, t_kernel_b=3, temporal_stride=temporal_stride)
    y = block(torch.randn(2, 8, 4, 8, 8))
    assert y.shape == (2, 8, 4 // temporal_stride, 8 // stride, 8 // stride)
    # The shortcut projects whenever time or space is strided, even at equal widths.
    assert isinstance(block.shortcut, nn.Identity) == (temporal_stride == 1 and stride == 1)


@pytest.mark.parametrize(
    "path,name,depth,frames",
    [("CSN_32x2_R101.yaml", "CSN", 101, 32), ("R2PLUS1D_16x4_R50.yaml", "R2Plus1D", 50, 16)],
)
def test_shipped_configs_build(path, name, depth, frames):
    cfg = load_config(os.path.join(REPO, "configs/Kinetics", path))
    assert (cfg.MODEL.MODEL_NAME, cfg.RESNET.DEPTH, cfg.DATA.NUM_FRAMES) == (name, depth, frames)
    assert type(build_model(cfg)).__name__ == name


@pytest.mark.parametrize(
    "name,arch,key,value",
    [
        ("CSN", "slow", "MODEL.ARCH", "slow"),
        ("R2Plus1D", "csn", "MODEL.ARCH", "csn"),
        ("CSN", "csn", "RESNET.DEPTH", 34),
        ("R2Plus1D", "r2plus1d", "DATA.INPUT_CHANNEL_NUM", [3, 3]),
    ],
)
def test_bad_config_names_the_key(make_cfg, name, arch, key, value):
    cfg = make_cfg(name, arch, 18, **{"RESNET.WIDTH_PER_GROUP": 8, key: value})
    with pytest.raises(ValueError, match=key):
        build_model(cfg)
