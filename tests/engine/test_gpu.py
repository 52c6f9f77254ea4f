"""CUDA paths: one-GPU training with AMP, NCCL, and CPU/GPU agreement. Skipped without a GPU."""

import math

import pytest
import torch
import torch.distributed as dist
from demo_config import DEMO_CFG

from slowvid import engine
from slowvid.checkpoint import find_latest_checkpoint, read_checkpoint
from slowvid.config import load_config
from slowvid.distributed import comm
from slowvid.models import build_model

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(300)]


def test_one_gpu_amp_run_trains_tests_and_checkpoints_the_scaler(tiny_opts, tmp_path):
    opts = tiny_opts(NUM_GPUS=1, **{"TRAIN.MIXED_PRECISION": True})
    stats = engine.train(load_config(DEMO_CFG, opts))["train"]
    assert math.isfinite(stats["loss"]) and stats["gpu_mem_gb"] > 0
    state = read_checkpoint(find_latest_checkpoint(str(tmp_path / "run")))
    assert "scale" in state["scaler_state"]  # fp16 on CUDA needs a scaler; resuming restores it
    assert all(t.device.type == "cpu" for t in state["model_state"].values())
    metrics = engine.test(load_config(DEMO_CFG, opts))
    assert 0.0 <= metrics["top1_acc"] <= 100.0


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


def test_nccl_group_of_one_process_all_reduces():
    port = comm.find_free_port()
    torch.cuda.set_device(0)
    comm.init_process_group(
        backend="nccl",
        init_method=f"tcp://127.0.0.1:{port}",
        world_size=1,
        rank=0,
        timeout_minutes=1,
    )
    try:
        value = torch.full((4,), 3.0, device="cuda")
        dist.all_reduce(value)
        assert value.tolist() == [3.0] * 4
        assert dist.get_backend() == "nccl"
    finally:
        dist.destroy_process_group()
