"""PySlowFast's run keys: batch-norm pooling groups, multigrid's per-stage batch norm and
evaluations, which checkpoint a run starts from or tests, and the activation of the scores."""

import logging
import re

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from demo_config import DEMO_CFG
from torch import nn

from slowvid import engine
from slowvid.checkpoint import save_checkpoint
from slowvid.config import get_cfg, load_config
from slowvid.distributed import comm
from slowvid.engine.evaluator import run_dataset_evaluator
from slowvid.engine.hooks import LossExplosion, StopOnLossExplosion
from slowvid.engine.jobs import _resume_or_initialise, checkpoint_to_test
from slowvid.engine.multigrid import (
    LongCycleBatchNorm,
    MultigridStage,
    long_cycle_eval_epochs,
    long_cycle_norm,
)
from slowvid.engine.setup import sync_batchnorm_group_size, wrap_model
from slowvid.evaluation import ClassificationEvaluator
from slowvid.layers import AllReduceBatchNorm, SplitBatchNorm
from slowvid.models import build_model


def _sync_rank(rank: int, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    cfg = get_cfg()
    cfg.NUM_GPUS, cfg.NUM_CPU_PROCESSES, cfg.BN.NORM_TYPE = 0, 2, "sync_batchnorm"
    cfg.MODEL.CHANNELS_LAST = False  # a plain module declares no channels-last devices
    means = []
    for devices in (1, 0):  # PySlowFast's default: none pooled; slowvid's: the machine's
        cfg.BN.NUM_SYNC_DEVICES = devices
        bn = nn.Sequential(nn.BatchNorm3d(2, momentum=1.0))
        model = wrap_model(bn, cfg, torch.device("cpu"))
        model(torch.full((2, 2, 1, 2, 2), float(rank)))  # rank r's batch has mean r
        means.append(bn[0].running_mean[0].item())
    # Groups of one: every rank builds both, and each holds only itself.
    group = comm.consecutive_subgroup(1)
    means.append(dist.get_process_group_ranks(group))
    torch.save(means, f"{out_file}.{rank}")
    dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_num_sync_devices_decides_which_processes_pool_statistics(tmp_path):
    out = str(tmp_path / "mean")
    mp.spawn(_sync_rank, args=(str(tmp_path / "init"), out), nprocs=2, join=True)
    got = [torch.load(f"{out}.{r}", weights_only=False) for r in range(2)]
    assert got[0][:2] == pytest.approx([0.0, 0.5]) and got[1][:2] == pytest.approx([1.0, 0.5])
    assert got[0][2] == [0] and got[1][2] == [1]


def test_sync_group_sizes(monkeypatch):
    monkeypatch.setattr(comm, "get_world_size", lambda: 8)
    cfg = get_cfg()
    cfg.NUM_SHARDS = 2
    assert sync_batchnorm_group_size(cfg) == 4  # 0: every process of a machine
    cfg.BN.NUM_SYNC_DEVICES = 1
    assert sync_batchnorm_group_size(cfg) == 1  # PySlowFast's default pools nothing
    cfg.BN.NUM_SYNC_DEVICES = 3
    with pytest.raises(ValueError, match="BN.NUM_SYNC_DEVICES 3 does not divide the 4"):
        sync_batchnorm_group_size(cfg)
    cfg.BN.GLOBAL_SYNC, cfg.BN.NUM_SYNC_DEVICES = True, None
    assert sync_batchnorm_group_size(cfg) == 8


def test_long_cycle_norm_keeps_about_bn_base_size_clips():
    assert long_cycle_norm(64, 8) == ("split", 8)
    assert long_cycle_norm(8, 8) == ("plain", 1)
    assert long_cycle_norm(2, 8) == ("sync", 4)


class _Trainer:
    def __init__(self, model, epoch):
        self.model, self.epoch, self.device = model, epoch, torch.device("cpu")


def test_long_cycle_batch_norm_swaps_layers_keeping_their_tensors():
    cfg = get_cfg()
    cfg.TRAIN.BATCH_SIZE = 8
    stages = [MultigridStage(0, 4, 4, 32, 2), MultigridStage(0, 1, 8, 32, 4)]
    model = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4))
    weight, mean = model[1].weight, model[1].running_mean
    hook = LongCycleBatchNorm(cfg, stages)
    hook.trainer = _Trainer(model, epoch=0)
    hook.before_epoch()  # batch 32 per process: 4 splits of 8
    assert isinstance(model[1], SplitBatchNorm) and model[1].num_splits == 4
    assert model[1].weight is weight and model[1].running_mean is mean
    hook.trainer.epoch = 2
    hook.before_epoch()  # batch 8: plain
    assert type(model[1]) is nn.BatchNorm3d and model[1].weight is weight


