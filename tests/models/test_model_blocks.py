"""Shape and init tests of the shared blocks and the classification head."""

import pytest
import torch
from torch import nn

from slowvid.models.blocks import (
    Bottleneck,
    FuseFastToSlow,
    ResNetStem,
    StageSpec,
    init_weights,
    make_stage,
)
from slowvid.models.heads import ClassificationHead


@pytest.mark.parametrize("dim_in,dim_out,t_kernel", [(3, 8, 1), (3, 16, 5), (2, 4, 3)])
def test_stem_shape(dim_in, dim_out, t_kernel):
    stem = ResNetStem(dim_in, dim_out, t_kernel)
    y = stem(torch.randn(2, dim_in, 4, 32, 32))
    assert y.shape == (2, dim_out, 4, 8, 8)
    assert stem.conv.kernel_size == (t_kernel, 7, 7)


def test_stem_without_pool():
    assert ResNetStem(3, 8, pool=False)(torch.randn(1, 3, 2, 32, 32)).shape == (1, 8, 2, 16, 16)


@pytest.mark.parametrize(
    "dim_in,dim_out,dim_inner,t_kernel,stride,groups",
    [(8, 8, 4, 1, 1, 1), (8, 16, 4, 3, 2, 1), (16, 32, 8, 5, 2, 4)],
)
@pytest.mark.parametrize("stride_1x1", [False, True])
def test_bottleneck_shape(dim_in, dim_out, dim_inner, t_kernel, stride, groups, stride_1x1):
    block = Bottleneck(dim_in, dim_out, dim_inner, t_kernel, stride, groups, stride_1x1=stride_1x1)
    y = block(torch.randn(2, dim_in, 4, 16, 16))
    assert y.shape == (2, dim_out, 4, 16 // stride, 16 // stride)
    # A projection shortcut exists exactly when the shape changes.
    assert isinstance(block.shortcut, nn.Identity) == (dim_in == dim_out and stride == 1)


def test_bottleneck_dilation_keeps_size():
    block = Bottleneck(8, 8, 4, dilation=2)
    assert block(torch.randn(1, 8, 2, 9, 9)).shape == (1, 8, 2, 9, 9)


def test_zero_init_final_norm_makes_identity_block():
    block = Bottleneck(8, 8, 4, t_kernel=3)
    init_weights(block, zero_init_final_norm=True)
    block.eval()
    x = torch.rand(1, 8, 2, 6, 6)  # non-negative, so the final ReLU leaves it unchanged
    assert torch.equal(block(x), x)


def test_init_weights_scheme():
    model = nn.Sequential(Bottleneck(4, 8, 4), nn.Linear(8, 3))
    init_weights(model, zero_init_final_norm=False)
    assert torch.equal(model[0].norm_a.weight, torch.ones(4))
    assert torch.equal(model[0].norm_c.weight, torch.ones(8))
    assert torch.equal(model[1].bias, torch.zeros(3))
    assert model[1].weight.std() < 0.05


@pytest.mark.parametrize(
    "depth,t_kernels,limit,expected",
    [
        (3, (3,), None, [3, 3, 3]),
        (4, (3, 1), None, [3, 1, 3, 1]),
        (3, (1, 3), None, [1, 3, 1]),
        (5, (3,), 2, [3, 3, 1, 1, 1]),
    ],
)
def test_stage_block_t_kernels(depth, t_kernels, limit, expected):
    spec = StageSpec(depth, 8, 4, t_kernels=t_kernels, num_temporal_blocks=limit)
    assert spec.block_t_kernels() == expected
    stage = make_stage(spec, dim_in=4)
    assert [b.conv_a.kernel_size[0] for b in stage] == expected


@pytest.mark.parametrize("dim_in,stride", [(4, 1), (8, 2), (12, 2)])
def test_stage_shape(dim_in, stride):
    stage = make_stage(StageSpec(depth=2, dim_out=16, dim_inner=4, stride=stride), dim_in=dim_in)
    assert stage(torch.randn(2, dim_in, 3, 8, 8)).shape == (2, 16, 3, 8 // stride, 8 // stride)


@pytest.mark.parametrize("dim_fast,ratio,kernel,alpha", [(2, 2, 5, 4), (4, 2, 7, 4), (4, 1, 3, 8)])
def test_fusion_shape(dim_fast, ratio, kernel, alpha):
    fuse = FuseFastToSlow(dim_fast, ratio, kernel, alpha)
    slow = torch.randn(2, 16, 2, 8, 8)
    fast = torch.randn(2, dim_fast, 2 * alpha, 8, 8)
    out = fuse(slow, fast)
    assert out.shape == (2, 16 + ratio * dim_fast, 2, 8, 8)
    assert torch.equal(out[:, :16], slow)


@pytest.mark.parametrize("size", [(1, 1, 1), (2, 7, 7), (4, 8, 5)])
def test_head_any_input_size(size):
    head = ClassificationHead([16, 4], num_classes=5, dropout_rate=0.5)
    feats = [torch.randn(3, 16, *size), torch.randn(3, 4, 4 * size[0], *size[1:])]
    assert head(feats).shape == (3, 5)
    head.reset(7)
    assert head(feats).shape == (3, 7)
