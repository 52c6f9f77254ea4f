import importlib.util
import json
import os

import pytest
import torch
from efficient_x3d import ClipModel, EfficientX3D, export_float, fuse_conv_bn, quantize_int8
from torch import nn

from slowvid.config import load_config
from slowvid.data.demo import DemoSpec, make_demo_data
from slowvid.models import build_model

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(PROJECT))
# A narrow X3D on 32 px clips: every kind of layer, cheap to quantize.
TINY = ["X3D.WIDTH_FACTOR", "1.0", "X3D.DEPTH_FACTOR", "1.0", "X3D.DIM_C5", "64"]
TINY += ["MODEL.NUM_CLASSES", "5", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32"]
pytestmark = pytest.mark.timeout(120)


def _tiny(name="EfficientX3D", seed=0):
    torch.manual_seed(seed)
    cfg = load_config(
        os.path.join(PROJECT, "configs/EFFICIENT_X3D_XS.yaml"), TINY + ["MODEL.MODEL_NAME", name]
    )
    model = build_model(cfg)
    with torch.no_grad():  # non-trivial norms, so folding and quantizing have work to do
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return ClipModel(model).eval()


def test_regular_x3d_checkpoint_loads_and_activations_are_mobile():
    efficient, regular = _tiny(), _tiny("X3D", seed=1)
    assert isinstance(efficient.model, EfficientX3D)
    efficient.model.load_state_dict(regular.model.state_dict(), strict=True)
    kinds = {type(m) for m in efficient.modules()}
    assert {nn.Hardswish, nn.Hardsigmoid} <= kinds and nn.SiLU not in kinds
    assert nn.Sigmoid not in kinds
    assert nn.SiLU in {type(m) for m in regular.modules()}


def test_folding_and_export_keep_the_function():
    model = _tiny()
    clip = torch.randn(2, 3, 4, 32, 32)
    fused = fuse_conv_bn(model)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in fused.modules())
    exported = export_float(fused, clip)
    with torch.no_grad():
        expected = model(clip)
        torch.testing.assert_close(fused(clip), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(exported(clip), expected, rtol=1e-4, atol=1e-5)


def test_int8_model_runs_quantized_kernels_close_to_float():
    model = _tiny()
    torch.manual_seed(2)
    calibration = [torch.randn(2, 3, 4, 32, 32) for _ in range(4)]
    quantized = quantize_int8(model, calibration)
    kinds = {type(m).__module__ for m in quantized.modules()}
    assert any(k.startswith("torch.ao.nn.quantized") for k in kinds)
    clip = calibration[0]
    with torch.no_grad():
        ref, out = model(clip), quantized(clip)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    cosine = nn.functional.cosine_similarity(out.flatten(), ref.flatten(), dim=0)
    assert cosine > 0.98, cosine


def test_bad_activation_names_the_key():
    opts = TINY + ["EFFICIENT_X3D.SE_GATE", "'tanh'"]
    with pytest.raises(ValueError, match="EFFICIENT_X3D.SE_GATE must be one of"):
        build_model(load_config(os.path.join(PROJECT, "configs/EFFICIENT_X3D_XS.yaml"), opts))


def _run_net():
    spec = importlib.util.spec_from_file_location("run_net", os.path.join(REPO, "tools/run_net.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_command_trains_and_tests_on_two_processes(tmp_path, monkeypatch):
    """The demo command with NUM_CPU_PROCESSES 2: both spawned workers must find
    EfficientX3D, which only the project's import registers."""
    data = str(tmp_path / "data")
    spec = DemoSpec(train_per_class=2, val_per_class=1, test_per_class=1, size=32, num_frames=16)
    make_demo_data(data, spec, num_workers=1)
    out = str(tmp_path / "run")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread per worker on the shared cores
    argv = ["--cfg", os.path.join(PROJECT, "configs/EFFICIENT_X3D_DEMO.yaml")]
    argv += ["NUM_CPU_PROCESSES", "2", "DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data]
    argv += ["OUTPUT_DIR", out, "DATA.NUM_FRAMES", "4", "DATA.TRAIN_JITTER_SCALES", "[32, 36]"]
    argv += ["DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "SOLVER.MAX_EPOCH", "1"]
    argv += ["X3D.WIDTH_FACTOR", "1.0", "X3D.DEPTH_FACTOR", "1.0", "X3D.DIM_C5", "64"]
    argv += ["TRAIN.BATCH_SIZE", "8", "TEST.BATCH_SIZE", "8", "DATA_LOADER.NUM_WORKERS", "0"]
    argv += ["TENSORBOARD.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0"]
    assert _run_net().main(argv) == 0
    with open(os.path.join(out, "stats.jsonl")) as f:
        stats = [json.loads(line) for line in f]
    [epoch] = [s for s in stats if s["_type"] == "train_epoch"]
    [test] = [s for s in stats if s["_type"] == "test"]
    assert epoch["samples"] == 16 and os.path.isfile(os.path.join(out, "logs", "log_rank1.txt"))
    assert test["num_videos"] == 8 and test["num_missing"] == 0
