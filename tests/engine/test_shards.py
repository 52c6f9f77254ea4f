"""Two "machines" on one host: shard subprocesses of tools/run_net.py joined over tcp://127.0.0.1.

Each shard runs one CPU process (NUM_CPU_PROCESSES 1), so together they form a gloo world of 2.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from demo_config import DEMO_CFG, REPO

from slowvid import engine
from slowvid.config import load_config
from slowvid.distributed.comm import find_free_port


def _start_shards(opts: list[str]) -> list[subprocess.Popen]:
    port = find_free_port()
    env = {**os.environ, "PYTHONPATH": REPO}
    return [
        subprocess.Popen(
            [
                sys.executable,
                os.path.join(REPO, "tools/run_net.py"),
                "--cfg",
                DEMO_CFG,
                "--init-method",
                f"tcp://127.0.0.1:{port}",
                *opts,
                *("NUM_GPUS", "0", "NUM_CPU_PROCESSES", "1", "NUM_SHARDS", "2", "SHARD_ID", str(k)),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (0, 1)
    ]


def _stats(output_dir: str, kind: str) -> list[dict]:
    with open(os.path.join(output_dir, "stats.jsonl")) as f:
        return [s for s in map(json.loads, f) if s["_type"] == kind]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_shards_train_together_and_test_like_one_process(tiny_opts, tmp_path):
    out = str(tmp_path / "shards")
    opts = tiny_opts(
        OUTPUT_DIR=out,
        **{
            "SOLVER.MAX_EPOCH": 1,
            "TRAIN.EVAL_PERIOD": 0,
            "BN.NORM_TYPE": "sync_batchnorm",  # sync BN over gloo in a real run
            "TEST.SAVE_RESULTS_PATH": "two.pyth",
        },
    )
    shards = _start_shards(opts)
    try:
        outputs = [shard.communicate(timeout=240) for shard in shards]
    finally:
        for shard in shards:
            shard.kill()
    for shard, (_, err) in zip(shards, outputs):
        assert shard.returncode == 0, err[-3000:]
    [epoch] = _stats(out, "train_epoch")
    assert epoch["samples"] == 24  # 12 videos on each shard, in one DDP world
    with open(os.path.join(out, "logs", "log_rank1.txt")) as f:
        assert "world size 2, rank 1" in f.read()
    [two] = _stats(out, "test")

    single = engine.test(
        load_config(DEMO_CFG, tiny_opts(OUTPUT_DIR=out, **{"TEST.SAVE_RESULTS_PATH": "one.pyth"}))
    )
    for key in ("top1_acc", "top5_acc", "num_videos", "num_missing"):
        assert two[key] == single[key], key
    assert single["num_videos"] == 8
    one = torch.load(os.path.join(out, "one.pyth"), weights_only=True)
    both = torch.load(os.path.join(out, "two.pyth"), weights_only=True)
    assert both["num_views"].tolist() == [2] * 8
    torch.testing.assert_close(both["video_preds"], one["video_preds"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_killing_a_shard_stops_the_other_naming_the_rank(tiny_opts, tmp_path):
    out = str(tmp_path / "killed")
    opts = tiny_opts(
        OUTPUT_DIR=out,
        **{"SOLVER.MAX_EPOCH": 50, "TRAIN.EVAL_PERIOD": 0, "DIST_TIMEOUT_MINUTES": 0.5},
    )
    shard0, shard1 = _start_shards(opts)
    log1 = os.path.join(out, "logs", "log_rank1.txt")
    try:
        deadline = time.monotonic() + 200
        while not (os.path.exists(log1) and "iter 2/" in open(log1).read()):
            assert time.monotonic() < deadline and shard1.poll() is None, "shard 1 never trained"
            time.sleep(0.5)
        shard1.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        _, err = shard0.communicate(timeout=60)
    finally:
        shard0.kill()
        shard1.kill()
    assert shard0.returncode != 0
    assert "PeerFailed: rank(s) 1 stopped responding" in err, err[-3000:]
    # gloo sees the closed sockets at once; the 30 s collective timeout is only the backstop
    assert time.monotonic() - killed_at < 30
