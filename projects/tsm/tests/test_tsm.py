import importlib.util
import json
import os

import pytest
import torch
from tsm import temporal_shift

from slowvid.config import load_config
from slowvid.data.demo import DemoSpec, make_demo_data
from slowvid.models import build_model
from slowvid.models.complexity import count_parameters

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(PROJECT))
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


def _run_net():
    spec = importlib.util.spec_from_file_location("run_net", os.path.join(REPO, "tools/run_net.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_command_trains_and_tests_on_two_processes(tmp_path, monkeypatch):
    """The README's demo command with NUM_CPU_PROCESSES 2: both spawned workers must find
    TSMResNet, which only the project's import registers."""
    data = str(tmp_path / "data")
    spec = DemoSpec(train_per_class=2, val_per_class=1, test_per_class=1, size=32, num_frames=16)
    make_demo_data(data, spec, num_workers=1)
    out = str(tmp_path / "run")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread per worker on the shared cores
    argv = ["--cfg", os.path.join(PROJECT, "configs/TSM_DEMO.yaml"), "NUM_CPU_PROCESSES", "2"]
    argv += ["DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data, "OUTPUT_DIR", out]
    argv += ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_JITTER_SCALES", "[32, 36]"]
    argv += ["DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "SOLVER.MAX_EPOCH", "1"]
    argv += ["RESNET.WIDTH_PER_GROUP", "4", "TRAIN.BATCH_SIZE", "8", "TEST.BATCH_SIZE", "8"]
    argv += ["DATA_LOADER.NUM_WORKERS", "0", "TENSORBOARD.ENABLE", "False"]
    argv += ["TRAIN.EVAL_PERIOD", "0"]
    assert _run_net().main(argv) == 0
    with open(os.path.join(out, "stats.jsonl")) as f:
        stats = [json.loads(line) for line in f]
    [epoch] = [s for s in stats if s["_type"] == "train_epoch"]
    [test] = [s for s in stats if s["_type"] == "test"]
    assert epoch["samples"] == 16 and os.path.isfile(os.path.join(out, "logs", "log_rank1.txt"))
    assert test["num_videos"] == 8 and test["num_missing"] == 0
