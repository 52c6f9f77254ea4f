"""Inference preparation: batch norm folded into convolutions, channels-last per model and
device (MODEL.CHANNELS_LAST), torch.compile (MODEL.COMPILE)."""

import pytest
import torch
from test_model_registry import tiny_cfg, tiny_clip
from torch import nn

from slowvid.checkpoint import save_checkpoint
from slowvid.engine.setup import fold_for_inference, unwrap_model, use_channels_last, wrap_model
from slowvid.models import build_model
from slowvid.models.folding import fold_batchnorm, foldable_pairs


def _random_stats(model: nn.Module) -> None:
    """Running statistics and affine parameters far from the identity, so folding shows."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)


@pytest.mark.parametrize("name,arch", [("SlowFast", "slowfast")])
def test_folding_keeps_the_outputs(make_cfg, name, arch):
    model = build_model(tiny_cfg(make_cfg, name, arch)).eval()
    _random_stats(model)
    clip = tiny_clip(name)
    with torch.no_grad():
        expected = model(clip)
    norms = sum(isinstance(m, nn.BatchNorm3d) for m in model.modules())
    assert fold_batchnorm(model, [clip]) == norms > 0  # every norm here follows a conv
    assert not any(isinstance(m, nn.BatchNorm3d) for m in model.modules())
    with torch.no_grad():
        assert torch.allclose(model(clip), expected, atol=1e-4, rtol=1e-4)


class _SharedOutput(nn.Module):
    """conv -> bn, but the conv's output is also added back; and a norm applied twice."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 3, 1, bias=False)
        self.bn = nn.BatchNorm3d(3)
        self.conv2 = nn.Conv3d(3, 3, 1)
        self.bn2 = nn.BatchNorm3d(3)
        self.conv3 = nn.Conv3d(3, 3, 1)
        self.bn3 = nn.BatchNorm3d(3)

    def forward(self, x):
        y = self.conv(x)
        y = self.bn(y) + y  # a second reader of the conv's output
        y = self.bn2(self.conv2(y))
        return self.bn2(y) + self.bn3(self.conv3(y))  # bn2 runs twice


def test_only_safe_pairs_are_folded():
    model = _SharedOutput().eval()
    _random_stats(model)
    x = torch.randn(1, 3, 2, 4, 4)
    assert foldable_pairs(model, [x]) == [("conv3", "bn3")]
    with torch.no_grad():
        expected = model(x)
        assert fold_batchnorm(model, [x]) == 1
        assert torch.allclose(model(x), expected, atol=1e-5)


def test_fold_for_inference_from_the_config(make_cfg):
    cfg = tiny_cfg(make_cfg, "SlowFast", "slowfast", **{"DATA.NUM_FRAMES": 8})
    cfg.DATA.TEST_CROP_SIZE = 32
    model = build_model(cfg).eval()
    assert fold_for_inference(model, cfg) > 0
    mvit = build_model(tiny_cfg(make_cfg, "MViT", "mvit")).eval()
    assert fold_for_inference(mvit, cfg) == 0  # layer norms only: nothing to fold


def test_channels_last_per_model_and_device(make_cfg):
    slowfast = build_model(tiny_cfg(make_cfg, "SlowFast", "slowfast"))
    x3d = build_model(tiny_cfg(make_cfg, "X3D", "x3d"))
    resnet = build_model(tiny_cfg(make_cfg, "ResNet", "slow"))
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_channels_last(slowfast, None, cpu) and use_channels_last(slowfast, None, cuda)
    assert use_channels_last(x3d, None, cpu) and not use_channels_last(x3d, None, cuda)
    assert not use_channels_last(resnet, None, cpu)
    assert not use_channels_last(slowfast, False, cpu) and use_channels_last(resnet, True, cpu)
    # The engine applies the choice: MODEL.CHANNELS_LAST None on a CPU.
    cfg = tiny_cfg(make_cfg, "X3D", "x3d")
    wrapped = wrap_model(build_model(cfg), cfg, cpu)
    conv = next(m for m in wrapped.modules() if isinstance(m, nn.Conv3d) and m.kernel_size[0] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_compile_wraps_and_checkpoints_keep_their_keys(make_cfg, tmp_path):
    cfg = tiny_cfg(make_cfg, "X3D", "x3d", **{"MODEL.COMPILE": True})
    bare = build_model(cfg)
    model = wrap_model(bare, cfg, torch.device("cpu"))
    assert isinstance(model, torch._dynamo.eval_frame.OptimizedModule)
    assert unwrap_model(model) is bare
    path = save_checkpoint(str(tmp_path), 1, model)
    keys = torch.load(path, weights_only=False)["model_state"].keys()
    assert keys == bare.state_dict().keys() and not any("_orig_mod" in k for k in keys)
