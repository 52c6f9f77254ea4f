"""CUDA paths: one-GPU training with AMP, and CPU/GPU agreement. Skipped without a GPU.

(Collectives over two ranks are tested on CPU with gloo: tests/distributed/test_comm.py.)
"""

import math

import pytest
import torch
from demo_config import DEMO_CFG

from slowvid import engine
from slowvid.checkpoint import find_latest_checkpoint, read_checkpoint
from slowvid.config import load_config
from slowvid.models import build_model

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(300)]


def test_one_gpu_amp_run_trains_tests_and_checkpoints_the_scaler(tiny_opts, tmp_path):
    opts = tiny_opts(NUM_GPUS=1, **{"TRAIN.MIXED_PRECISION": True})
    stats = engine.train(load_config(DEMO_CFG, opts))["train"]
    assert math.isfinite(stats["loss"]) and stats["gpu_mem_gb"] > 0
    state = read_checkpoint(find_latest_checkpoint(str(tmp_path / "run")))
    assert "scale" in state["scaler_state"]  # fp16 on CUDA needs a scaler; resuming restores it
    assert all(t.device.type == "cpu" for t in state["model_state"].values())
    metrics = engine.test(load_config(DEMO_CFG, opts + ["TEST.SAVE_RESULTS_PATH", "'gpu.pyth'"]))
    cpu_opts = tiny_opts(**{"TEST.SAVE_RESULTS_PATH": "cpu.pyth"})  # same checkpoint, on CPU
    engine.test(load_config(DEMO_CFG, cpu_opts))
    gpu, cpu = (
        torch.load(tmp_path / "run" / name, map_location="cpu", weights_only=True)
        for name in ("gpu.pyth", "cpu.pyth")
    )
    # the reported accuracy is that of the saved predictions, which agree with the CPU's
    correct = (gpu["video_preds"].argmax(1) == gpu["video_labels"]).double().mean()
    assert metrics["top1_acc"] == pytest.approx(100.0 * correct.item())
    torch.testing.assert_close(gpu["video_preds"], cpu["video_preds"], atol=2e-2, rtol=0)
    assert torch.equal(gpu["video_labels"], cpu["video_labels"])


def test_gpu_forward_matches_cpu(tiny_opts):
    cfg = load_config(DEMO_CFG, tiny_opts())
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    inputs = [torch.randn(2, 3, 2, 32, 32), torch.randn(2, 3, 8, 32, 32)]
    with torch.no_grad():
        cpu = model(inputs)
        torch.backends.cudnn.allow_tf32 = False  # compare fp32 with fp32
        gpu = model.cuda()([x.cuda() for x in inputs]).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)
