"""Mixed precision, gradient accumulation and clipping, and precise BN."""

import json
import os
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from demo_config import DEMO_CFG
from torch import nn
from torch.utils.data import DataLoader

from slowvid import engine
from slowvid.checkpoint import find_latest_checkpoint, read_checkpoint
from slowvid.config import load_config
from slowvid.data import collate_clips
from slowvid.engine import Trainer
from slowvid.engine.inputs import PixelNorm
from slowvid.engine.precise_bn import PreciseBN, average_bn_stats_across_ranks, combine_bn_stats


def _items(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "inputs": [torch.randn(3, 2, 4, 4, generator=g)],
            "label": i % 3,
            "video_index": i,
            "failed": [],
        }
        for i in range(n)
    ]


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 2 * 4 * 4, 3)

    def forward(self, inputs):
        return self.fc(inputs[0].flatten(1))


def _train(batch_size, accum, lr=0.1, clip_l2=0.0, momentum=0.9, mixed_precision=False):
    model = _Linear()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(_items(16), batch_size=batch_size, shuffle=False, collate_fn=collate_clips)
    trainer = Trainer(
        model=model,
        optimizer=opt,
        loss_fn=nn.functional.cross_entropy,
        loader=loader,
        lr_schedule=lambda e: lr,
        device=torch.device("cpu"),
        max_epoch=1,
        log_period=100,
        output_dir="/nonexistent-unused",
        grad_accum_steps=accum,
        clip_grad_l2norm=clip_l2,
        mixed_precision=mixed_precision,
    )
    trainer._finish_epoch = lambda *a, **k: None  # no stats files for this in-memory run
    trainer.train()
    return model


def test_accumulating_two_half_batches_equals_one_full_batch():
    full, halves = _train(8, 1), _train(4, 2)
    for a, b in zip(full.parameters(), halves.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(_train(4, 1).fc.weight, full.fc.weight)  # without accumulation


def test_cpu_mixed_precision_trains_in_bf16_and_keeps_fp32_weights():
    fp32, bf16 = _train(8, 1), _train(8, 1, mixed_precision=True)
    assert bf16.fc.weight.dtype == torch.float32
    assert not torch.equal(bf16.fc.weight, fp32.fc.weight)  # the forward did run in bf16
    torch.testing.assert_close(bf16.fc.weight, fp32.fc.weight, rtol=0.05, atol=0.01)


def test_l2_clipping_bounds_each_update():
    start = _Linear().fc.weight.detach().clone()
    clipped = _train(16, 1, lr=1.0, clip_l2=1e-3, momentum=0.0)  # one step of plain SGD
    step = torch.cat([(clipped.fc.weight - start).flatten(), clipped.fc.bias.flatten()])
    bias0 = _Linear().fc.bias.detach()
    step[-3:] -= bias0
    assert step.norm() <= 1e-3 * 1.0001


def test_combined_bn_stats_equal_those_of_all_data():
    shards = [torch.randn(500, 4) * (i + 1) + i for i in range(3)]
    means = torch.stack([s.mean(0) for s in shards])
    variances = torch.stack([s.var(0, unbiased=False) for s in shards])
    mean, var = combine_bn_stats(means, variances)
    everything = torch.cat(shards)
    torch.testing.assert_close(mean, everything.mean(0))
    torch.testing.assert_close(var, everything.var(0, unbiased=False))


def test_precise_bn_sets_the_true_statistics_of_the_batches():
    model = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4, momentum=0.1))
    # uint8 clips, as the loader sends them: the hook must normalise them like training does.
    pixels = [torch.randint(100, 256, (2, 3, 2, 4, 4), dtype=torch.uint8) for _ in range(4)]
    batches = [{"inputs": [p]} for p in pixels]
    norm = PixelNorm(mean=(0.2, 0.3, 0.4), std=(0.25, 0.25, 0.25))
    hook = PreciseBN(period=1, num_batches=4)

    class Wrapper(nn.Module):  # the hook calls model(list_of_pathways)
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, inputs):
            return self.net(inputs[0])

    hook.trainer = SimpleNamespace(
        epoch=0,
        max_epoch=1,
        model=Wrapper(),
        loader=batches,
        device=torch.device("cpu"),
        pixel_norm=norm,
    )
    hook.after_epoch()
    with torch.no_grad():
        feats = torch.cat([model[0](norm(p)) for p in pixels])
    per_channel = feats.transpose(0, 1).flatten(1)
    torch.testing.assert_close(model[1].running_mean, per_channel.mean(1), rtol=1e-4, atol=1e-5)
    # per-batch (unbiased) variances averaged: within 2% of the population variance here
    torch.testing.assert_close(model[1].running_var, per_channel.var(1), rtol=0.02, atol=1e-4)
    assert not torch.allclose(model[1].running_var, torch.ones(4), rtol=0.05)
    assert model[1].momentum == 0.1  # restored after the pass


