"""One run per OUTPUT_DIR: the lease file, its heartbeat, refusal and takeover."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from slowvid.config import get_cfg
from slowvid.distributed.lease import LEASE_NAME, OutputDirBusy, OutputDirLease
from slowvid.engine.hooks import LeaseWatch
from slowvid.engine.jobs import hold_output_dir_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(output_dir, **lease):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(output_dir)
    for key, value in lease.items():
        setattr(cfg.LEASE, key, value)
    return cfg


def _write_lease(output_dir, **fields) -> None:
    record = {
        "host": "node-b",
        "pid": 4242,
        "started": "2026-01-01T00:00:00+00:00",
        "run_id": "",
        "token": "theirs",
        "heartbeat": time.time(),
        **fields,
    }
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, LEASE_NAME), "w") as f:
        json.dump(record, f)


def _holder(output_dir) -> dict:
    with open(os.path.join(output_dir, LEASE_NAME)) as f:
        return json.load(f)


@pytest.fixture(autouse=True)
def _no_launcher_ids(monkeypatch):
    for key in ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(key, raising=False)


@pytest.mark.timeout(120)
def test_a_second_launch_into_a_held_directory_stops_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    with hold_output_dir_of(_cfg(out)) as lease:
        held = _holder(out)
        assert (held["host"], held["pid"]) == (socket.gethostname(), os.getpid())
        second = subprocess.run(
            [
                sys.executable,
                os.path.join(REPO, "tools/run_net.py"),
                "--cfg",
                os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml"),
                "OUTPUT_DIR",
                str(out),
            ],
            env={**os.environ, "PYTHONPATH": REPO},
            capture_output=True,
            text=True,
            timeout=100,
        )
        assert second.returncode != 0
        assert "OutputDirBusy" in second.stderr
        assert f"host {socket.gethostname()}, pid {os.getpid()}, started {held['started']}" in (
            second.stderr
        )
        assert not os.path.exists(os.path.join(out, "checkpoints"))  # it wrote nothing
        assert lease.lost == ""
    assert not os.path.exists(os.path.join(out, LEASE_NAME))  # released


def test_the_holder_renews_its_heartbeat(tmp_path):
    with hold_output_dir_of(_cfg(tmp_path, RENEW_SECONDS=0.05, TTL_SECONDS=1.0)):
        first = _holder(tmp_path)["heartbeat"]
        time.sleep(0.5)
        assert _holder(tmp_path)["heartbeat"] > first


def test_a_lease_without_heartbeat_for_ttl_seconds_is_taken_over(tmp_path):
    _write_lease(tmp_path, heartbeat=time.time() - 30)  # a run that died on another node
    with pytest.raises(OutputDirBusy, match=r"host node-b, pid 4242, started 2026-01-01"):
        with hold_output_dir_of(_cfg(tmp_path, TTL_SECONDS=60.0)):
            pass
    assert _holder(tmp_path)["token"] == "theirs"
    with hold_output_dir_of(_cfg(tmp_path, TTL_SECONDS=20.0)):
        assert _holder(tmp_path)["host"] == socket.gethostname()


def test_a_dead_process_on_this_host_or_an_earlier_attempt_of_this_run_is_taken_over(
    tmp_path, monkeypatch
):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _write_lease(tmp_path, host=socket.gethostname(), pid=gone.pid)  # fresh heartbeat
    with hold_output_dir_of(_cfg(tmp_path)):
        assert _holder(tmp_path)["pid"] == os.getpid()

    # torchrun's restart (or a SLURM requeue) keeps the run id: no need to wait for the TTL
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-7")
    _write_lease(tmp_path, run_id="torchelastic:job-7")
    with hold_output_dir_of(_cfg(tmp_path)):
        assert _holder(tmp_path)["run_id"] == "torchelastic:job-7"
    # torchrun's default id "none" is shared by unrelated runs: it proves nothing
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    _write_lease(tmp_path, run_id="")
    with pytest.raises(OutputDirBusy):
        with hold_output_dir_of(_cfg(tmp_path)):
            pass


def test_a_run_whose_lease_was_taken_stops_at_its_next_step(tmp_path):
    lease = OutputDirLease(str(tmp_path), ttl_s=1.0, renew_s=0.05)
    try:
        _write_lease(tmp_path, token="intruder")
        deadline = time.monotonic() + 5
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "taken over by host node-b" in lease.lost
        with pytest.raises(OutputDirBusy, match="taken over"):
            LeaseWatch(lease).after_step()
    finally:
        lease.release()
    assert _holder(tmp_path)["token"] == "intruder"  # not removed: it is not ours


def test_disabled_lease_holds_nothing(tmp_path):
    _write_lease(tmp_path)
    with hold_output_dir_of(_cfg(tmp_path, ENABLE=False)) as lease:
        assert lease is None
    assert _holder(tmp_path)["token"] == "theirs"


def test_renewal_must_fit_well_inside_the_ttl():
    from slowvid.config import load_config

    with pytest.raises(ValueError, match="LEASE.RENEW_SECONDS"):
        load_config(opts=["LEASE.RENEW_SECONDS", "40", "LEASE.TTL_SECONDS", "60"])
