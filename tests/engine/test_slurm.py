"""Runs on a real one-node SLURM cluster (tools/ci/start_slurm.sh), submitted with submitit.

Skipped, with the reason, where no cluster answers and none can be started (not root, no apt).
"""

import functools
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import torch
from demo_config import DEMO_CFG, REPO

from slowvid.checkpoint import find_latest_checkpoint, list_checkpoints, read_checkpoint
from slowvid.engine import train

submitit = pytest.importorskip("submitit")
slurm_helpers = pytest.importorskip("slurm_helpers")
from slowvid.distributed.slurm import SlurmTask  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
START = os.path.join(REPO, "tools/ci/start_slurm.sh")
_spec = importlib.util.spec_from_file_location("submit_net", f"{REPO}/tools/submit_net.py")
submit_net = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(submit_net)


def _cluster_answers() -> bool:
    if not shutil.which("sinfo"):
        return False
    run = subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20)
    return run.returncode == 0 and bool(run.stdout.strip())


@pytest.fixture(scope="session")
def slurm():
    """A SLURM cluster for the session: the one that answers, else one started here."""
    saved = {k: os.environ.get(k) for k in ("SLURM_CONF", "PYTHONPATH")}
    # The job processes unpickle slurm_helpers and slowvid; sbatch exports this environment.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, HERE, saved["PYTHONPATH"]) if p)
    pids: list[int] = []
    if not _cluster_answers():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("no SLURM cluster answers and starting one needs root and apt-get")
        state = tempfile.mkdtemp(prefix="slowvid-slurm-")
        try:
            run = subprocess.run(
                ["bash", START, state], capture_output=True, text=True, timeout=240
            )
        except subprocess.TimeoutExpired:
            run = None
        if os.path.exists(os.path.join(state, "pids")):
            with open(os.path.join(state, "pids")) as f:
                pids = [int(line.split()[1]) for line in f if line.strip()]
        if run is None or run.returncode != 0:
            _stop(pids)
            why = "timed out" if run is None else (run.stderr.strip().splitlines() or ["?"])[-1]
            pytest.skip(f"could not start a SLURM cluster: {why}")
        os.environ["SLURM_CONF"] = os.path.join(state, "slurm.conf")
    yield
    _stop(pids)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _stop(pids: list[int]) -> None:
    """Stop the daemons this session started, newest first, each by its pid."""
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:  # mariadbd is our child: reap it
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)


def _submit(folder, opts: list[str], *, tasks: int = 1, jobs=(train,)) -> "submitit.Job":
    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    # timeout above 10 min: below, submitit counts every USR2 as a time-out and stops requeuing
    executor.update_parameters(
        timeout_min=30, nodes=1, tasks_per_node=tasks, cpus_per_task=1, name="slowvid-test"
    )
    load = functools.partial(slurm_helpers.load_cfg, [DEMO_CFG], opts)
    return executor.submit(SlurmTask(load, list(jobs)))


def _tail(job) -> str:
    parts = []
    for task in range(job.num_tasks if hasattr(job, "num_tasks") else 1):
        for path in (job.paths.stdout, job.paths.stderr):
            path = str(path).replace("%t", str(task))
            if os.path.exists(path):
                with open(path) as f:
                    parts.append(f"--- {path}\n" + "".join(f.readlines()[-30:]))
    return "\n".join(parts)


def _wait(job, seconds: float, until=None):
    """Wait for ``until()`` (default: the job is done) or fail with the job's log tail."""
    deadline = time.monotonic() + seconds
    done = until or (lambda: job.done(force_check=True))
    while not done():
        if time.monotonic() > deadline:
            subprocess.run(["scancel", str(job.job_id)], check=False)
            pytest.fail(f"job {job.job_id} ({job.state}) not done in {seconds} s\n{_tail(job)}")
        time.sleep(0.5)


def _result(job):
    try:
        return job.results()
    except Exception as e:
        pytest.fail(f"job {job.job_id} failed: {e}\n{_tail(job)}")


def _final_state(output_dir) -> dict:
    return read_checkpoint(find_latest_checkpoint(str(output_dir)))["model_state"]


@pytest.fixture
def fast_opts(tiny_opts):
    def make(**overrides):
        return tiny_opts(**{"TRAIN.EVAL_PERIOD": 0, "TEST.ENABLE": False, **overrides})

    return make


@pytest.mark.slow
@pytest.mark.timeout(300)  # with the cluster's start (apt install, daemons) when it runs first
def test_slurm_preempted_job_requeues_and_resumes_to_the_uninterrupted_weights(
    slurm, fast_opts, tmp_path
):
    # the uninterrupted run, submitted as a user would (tools/submit_net.py)
    args = ["--cfg", DEMO_CFG, "--partition", "debug", "--time", "30", "--cpus-per-task", "1"]
    args += ["--folder", str(tmp_path / "jobs_a"), *fast_opts(OUTPUT_DIR=str(tmp_path / "a"))]
    straight = submit_net.submit(submit_net.parse_args(args))
    out = tmp_path / "b"
    opts = fast_opts(OUTPUT_DIR=str(out)) + ["TRAIN.HOOKS", "['WaitForSignalAtSecondStep']"]
    stopped = _submit(tmp_path / "jobs_b", opts)

    _wait(stopped, 90, until=lambda: (out / slurm_helpers.READY_FILE).exists())
    # what SLURM sends before preemption or the time limit (submitit's --signal)
    subprocess.run(["scancel", "--signal=USR2", str(stopped.job_id)], check=True)
    mid = out / "checkpoints" / "checkpoint_epoch_00000_iter_000002.pyth"
    _wait(stopped, 60, until=mid.exists)
    _wait(straight, 120)
    [[stats]] = _result(straight)
    assert stats["train"]["epoch"] == 2
    _wait(stopped, 150)  # requeued (~20-30 s), resumed, finished
    _result(stopped)

    log = (out / "logs" / "log_rank0.txt").read_text()
    assert "resumed from" in log and "iteration 2" in log, log[-2000:]
    assert [os.path.basename(p) for p in list_checkpoints(str(out))][-1] == (
        "checkpoint_epoch_00002.pyth"
    )
    a, b = _final_state(tmp_path / "a"), _final_state(out)
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(f"max abs weight difference, requeued vs uninterrupted: {diff}")
    assert a.keys() == b.keys() and diff == 0.0
    first = read_checkpoint(str(mid))["model_state"]
    assert any(not torch.equal(first[k], a[k]) for k in a if a[k].is_floating_point())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_slurm_two_tasks_form_one_gloo_group(slurm, fast_opts, tmp_path):
    out = tmp_path / "ddp"
    opts = fast_opts(OUTPUT_DIR=str(out), **{"SOLVER.MAX_EPOCH": 1})
    job = _submit(tmp_path / "jobs", opts + ["TRAIN.HOOKS", "['RecordWorld']"], tasks=2)
    _wait(job, 150)
    results = _result(job)
    assert len(results) == 2
    # every rank saw the whole (all-reduced) epoch: 24 videos, 12 per rank
    assert [r[0]["train"]["samples"] for r in results] == [24, 24]
    worlds = sorted((out / f"world_rank{r}.txt").read_text() for r in range(2))
    assert worlds == ["0 2 3.0", "1 2 3.0"]
    assert find_latest_checkpoint(str(out)).endswith("checkpoint_epoch_00001.pyth")
