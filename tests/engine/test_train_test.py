"""End-to-end runs of the train and test jobs on real (tiny, generated) H.264 videos."""

import json
import os
import shutil

import pytest
import torch
from demo_config import DEMO_CFG

from slowvid import engine
from slowvid.checkpoint import find_latest_checkpoint, read_checkpoint
from slowvid.config import load_config
from slowvid.distributed import launch_job
from slowvid.engine import HookBase, TooManyFailedVideos
from slowvid.registry import HOOKS


class Interrupted(Exception):
    pass


@HOOKS.register()
class InterruptAfterFirstEpoch(HookBase):
    """Stands in for a killed job: stops the run once epoch 1 is checkpointed."""

    def after_epoch(self):
        if self.trainer.epoch == 0:
            raise Interrupted


def _stats(output_dir, kind):
    with open(os.path.join(output_dir, "stats.jsonl")) as f:
        return [s for s in map(json.loads, f) if s["_type"] == kind]


def _final_state(output_dir):
    return read_checkpoint(find_latest_checkpoint(output_dir))["model_state"]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_resumed_run_equals_uninterrupted_run(tiny_opts, tmp_path):
    straight = load_config(
        DEMO_CFG, tiny_opts(OUTPUT_DIR=str(tmp_path / "a"), **{"DATA_LOADER.NUM_WORKERS": 2})
    )
    engine.train(straight)

    opts = tiny_opts(OUTPUT_DIR=str(tmp_path / "b"), **{"DATA_LOADER.NUM_WORKERS": 2})
    with pytest.raises(Interrupted):
        engine.train(load_config(DEMO_CFG, opts + ["TRAIN.HOOKS", "['InterruptAfterFirstEpoch']"]))
    assert (
        os.path.basename(find_latest_checkpoint(str(tmp_path / "b")))
        == "checkpoint_epoch_00001.pyth"
    )
    engine.train(load_config(DEMO_CFG, opts))  # auto-resumes from epoch 1

    a, b = _final_state(tmp_path / "a"), _final_state(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    loss_a = [s["loss"] for s in _stats(tmp_path / "a", "train_epoch")]
    loss_b = [s["loss"] for s in _stats(tmp_path / "b", "train_epoch")]
    assert len(loss_a) == 2 and loss_b == loss_a
    # the first epoch changed the weights: equality is not two untrained models agreeing
    first = read_checkpoint(
        os.path.join(tmp_path / "b", "checkpoints", "checkpoint_epoch_00001.pyth")
    )
    assert any(
        not torch.equal(first["model_state"][k], a[k]) for k in a if a[k].is_floating_point()
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_gloo_processes_give_the_same_test_metrics_as_one(tiny_opts, tmp_path):
    out = str(tmp_path / "run")
    train_cfg = load_config(DEMO_CFG, tiny_opts(OUTPUT_DIR=out, **{"SOLVER.MAX_EPOCH": 1}))
    engine.train(train_cfg)
    single = engine.test(
        load_config(DEMO_CFG, tiny_opts(OUTPUT_DIR=out, **{"TEST.SAVE_RESULTS_PATH": "one.pyth"}))
    )

    cfg2 = load_config(
        DEMO_CFG,
        tiny_opts(OUTPUT_DIR=out, NUM_CPU_PROCESSES=2, **{"TEST.SAVE_RESULTS_PATH": "two.pyth"}),
    )
    launch_job(cfg2, engine.test)
    double = _stats(out, "test")[-1]
    for key in ("top1_acc", "top5_acc", "num_videos", "num_missing"):
        assert double[key] == single[key], key
    assert single["num_videos"] == 8 and single["num_missing"] == 0
    one = torch.load(os.path.join(out, "one.pyth"), weights_only=True)
    two = torch.load(os.path.join(out, "two.pyth"), weights_only=True)
    # every video's two views were counted exactly once across the two processes
    assert two["num_views"].tolist() == [2] * 8 == one["num_views"].tolist()
    torch.testing.assert_close(two["video_preds"], one["video_preds"], rtol=1e-5, atol=1e-6)
    assert torch.equal(two["video_labels"], one["video_labels"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_process_ddp_training_runs_and_checkpoints(tiny_opts, tmp_path):
    out = str(tmp_path / "ddp")
    cfg = load_config(
        DEMO_CFG,
        tiny_opts(
            OUTPUT_DIR=out, NUM_CPU_PROCESSES=2, **{"SOLVER.MAX_EPOCH": 1, "TRAIN.EVAL_PERIOD": 1}
        ),
    )
    launch_job(cfg, engine.train)
    [epoch] = _stats(out, "train_epoch")
    assert epoch["samples"] == 24  # 24 videos, 12 per process, nothing dropped
    [val] = _stats(out, "val")
    assert val["num_videos"] == 8 and val["num_missing"] == 0
    assert find_latest_checkpoint(out).endswith("checkpoint_epoch_00001.pyth")
    assert os.path.isfile(os.path.join(out, "logs", "log_rank1.txt"))


def _copy_data(tiny_data, tmp_path):
    root = str(tmp_path / "data")
    shutil.copytree(tiny_data, root)
    return root


def _first_video(root, split):
    with open(os.path.join(root, f"{split}.csv")) as f:
        return os.path.join(root, f.readline().split()[0])


@pytest.mark.timeout(240)
def test_corrupt_and_missing_videos_are_skipped_and_named(tiny_data, tiny_opts, tmp_path):
    root = _copy_data(tiny_data, tmp_path)
    corrupt, missing = _first_video(root, "train"), _first_video(root, "test")
    with open(corrupt, "wb") as f:
        f.write(os.urandom(2048))
    os.remove(missing)
    opts = tiny_opts(
        **{
            "DATA.PATH_TO_DATA_DIR": root,
            "DATA.PATH_PREFIX": root,
            "SOLVER.MAX_EPOCH": 1,
            "TRAIN.EVAL_PERIOD": 0,
        }
    )
    cfg = load_config(DEMO_CFG, opts)
    engine.train(cfg)
    [epoch] = _stats(cfg.OUTPUT_DIR, "train_epoch")
    assert epoch["failed_videos"] >= 1 and epoch["samples"] == 24  # replaced, not dropped
    results = engine.test(cfg)
    assert results["num_missing"] == 1 and results["num_videos"] == 7
    assert results["failed_paths"] == [missing]
    with open(os.path.join(cfg.OUTPUT_DIR, "logs", "log_rank0.txt")) as f:
        log = f.read()
    assert corrupt in log and missing in log

    strict = load_config(
        DEMO_CFG, opts + ["DATA.MAX_FAILED_FRACTION", "0.0", "OUTPUT_DIR", str(tmp_path / "strict")]
    )
    with pytest.raises(TooManyFailedVideos, match=os.path.basename(os.path.dirname(corrupt))):
        engine.train(strict)


@pytest.mark.timeout(240)
def test_finetune_from_checkpoint_with_another_class_count(tiny_opts, tmp_path, caplog):
    source = load_config(
        DEMO_CFG,
        tiny_opts(
            OUTPUT_DIR=str(tmp_path / "src"), **{"SOLVER.MAX_EPOCH": 1, "TRAIN.EVAL_PERIOD": 0}
        ),
    )
    engine.train(source)
    ckpt = find_latest_checkpoint(source.OUTPUT_DIR)
    # labels 0..7 still fit 10 classes; only the head's shape differs
    target = load_config(
        DEMO_CFG,
        tiny_opts(
            OUTPUT_DIR=str(tmp_path / "dst"),
            **{
                "SOLVER.MAX_EPOCH": 1,
                "TRAIN.EVAL_PERIOD": 0,
                "MODEL.NUM_CLASSES": 10,
                "TRAIN.CHECKPOINT_FILE_PATH": ckpt,
            },
        ),
    )
    engine.train(target)
    state = read_checkpoint(find_latest_checkpoint(target.OUTPUT_DIR))["model_state"]
    assert state["head.proj.weight"].shape[0] == 10
    with open(os.path.join(target.OUTPUT_DIR, "logs", "log_rank0.txt")) as f:
        log = f.read()
    assert "head.proj.weight" in log
    saved = load_config(os.path.join(target.OUTPUT_DIR, "config_train.yaml"), check=False)
    assert saved.MODEL.NUM_CLASSES == 10 and saved.TRAIN.CHECKPOINT_FILE_PATH == ckpt


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_asking_for_missing_gpus_stops_with_a_hint():
    cfg = load_config(DEMO_CFG, ["NUM_GPUS", "2", "TRAIN.BATCH_SIZE", "16"])
    with pytest.raises(
        RuntimeError, match="NUM_GPUS 2 asks for more GPUs than this machine has.*NUM_GPUS 0"
    ):
        launch_job(cfg, engine.train)
