"""Export of zoo architectures: the exported program and ONNX Runtime compute what eager does
(max abs logit error <= 1e-4 with logits of order 1), for any batch size; tools/export.py
writes files that load and refuses a bad export."""

import importlib.util
import os

import pytest
import torch
from torch import nn

from slowvid.config import load_config
from slowvid.deploy import example_clips, export_program, max_abs_error, run_onnx, to_onnx
from slowvid.models import build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("export_tool", os.path.join(REPO, "tools/export.py"))
export_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(export_tool)
onnxruntime = pytest.importorskip("onnxruntime", reason="needs onnxruntime (the dev extra)")

# config -> overrides: the real architecture on a short, 64 px clip to keep the test cheap
CASES = {
    "X3D_S.yaml": ["DATA.NUM_FRAMES", "4", "DATA.TEST_CROP_SIZE", "64"],
    "SLOWFAST_8x8_R50.yaml": ["DATA.NUM_FRAMES", "8", "DATA.TEST_CROP_SIZE", "64"],
    # MViT sizes its positional embedding from the training clip
    "MVIT_B_16x4.yaml": ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "64"]
    + ["DATA.TEST_CROP_SIZE", "64"],
}


@torch.no_grad()
def _perturbed(model: nn.Module, clips) -> nn.Module:
    """Non-trivial norms and live residual branches, then the classifier scaled so the logits
    reach about 2: an absolute tolerance of 1e-4 then means something."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    (proj,) = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 400]
    proj.bias.zero_()
    proj.weight.normal_(0, 1.0)
    proj.weight.mul_(2.0 / model(clips).abs().max())
    return model


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("config", list(CASES))
def test_exported_program_and_onnx_match_eager_for_any_batch(config, tmp_path):
    cfg = load_config(os.path.join(REPO, "configs/Kinetics", config), CASES[config])
    shape = export_tool.input_shape(cfg)
    model = _perturbed(build_model(cfg), example_clips(**shape, batch=2))
    program = export_program(model, example_clips(**shape, batch=2))
    path = str(tmp_path / "model.onnx")
    to_onnx(program, path)
    inputs = example_clips(**shape, batch=3)  # a batch size not seen while exporting
    with torch.no_grad():
        expected = model(inputs)
        exported = program.module()(*inputs)
    assert expected.shape == (3, 400) and expected.abs().max() > 0.5
    assert max_abs_error(exported, expected) <= 1e-4
    assert max_abs_error(run_onnx(path, inputs), expected) <= 1e-4
    names = [i.name for i in onnxruntime.InferenceSession(path).get_inputs()]
    assert names == (["clip"] if len(inputs) == 1 else ["slow", "fast"])


TINY_X3D = ["X3D.WIDTH_FACTOR", "1.0", "X3D.DEPTH_FACTOR", "0.2", "X3D.DIM_C5", "32"]
TINY_X3D += ["MODEL.NUM_CLASSES", "5", "DATA.NUM_FRAMES", "2", "DATA.TEST_CROP_SIZE", "32"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fmt", ["export", "onnx"])
def test_export_tool_writes_a_loadable_file(fmt, tmp_path, capsys):
    cfg = os.path.join(REPO, "configs/Kinetics/X3D_XS.yaml")
    out = str(tmp_path / ("model.pt2" if fmt == "export" else "model.onnx"))
    assert export_tool.main(["--cfg", cfg, "--format", fmt, "--output", out, *TINY_X3D]) == 0
    clip = [torch.randn(4, 3, 2, 32, 32)]
    if fmt == "export":
        assert torch.export.load(out).module()(*clip).shape == (4, 5)
    else:
        assert run_onnx(out, clip).shape == (4, 5)


def test_export_tool_fails_when_the_result_differs(tmp_path):
    cfg = os.path.join(REPO, "configs/Kinetics/X3D_XS.yaml")
    out = str(tmp_path / "model.pt2")
    args = ["--cfg", cfg, "--format", "export", "--output", out, "--atol", "-1", *TINY_X3D]
    assert export_tool.main(args) == 1
