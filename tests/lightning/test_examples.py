"""examples/ run as users run them: subprocesses on a tiny generated video set.

Lightning's ``ddp`` strategy starts the other ranks by re-running ``sys.argv``, so multi-process
runs must start from a script, never from inside pytest.
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("lightning")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CFG = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")


def _run(args: list[str], timeout: int) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")][-1]
    return json.loads(last)


def _lightning(data: str, output: str, *extra: str, fast_dev_run: int = 0) -> dict:
    opts = {
        "DATA.PATH_TO_DATA_DIR": data,
        "DATA.PATH_PREFIX": data,
        "DATA.NUM_FRAMES": "8",
        "DATA.TRAIN_JITTER_SCALES": "[32,40]",
        "DATA.TRAIN_CROP_SIZE": "32",
        "DATA.TEST_CROP_SIZE": "32",
        "RESNET.WIDTH_PER_GROUP": "4",
        "SLOWFAST.BETA_INV": "4",
        "TRAIN.BATCH_SIZE": "4",
        "TEST.BATCH_SIZE": "4",
        "SOLVER.MAX_EPOCH": "1",
        "TRAIN.EVAL_PERIOD": "1",
        "DATA_LOADER.NUM_WORKERS": "0",
        "TENSORBOARD.ENABLE": "False",
        "OUTPUT_DIR": output,
    }
    args = ["examples/train_lightning.py", "--cfg", DEMO_CFG, "--fast-dev-run", str(fast_dev_run)]
    args += [item for pair in opts.items() for item in pair] + list(extra)
    return _run(args, timeout=300)


@pytest.mark.timeout(330)
def test_lightning_example_fast_dev_run(library_data, tmp_path):
    results = _lightning(library_data, str(tmp_path / "run"), fast_dev_run=1)
    assert results["world_size"] == 1
    # one test batch of 4 views, 2 per video: 2 of the 8 videos scored
    assert results["test/num_videos"] == 2 and results["test/num_missing"] == 6


@pytest.mark.timeout(330)
def test_lightning_example_trains_one_epoch_and_tests_every_view(library_data, tmp_path):
    out = tmp_path / "run"
    results = _lightning(library_data, str(out))
    assert results["world_size"] == 1
    assert results["test/num_videos"] == 8 and results["test/num_missing"] == 0
    assert results["test/failed_views"] == 0
    assert 0.0 <= results["test/top1_acc"] <= 100.0
    assert (out / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.timeout(330)
def test_lightning_example_on_two_cpu_processes_with_ddp(library_data, tmp_path):
    results = _lightning(library_data, str(tmp_path / "run"), "NUM_CPU_PROCESSES", "2")
    assert results["world_size"] == 2
    # each rank scored its own shard; the gathered ensemble saw every video exactly once
    assert results["test/num_videos"] == 8 and results["test/num_missing"] == 0


@pytest.mark.timeout(330)
def test_plain_pytorch_example_trains_one_epoch(library_data):
    results = _run(
        [
            "examples/train_plain_pytorch.py",
            "--data",
            library_data,
            "--batch-size",
            "4",
            "--size",
            "32",
            "--workers",
            "0",
        ],
        timeout=300,
    )
    assert results["steps"] == 16 // 4  # 16 training videos, one epoch
    assert results["test_videos"] == 8 and results["failed_videos"] == 0
    assert results["first_loss"] > 0 and results["last_loss"] > 0