def test_split_batchnorm_normalises_each_split_alone():
    torch.manual_seed(0)
    bn = SplitBatchNorm(3, num_splits=2, momentum=1.0)
    x = torch.randn(4, 3, 2, 2, 2) + torch.tensor([0.0, 5.0, 0.0, 5.0]).view(4, 1, 1, 1, 1)
    y = bn(x)
    for split in (0, 1):  # samples 0, 2 and 1, 3
        part = y[split::2]
        torch.testing.assert_close(part.mean((0, 2, 3, 4)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(bn.running_mean, x.mean((0, 2, 3, 4)), atol=1e-5, rtol=0)


def test_long_cycle_evaluates_eval_freq_times_per_stage():
    stages = [MultigridStage(0, 4, 4, 32, e) for e in (10, 20)] + [MultigridStage(1, 1, 8, 32, 24)]
    when = long_cycle_eval_epochs(stages, eval_freq=3, max_epoch=24)
    # Stages of 10 epochs: every 4th epoch, counted back from each stage's end.
    assert [d for d in range(1, 25) if when(d)] == [2, 6, 10, 12, 16, 20, 22, 24]


def _tiny_cfg(tmp_path, **train):
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.DATA.INPUT_CHANNEL_NUM = "ResNet", "slow", [3]
    cfg.RESNET.DEPTH, cfg.RESNET.WIDTH_PER_GROUP, cfg.MODEL.NUM_CLASSES = 18, 4, 3
    cfg.OUTPUT_DIR = str(tmp_path / "run")
    for key, value in train.items():
        cfg.TRAIN[key] = value
    return cfg


def _to_pyslowfast(state: dict) -> dict:
    """slowvid ResNet names -> PySlowFast's (its ResBlock / stem / head modules)."""
    block = {"conv_a": "branch2.a", "conv_b": "branch2.b", "conv_c": "branch2.c",
             "norm_a": "branch2.a_bn", "norm_b": "branch2.b_bn", "norm_c": "branch2.c_bn",
             "shortcut.0": "branch1", "shortcut.1": "branch1_bn"}  # fmt: skip
    out = {}
    for key, value in state.items():
        if m := re.fullmatch(r"stages\.(\d)\.(\d+)\.(.+)\.(\w+)", key):
            key = f"s{int(m[1]) + 2}.pathway0_res{m[2]}.{block[m[3]]}.{m[4]}"
        elif m := re.fullmatch(r"stem\.(conv|norm)\.(\w+)", key):
            key = f"s1.pathway0_stem.{'conv' if m[1] == 'conv' else 'bn'}.{m[2]}"
        elif m := re.fullmatch(r"head\.proj\.(\w+)", key):
            key = f"head.projection.{m[1]}"
        out[key] = value
    return out


@pytest.mark.parametrize("reset", [True, False])
def test_checkpoint_epoch_reset_decides_where_training_starts(tmp_path, reset):
    cfg = _tiny_cfg(tmp_path, AUTO_RESUME=False, CHECKPOINT_EPOCH_RESET=reset)
    source = build_model(cfg)
    optimizer = torch.optim.SGD(source.parameters(), lr=0.1, momentum=0.9)
    source([torch.randn(2, 3, 2, 16, 16)]).sum().backward()
    optimizer.step()
    own = save_checkpoint(str(tmp_path / "own"), 5, source, optimizer)
    foreign = str(tmp_path / "pyslowfast.pyth")
    torch.save({"epoch": 5, "model_state": _to_pyslowfast(source.state_dict())}, foreign)
    for path, done in ((own, 5), (foreign, 6)):  # PySlowFast stores its last epoch's index
        cfg.TRAIN.CHECKPOINT_FILE_PATH = path
        model = build_model(cfg)
        fresh = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        state = _resume_or_initialise(cfg, model, fresh)
        assert state["epoch"] == (0 if reset else done)
        for a, b in zip(model.state_dict().values(), source.state_dict().values()):
            torch.testing.assert_close(a, b)
        # The optimizer continues too, from slowvid's own checkpoints.
        assert bool(fresh.state) == (not reset and path == own)


def test_clear_name_pattern_and_inflation_when_initialising(tmp_path, caplog):
    cfg = _tiny_cfg(tmp_path, AUTO_RESUME=False)
    cfg.MODEL.ARCH = "i3d"
    source = build_model(cfg)
    # A 2-D checkpoint behind a "backbone." prefix: every 5-D kernel reduced to its first frame.
    state = {
        f"backbone.{k}": (v[:, :, 0] if v.dim() == 5 else v) for k, v in source.state_dict().items()
    }
    path = str(tmp_path / "2d.pyth")
    torch.save({"model_state": state}, path)
    cfg.TRAIN.CHECKPOINT_FILE_PATH = path
    cfg.TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN = ["backbone."]
    with pytest.raises(Exception, match="stem.conv.weight"):
        _resume_or_initialise(cfg, build_model(cfg), None)  # 2-D kernels do not fit
    cfg.TRAIN.CHECKPOINT_INFLATE = True
    model = build_model(cfg)
    _resume_or_initialise(cfg, model, None)
    kernel = model.stem.conv.weight
    t = kernel.shape[2]
    expected = source.stem.conv.weight[:, :, :1].repeat(1, 1, t, 1, 1) / t
    torch.testing.assert_close(kernel, expected)


def test_the_tested_checkpoint_follows_pyslowfast_s_order(tmp_path):
    cfg = _tiny_cfg(tmp_path, CHECKPOINT_FILE_PATH="init.pkl", CHECKPOINT_TYPE="caffe2")
    assert checkpoint_to_test(cfg) == ("init.pkl", "caffe2")
    model = build_model(cfg)
    latest = save_checkpoint(cfg.OUTPUT_DIR, 1, model)
    assert checkpoint_to_test(cfg) == (latest, "pytorch")
    cfg.TEST.CHECKPOINT_FILE_PATH, cfg.TEST.CHECKPOINT_TYPE = "test.pkl", "caffe2"
    assert checkpoint_to_test(cfg) == ("test.pkl", "caffe2")


@pytest.mark.parametrize(
    "activation,fn",
    [("softmax", lambda x: x.softmax(-1)), ("sigmoid", torch.sigmoid), ("none", lambda x: x)],
)
def test_head_act_turns_view_logits_into_the_ensembled_scores(activation, fn, caplog):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    x = torch.randn(3, 1, 3, 2, 2)
    batch = {"inputs": [x], "label": torch.zeros(3), "video_index": torch.arange(3), "failed": []}
    evaluator = ClassificationEvaluator(3, 4, "sum", scores=activation)
    with caplog.at_level(logging.WARNING):
        run_dataset_evaluator(_Unlist(model), [batch], torch.device("cpu"), evaluator)
    with torch.no_grad():  # one view per video: each video's pooled scores are its view's
        torch.testing.assert_close(evaluator.ensemble.video_preds.float(), fn(model(x)))


class _Unlist(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return self.model(inputs[0])


def test_an_unknown_head_act_is_refused():
    with pytest.raises(ValueError, match="MODEL.HEAD_ACT 'tanh'"):
        ClassificationEvaluator(1, 4, "sum", scores="tanh")


def test_sync_batchnorm_on_one_process_stays_plain():
    model = nn.Sequential(nn.BatchNorm3d(2))
    cfg = get_cfg()
    cfg.BN.NORM_TYPE = "sync_batchnorm"
    cfg.MODEL.CHANNELS_LAST = False  # a plain module declares no channels-last devices
    assert not isinstance(wrap_model(model, cfg, torch.device("cpu"))[0], AllReduceBatchNorm)


class _Steps:
    """The trainer fields the loss-explosion hook reads."""

    epoch = 0
    iter = 0
    step_stats: dict = {}


@pytest.mark.parametrize(
    "window, last, stops",
    [(10, 2.01, True), (10, 1.99, False), (6, 100.0, False)],  # a window under 7 never checks
)
def test_kill_loss_explosion_factor_compares_with_the_5_steps_before(window, last, stops):
    hook = StopOnLossExplosion(factor=2.0, window=window)
    hook.trainer = _Steps()
    hook.before_epoch()
    losses = [3.0, 1.0, 1.0, 1.0, 1.0, 1.0, last]  # the mean of the 5 before `last` is 1
    for i, loss in enumerate(losses):
        hook.trainer.iter, hook.trainer.step_stats = i, {"loss": loss}
        if stops and i == len(losses) - 1:
            with pytest.raises(LossExplosion, match="KILL_LOSS_EXPLOSION_FACTOR 2.0"):
                hook.after_step()
        else:
            hook.after_step()


@pytest.mark.timeout(120)
def test_kill_loss_explosion_factor_stops_a_run(tiny_opts):
    # Any factor this small is exceeded: the run stops at its 7th step (LOG_PERIOD 7).
    opts = tiny_opts(
        **{"TRAIN.KILL_LOSS_EXPLOSION_FACTOR": 1e-9, "TRAIN.BATCH_SIZE": 1, "LOG_PERIOD": 7}
    )
    with pytest.raises(LossExplosion, match="epoch 1, iteration 7 exceeds"):
        engine.train(load_config(DEMO_CFG, opts + ["TRAIN.EVAL_PERIOD", "0"]))


@pytest.mark.timeout(120)
def test_num_temporal_clips_tests_once_per_listed_number(tiny_opts, tmp_path):
    out = str(tmp_path / "run")
    listed = engine.test(
        load_config(
            DEMO_CFG,
            tiny_opts(OUTPUT_DIR=out, **{"TEST.SAVE_RESULTS_PATH": "r.pyth"})
            + ["TEST.NUM_TEMPORAL_CLIPS", "[1, 2]"],
        )
    )
    assert sorted(listed["per_num_temporal_clips"]) == [1, 2]
    assert listed["top1_acc"] == listed["per_num_temporal_clips"][2]["top1_acc"]  # the last
    saved = {n: torch.load(f"{out}/r_{n}clips.pyth", weights_only=True) for n in (1, 2)}
    # Each pass ensembles its own number of clips per video.
    assert saved[1]["num_views"].tolist() == [1] * 8 and saved[2]["num_views"].tolist() == [2] * 8
    assert not torch.allclose(saved[1]["video_preds"], saved[2]["video_preds"])
