"""torchrun (torch elastic) starts the processes; slowvid joins its env:// group in each one."""

import json
import os
import subprocess
import sys

import pytest
import torch
from demo_config import DEMO_CFG, REFERENCE_OPTS, REPO, demo_opts

from slowvid.checkpoint import find_latest_checkpoint, list_checkpoints, read_checkpoint
from slowvid.config import get_cfg
from slowvid.distributed.launch import config_for_layout, launcher_layout

HERE = os.path.dirname(os.path.abspath(__file__))


def _stats(output_dir: str, kind: str) -> list[dict]:
    with open(os.path.join(output_dir, "stats.jsonl")) as f:
        return [s for s in map(json.loads, f) if s["_type"] == kind]


def _torchrun(script: str, opts: list[str], *extra_args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",  # a free port of its own, no clash with other runs
            "--nproc-per-node",
            "2",
            *extra_args,
            script,
            "--cfg",
            DEMO_CFG,
            *opts,
        ],
        env={**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=400,
    )


def test_launcher_layout_comes_from_the_environment_and_overrides_the_config():
    assert launcher_layout({"RANK": "0"}) is None  # no env:// rendezvous: not under a launcher
    env = {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "2",
        "GROUP_RANK": "1",
        "GROUP_WORLD_SIZE": "2",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "29400",
        "TORCHELASTIC_RESTART_COUNT": "1",
    }
    layout = launcher_layout(env)
    assert (layout.rank, layout.world_size, layout.local_rank, layout.node_rank) == (3, 4, 1, 1)
    assert (layout.num_nodes, layout.attempt) == (2, 1)
    cfg = get_cfg()
    cfg.NUM_GPUS, cfg.TRAIN.BATCH_SIZE, cfg.TEST.BATCH_SIZE = 0, 8, 4
    cfg.freeze()
    run = config_for_layout(cfg, layout)
    assert (run.NUM_CPU_PROCESSES, run.NUM_SHARDS, run.SHARD_ID) == (2, 2, 1)
    cfg.defrost()
    cfg.TRAIN.BATCH_SIZE = 6
    with pytest.raises(ValueError, match="TRAIN.BATCH_SIZE: 6 is not divisible by the 4"):
        config_for_layout(cfg, layout)
    env["WORLD_SIZE"] = "3"
    with pytest.raises(ValueError, match="same number of processes on every machine"):
        config_for_layout(cfg, launcher_layout(env))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_torchrun_with_a_killed_rank_restarts_and_ends_like_the_spawned_run(
    tiny_data, tmp_path, ddp_reference
):
    out = str(tmp_path / "torchrun")
    opts = demo_opts(tiny_data, out, **REFERENCE_OPTS) + ["TRAIN.HOOKS", "['KillRankOnce']"]
    run = _torchrun(os.path.join(HERE, "torchrun_job.py"), opts, "--max-restarts", "1")
    assert run.returncode == 0, run.stderr[-4000:]
    # rank 1 was killed in epoch 2, after the epoch-1 checkpoint, and the restart resumed it
    assert os.path.exists(os.path.join(out, "killed_rank1"))
    with open(os.path.join(out, "logs", "log_rank0.txt")) as f:
        log0 = f.read()
    assert log0.count("world size 2, rank 0") >= 2  # both attempts (training, then testing)
    assert "resumed from" in log0 and "checkpoint_epoch_00001.pyth (epoch 1" in log0
    with open(os.path.join(out, "logs", "log_rank1.txt")) as f:
        assert "world size 2, rank 1" in f.read()  # one run of two ranks, not two of one

    assert [os.path.basename(p) for p in list_checkpoints(out)] == [
        "checkpoint_epoch_00001.pyth",
        "checkpoint_epoch_00002.pyth",
    ]
    ours = read_checkpoint(find_latest_checkpoint(out))["model_state"]
    ref = read_checkpoint(find_latest_checkpoint(ddp_reference))["model_state"]
    assert ours.keys() == ref.keys()
    for key in ref:
        assert torch.equal(ours[key], ref[key]), key
    [train_ref, train_ours] = [_stats(d, "train_epoch")[-1] for d in (ddp_reference, out)]
    assert train_ours["samples"] == train_ref["samples"] == 24  # 12 per rank, nothing twice
    [test_ref], [test_ours] = _stats(ddp_reference, "test"), _stats(out, "test")
    for key in ("top1_acc", "top5_acc", "num_videos", "num_missing"):
        assert test_ours[key] == test_ref[key], key
    preds = [
        torch.load(os.path.join(d, "preds.pyth"), weights_only=True) for d in (ddp_reference, out)
    ]
    assert preds[1]["num_views"].tolist() == [2] * 8
    torch.testing.assert_close(preds[1]["video_preds"], preds[0]["video_preds"])
