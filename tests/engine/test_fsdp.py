"""A real FSDP2 run over two gloo processes: sharded checkpoints, resume, consolidation."""

import importlib.util
import json
import os

import pytest
import torch
from demo_config import DEMO_CFG, REFERENCE_OPTS, REPO, demo_opts

from slowvid import engine
from slowvid.checkpoint import (
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint,
)
from slowvid.config import load_config
from slowvid.distributed import launch_job
from slowvid.engine import HookBase
from slowvid.models import build_model
from slowvid.registry import HOOKS
from slowvid.solver import build_optimizer

_spec = importlib.util.spec_from_file_location(
    "consolidate_checkpoint", os.path.join(REPO, "tools/consolidate_checkpoint.py")
)
consolidate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(consolidate)


class StoppedForTest(RuntimeError):
    pass


@HOOKS.register()
class StopAfterFirstEpoch(HookBase):
    """Stands in for a crash once epoch 1 is checkpointed."""

    def after_epoch(self):
        if self.trainer.epoch == 0:
            raise StoppedForTest("stopped after epoch 1")


def _train_and_test(cfg):
    # Defined here, so the spawned ranks import this module and know the hook above.
    return engine.train_and_test(cfg)


def _stats(output_dir: str, kind: str) -> list[dict]:
    with open(os.path.join(output_dir, "stats.jsonl")) as f:
        return [s for s in map(json.loads, f) if s["_type"] == kind]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fsdp_run_resumes_from_its_shards_and_ends_like_the_ddp_run(
    tiny_data, tmp_path, ddp_reference, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for the spawned ranks, as the reference's
    out = str(tmp_path / "fsdp")
    fsdp = {"TRAIN.DISTRIBUTED": "fsdp", "MODEL.ACT_CHECKPOINT": True}
    opts = demo_opts(tiny_data, out, NUM_CPU_PROCESSES=2, **REFERENCE_OPTS, **fsdp)
    stop = ["TRAIN.HOOKS", "['StopAfterFirstEpoch']"]
    with pytest.raises(Exception, match="StoppedForTest"):
        launch_job(load_config(DEMO_CFG, opts + stop), _train_and_test)
    [first] = list_checkpoints(out)
    assert first.endswith("checkpoint_epoch_00001.dcp")
    assert {"__0_0.distcp", "__1_0.distcp", "state.pyth"} <= set(os.listdir(first))

    launch_job(load_config(DEMO_CFG, opts), engine.train_and_test)  # resumes from the shards
    with open(os.path.join(out, "logs", "log_rank1.txt")) as f:
        assert "resumed from" in f.read()
    final = find_latest_checkpoint(out)
    assert final.endswith("checkpoint_epoch_00002.dcp")

    # the sharded checkpoint read in one process equals the DDP run's weights and statistics
    ours = read_checkpoint(final)
    ref = read_checkpoint(find_latest_checkpoint(ddp_reference))
    assert ours["epoch"] == 2 and ours["model_state"].keys() == ref["model_state"].keys()
    for key, value in ref["model_state"].items():
        torch.testing.assert_close(ours["model_state"][key], value, rtol=1e-4, atol=1e-6)
    [test_ref], [test_ours] = _stats(ddp_reference, "test"), _stats(out, "test")
    for key in ("top1_acc", "top5_acc", "num_videos", "num_missing"):
        assert test_ours[key] == test_ref[key], key
    preds = [
        torch.load(os.path.join(d, "preds.pyth"), weights_only=True) for d in (ddp_reference, out)
    ]
    assert preds[1]["num_views"].tolist() == [2] * 8  # every view once despite unequal shards
    torch.testing.assert_close(
        preds[1]["video_preds"], preds[0]["video_preds"], rtol=1e-3, atol=1e-5
    )

    # consolidated into one file, it resumes a plain single-process model and optimizer
    assert consolidate.main([final]) == 0
    single = final.removesuffix(".dcp") + ".pyth"
    cfg = load_config(DEMO_CFG, demo_opts(tiny_data, out))
    model = build_model(cfg)
    optimizer = build_optimizer(model, cfg)
    resumed = load_checkpoint(single, model, optimizer)
    assert resumed["epoch"] == 2
    for key, value in model.state_dict().items():
        assert torch.equal(value, ours["model_state"][key]), key
    momentum = optimizer.state_dict()["state"]
    assert len(momentum) == len(list(model.parameters()))
    some = next(iter(optimizer.state.values()))["momentum_buffer"]
    assert some.abs().sum() > 0  # the trained momentum, not a fresh one
