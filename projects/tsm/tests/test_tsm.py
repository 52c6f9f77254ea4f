import os

import torch
from tsm import temporal_shift

from slowvid.config import load_config
from slowvid.models import build_model
from slowvid.models.complexity import count_parameters

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Residual branches must start non-zero, or the shift inside them could not change the output.
SMALL = [
    "RESNET.DEPTH",
    "18",
    "RESNET.WIDTH_PER_GROUP",
    "4",
    "MODEL.NUM_CLASSES",
    "5",
    "RESNET.ZERO_INIT_FINAL_BN",
    "False",
]


def test_temporal_shift_moves_exactly_two_folds():
    x = torch.arange(1, 5.0).view(1, 1, 4, 1, 1).repeat(1, 4, 1, 1, 1)  # 4 channels, t = 1..4
    y = temporal_shift(x, shift_div=4)
    assert y[0, 0, :, 0, 0].tolist() == [2, 3, 4, 0]  # takes the next frame
    assert y[0, 1, :, 0, 0].tolist() == [0, 1, 2, 3]  # takes the previous frame
    assert torch.equal(y[0, 2:], x[0, 2:])


def test_yaml_under_projects_builds_registered_model_with_c2d_weights():
    cfg = load_config(os.path.join(PROJECT, "configs/TSM_8x8_R50.yaml"), SMALL)
    assert cfg.TSM.SHIFT_DIV == 8
    model = build_model(cfg)
    assert type(model).__name__ == "TSMResNet"
    c2d_cfg = load_config(
        os.path.join(PROJECT, "configs/TSM_8x8_R50.yaml"), SMALL + ["MODEL.MODEL_NAME", "ResNet"]
    )
    c2d = build_model(c2d_cfg)
    # No parameters of its own: a C2D checkpoint loads as is.
    assert count_parameters(model) == count_parameters(c2d)
    model.load_state_dict(c2d.state_dict(), strict=True)
    model.eval(), c2d.eval()
    clip = torch.randn(2, 3, 8, 32, 32)
    out, ref = model([clip]), c2d([clip])
    assert out.shape == (2, 5)
    assert not torch.allclose(out, ref)  # the shift changes what the same weights compute
    model.train()
    model([clip]).sum().backward()


def test_full_size_matches_c2d_parameter_count():
    cfg = load_config(os.path.join(PROJECT, "configs/TSM_8x8_R50.yaml"))
    assert abs(count_parameters(build_model(cfg)) / 1e6 - 24.33) < 0.03