def _bn_rank(rank, init_file, out_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    bn = nn.BatchNorm1d(3)
    data = torch.randn(100, 3, generator=torch.Generator().manual_seed(rank)) * (rank + 1) + rank
    bn.running_mean.copy_(data.mean(0))
    bn.running_var.copy_(data.var(0, unbiased=False))
    average_bn_stats_across_ranks(bn)
    if rank == 0:
        torch.save({"mean": bn.running_mean, "var": bn.running_var}, out_file)
    dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_precise_bn_statistics_agree_across_two_gloo_ranks(tmp_path):
    out = str(tmp_path / "bn.pt")
    mp.spawn(_bn_rank, args=(str(tmp_path / "init"), out), nprocs=2, join=True)
    shards = [
        torch.randn(100, 3, generator=torch.Generator().manual_seed(r)) * (r + 1) + r
        for r in range(2)
    ]
    everything = torch.cat(shards)
    got = torch.load(out, weights_only=True)
    torch.testing.assert_close(got["mean"], everything.mean(0))
    torch.testing.assert_close(got["var"], everything.var(0, unbiased=False))


@pytest.mark.timeout(240)
def test_precise_bn_accumulation_and_clipping_in_a_real_run(tiny_opts):
    cfg = load_config(
        DEMO_CFG,
        tiny_opts(
            **{
                "SOLVER.MAX_EPOCH": 1,
                "BN.USE_PRECISE_STATS": True,
                "BN.NUM_BATCHES_PRECISE": 2,
                "TRAIN.GRAD_ACCUM_STEPS": 2,
                "SOLVER.CLIP_GRAD_L2NORM": 10.0,
            }
        ),
    )
    engine.train(cfg)
    with open(os.path.join(cfg.OUTPUT_DIR, "stats.jsonl")) as f:
        stats = [json.loads(line) for line in f]
    epoch = next(s for s in stats if s["_type"] == "train_epoch")
    assert torch.isfinite(torch.tensor(epoch["loss"])) and epoch["grad_norm"] > 0
    assert any(s["_type"] == "val" for s in stats)
    with open(os.path.join(cfg.OUTPUT_DIR, "logs", "log_rank0.txt")) as f:
        assert "precise BN: statistics recomputed over 2 batches" in f.read()


@pytest.mark.timeout(240)
def test_channels_last_run_trains_like_the_default_layout(tiny_opts, tmp_path):
    weights = {}
    for channels_last in (False, True):
        out = str(tmp_path / f"cl{channels_last}")
        opts = {"SOLVER.MAX_EPOCH": 1, "MODEL.CHANNELS_LAST": channels_last, "OUTPUT_DIR": out}
        engine.train(load_config(DEMO_CFG, tiny_opts(**opts)))
        weights[channels_last] = read_checkpoint(find_latest_checkpoint(out))["model_state"]
    conv = "slow_stem.conv.weight"
    assert weights[True][conv].is_contiguous(memory_format=torch.channels_last_3d)
    assert not weights[False][conv].is_contiguous(memory_format=torch.channels_last_3d)
    for key, value in weights[False].items():
        # Same arithmetic in another order: equal up to float rounding after a few SGD steps.
        torch.testing.assert_close(weights[True][key], value, rtol=1e-3, atol=1e-4)
