"""ExecuTorch: the mobile rewrite keeps the function; an efficient X3D lowered to XNNPACK runs in
the ExecuTorch runtime with eager's outputs."""

import os
import sys

import pytest
import torch
from torch import nn

from slowvid.config import load_config
from slowvid.deploy import fold_batch_norms, max_abs_error, mobile_friendly
from slowvid.deploy.mobile import Conv3dAs2d
from slowvid.models import build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Four X3D blocks (every kind of layer X3D-XS/S has: stem, channelwise 3x3x3, SE, head) at 32 px.
TINY = ["X3D.WIDTH_FACTOR", "1.0", "X3D.DEPTH_FACTOR", "0.2", "X3D.DIM_C5", "32"]
TINY += ["MODEL.NUM_CLASSES", "5", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32"]


def _efficient_x3d(seed=0):
    sys.path.insert(0, os.path.join(REPO, "projects/efficient_x3d"))
    torch.manual_seed(seed)
    cfg = os.path.join(REPO, "projects/efficient_x3d/configs/EFFICIENT_X3D_XS.yaml")
    model = build_model(load_config(cfg, TINY))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        model.head.proj.weight.normal_(0, 1.0)  # logits of order 1
    return model.eval()


@pytest.mark.parametrize("config", ["SLOWFAST_8x8_R50.yaml", "MVIT_B_16x4.yaml"])
def test_mobile_rewrite_keeps_the_function(config):
    """Every 3D layer kind of the zoo (strided temporal laterals, 5x7x7 stems, max pools,
    MViT's pooling convs) rewritten in 2D computes the same logits."""
    torch.manual_seed(0)
    opts = ["RESNET.WIDTH_PER_GROUP", "8", "SLOWFAST.BETA_INV", "4", "MVIT.DEPTH", "3"]
    opts += ["MVIT.EMBED_DIM", "16"]
    opts += ["MVIT.DIM_MUL", "[[1, 2.0]]", "MVIT.HEAD_MUL", "[[1, 2.0]]"]
    opts += ["MVIT.POOL_Q_STRIDE", "[[1, 1, 2, 2]]", "DATA.NUM_FRAMES", "8"]
    opts += ["DATA.TRAIN_CROP_SIZE", "32", "RESNET.ZERO_INIT_FINAL_BN", "False"]
    model = build_model(load_config(os.path.join(REPO, "configs/Kinetics", config), opts)).eval()
    clips = [torch.randn(2, 3, 2, 32, 32), torch.randn(2, 3, 8, 32, 32)]
    clips = clips if "SLOWFAST" in config else [torch.randn(2, 3, 8, 32, 32)]
    rewritten = mobile_friendly(model, clips, atol=1e-4)
    kinds = {type(m) for m in rewritten.modules()}
    assert Conv3dAs2d in kinds and nn.Conv3d not in kinds and nn.MaxPool3d not in kinds
    assert nn.BatchNorm3d not in kinds
    with torch.no_grad():
        other = [torch.randn(3, *c.shape[1:]) for c in clips]
        assert max_abs_error(rewritten(other), model(other)) <= 1e-4


def test_batch_norms_fold_into_the_convolutions_before_them():
    model = _efficient_x3d()
    clip = [torch.randn(1, 3, 4, 32, 32)]
    folded = fold_batch_norms(model, clip)
    norms = sum(isinstance(m, nn.BatchNorm3d) for m in folded.modules())
    assert norms == 0
    with torch.no_grad():
        assert max_abs_error(folded(clip), model(clip)) <= 1e-5


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_efficient_x3d_runs_in_the_executorch_runtime():
    pytest.importorskip("executorch", reason="needs the executorch extra (setup.py)")
    from slowvid.deploy import (
        ExecutorchModule,
        executorch_threads,
        run_executorch,
        set_executorch_threads,
        to_executorch,
    )

    model = _efficient_x3d()
    clip = [torch.randn(1, 3, 4, 32, 32)]
    with torch.no_grad():
        expected = model(clip)
    assert expected.abs().max() > 0.1
    program = to_executorch(model, clip)
    assert max_abs_error(run_executorch(program, clip), expected) <= 1e-4
    other = [torch.randn(1, 3, 4, 32, 32)]
    with torch.no_grad():
        assert max_abs_error(run_executorch(program, other), model(other)) <= 1e-4
    # The pool size is settable; a program loaded under the old pool refuses to run.
    original = executorch_threads()
    try:
        single = ExecutorchModule(program, threads=1)
        assert executorch_threads() == single.threads == 1
        assert max_abs_error(single(clip), expected) <= 1e-4
        double = ExecutorchModule(program, threads=2)
        assert executorch_threads() == 2
        with pytest.raises(RuntimeError, match="resized after this program was loaded"):
            single(clip)
        assert max_abs_error(double(clip), expected) <= 1e-4
    finally:
        set_executorch_threads(original)
