"""A rank that raises, hangs or is killed makes the others stop soon, naming it."""

import os
import re
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from slowvid.config import get_cfg
from slowvid.distributed import get_rank, launch_job
from slowvid.distributed.comm import find_free_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _raise_on_rank1(cfg) -> None:
    value = torch.ones(1)
    for step in range(200):
        if get_rank() == 1 and step == 3:
            raise ValueError("boom on purpose")
        dist.all_reduce(value)


@pytest.mark.timeout(60)
def test_a_raising_rank_stops_a_two_process_run_naming_it():
    cfg = get_cfg()
    # A 10-minute collective timeout: a stop within the test's 60 s came from the failure
    # channel, not from rank 0 waiting out the collective.
    cfg.NUM_GPUS, cfg.NUM_CPU_PROCESSES, cfg.DIST_TIMEOUT_MINUTES = 0, 2, 10
    with pytest.raises(mp.ProcessRaisedException) as info:
        launch_job(cfg, _raise_on_rank1)
    message = str(info.value)
    # mp.spawn reports whichever process ended first: rank 1 itself, or rank 0 naming rank 1.
    assert "boom on purpose" in message
    assert re.search(r"(rank 1 failed|Process 1 terminated)", message), message
    assert "timed out" not in message.lower() and "watchdog" not in message.lower(), message


def _run_shards(mode: str, timeout: float = 40) -> list[subprocess.CompletedProcess]:
    """Run both shards; shard 1 is killed once shard 0 has ended (a hung shard never ends)."""
    port = find_free_port()
    env = {**os.environ, "PYTHONPATH": REPO}
    procs = [
        subprocess.Popen(
            [sys.executable, os.path.join(HERE, "shard_job.py"), str(k), str(port), mode],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (0, 1)
    ]
    results = []
    try:
        for k, proc in enumerate(procs):
            if k == 1 and mode == "hang":
                proc.kill()
            out, err = proc.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            proc.kill()
    return results


@pytest.mark.timeout(60)
def test_a_shard_that_raises_is_named_by_the_other_shard():
    shard0, shard1 = _run_shards("raise")
    assert shard1.returncode != 0 and "ValueError: boom on purpose" in shard1.stderr
    assert shard0.returncode != 0
    assert "PeerFailed: stopping because rank 1 failed: ValueError: boom on purpose" in (
        shard0.stderr
    )


@pytest.mark.timeout(60)
def test_a_hanging_shard_trips_the_fractional_collective_timeout():
    shard0, _ = _run_shards("hang")
    assert shard0.returncode != 0
    assert "every rank is alive: a rank is stuck" in shard0.stderr
    assert "DIST_TIMEOUT_MINUTES=0.05" in shard0.stderr
    # _run_shards waits 40 s for rank 0, less than rank 1's 60 s sleep: rank 0 ended on the
    # fractional timeout, not because rank 1 woke up.
