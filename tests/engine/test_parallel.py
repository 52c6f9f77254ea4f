"""Activation checkpointing per block, and FSDP2 per block over two gloo processes."""

import copy
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.distributed.tensor import DTensor

from slowvid.config import get_cfg
from slowvid.distributed.comm import find_free_port
from slowvid.engine.parallel import (
    FSDPOptions,
    checkpoint_blocks,
    gathered,
    shard_model,
    sync_buffers,
)
from slowvid.engine.setup import wrap_model
from slowvid.models import build_model


def _tiny_cfg(model: str, **overrides):
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME = model
    cfg.MODEL.NUM_CLASSES = 5
    cfg.NUM_GPUS = 0
    cfg.MODEL.CHANNELS_LAST = False  # the plain model stays contiguous; compare like with like
    if model == "SlowFast":
        cfg.RESNET.DEPTH, cfg.RESNET.WIDTH_PER_GROUP, cfg.SLOWFAST.BETA_INV = 18, 4, 4
        cfg.NONLOCAL.LOCATION = [[[]], [[1]], [[]], [[]]]  # one non-local block in res3
    else:  # a 4-block MViT with drop-path, whose random draws the recomputation must repeat
        cfg.MODEL.ARCH, cfg.DATA.INPUT_CHANNEL_NUM = "mvit", [3]
        cfg.MVIT.EMBED_DIM, cfg.MVIT.DEPTH, cfg.MVIT.DROPPATH_RATE = 16, 4, 0.5
        cfg.MVIT.DIM_MUL, cfg.MVIT.HEAD_MUL = [[1, 2.0], [3, 2.0]], [[1, 2.0], [3, 2.0]]
        cfg.MVIT.POOL_Q_STRIDE = [[1, 1, 2, 2], [3, 1, 2, 2]]
        cfg.MVIT.POOL_KV_STRIDE_ADAPTIVE = [1, 4, 4]
        cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = 8, 64
    for key, value in overrides.items():
        node, leaf = key.split(".")
        setattr(cfg[node], leaf, value)
    return cfg


def _clip(model: str, batch: int = 2) -> list[torch.Tensor]:
    if model == "SlowFast":
        return [torch.randn(batch, 3, 2, 32, 32), torch.randn(batch, 3, 8, 32, 32)]
    return [torch.randn(batch, 3, 8, 64, 64)]


@pytest.mark.parametrize("model_name", ["SlowFast", "MViT"])
def test_checkpointed_blocks_give_the_plain_gradients_and_statistics(model_name):
    torch.manual_seed(0)
    plain = build_model(_tiny_cfg(model_name)).train()
    ckpt = copy.deepcopy(plain)
    cfg = _tiny_cfg(model_name, **{"MODEL.ACT_CHECKPOINT": True})
    ckpt = wrap_model(ckpt, cfg, torch.device("cpu"))  # the key's effect
    wrapped = [m for m in ckpt.modules() if type(m).__name__ == "CheckpointWrapper"]
    blocks = [type(m).__name__ for m in plain.modules() if isinstance(m, plain.block_types)]
    # SlowFast R18: 2 x 8 bottlenecks and 2 non-local blocks; MViT: its 4 blocks
    assert len(wrapped) == len(blocks) == (18 if model_name == "SlowFast" else 4)
    assert ckpt.state_dict().keys() == plain.state_dict().keys()  # checkpoints load either way

    inputs = _clip(model_name)
    for model in (plain, ckpt):
        torch.manual_seed(1)  # the same drop-path draws
        model(inputs).logsumexp(1).sum().backward()
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for name, param in ckpt.named_parameters():
        name = name.replace("._checkpoint_wrapped_module", "")
        assert torch.equal(param.grad, grads[name]), name
    # BatchNorm ran twice per block but recorded its statistics once
    for (name, a), b in zip(plain.state_dict().items(), ckpt.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_blocks_must_be_declared():
    class NoBlocks(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="MODEL.ACT_CHECKPOINT .* NoBlocks declares no block"):
        checkpoint_blocks(NoBlocks())


def _two_rank_checks(rank: int, port: int) -> None:
    """Runs in each of two processes; asserts, so a failure raises out of mp.spawn."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    cfg = _tiny_cfg("SlowFast", **{"MODEL.DROPOUT_RATE": 0.0})  # the same function everywhere
    plain = build_model(cfg).train()
    cpu = torch.device("cpu")
    inputs = _clip("SlowFast", batch=4)
    half = [x[2 * rank : 2 * rank + 2] for x in inputs]

    # bf16 compute, fp32 reduction: the forward runs in bf16, shards and gradients stay fp32
    model = shard_model(copy.deepcopy(plain), FSDPOptions(torch.bfloat16, torch.float32), cpu)
    out = model(half)
    assert out.dtype == torch.bfloat16
    out.float().logsumexp(1).sum().backward()
    assert all(isinstance(p, DTensor) and p.grad.dtype == torch.float32 for p in model.parameters())

    # fp32: the sharded gradients equal the plain model's over the whole batch of both ranks
    model = shard_model(copy.deepcopy(plain), FSDPOptions(), cpu)
    block = model.slow_stages[0][0]
    model(half).logsumexp(1).sum().backward()
    assert isinstance(block.conv_a.weight, DTensor)  # resharded after the forward pass
    reference = copy.deepcopy(plain)
    for k in range(2):  # the ranks' halves, separately normalised as the ranks' BN did
        (reference([x[2 * k : 2 * k + 2] for x in inputs]).logsumexp(1).sum() / 2).backward()
    ref_grads = dict(reference.named_parameters())
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad.full_tensor(), ref_grads[name].grad)
    # the global gradient norm, for clipping, from the shards
    norm = torch.nn.utils.clip_grad_norm_(list(model.parameters()), 1e9)
    ref_norm = torch.nn.utils.clip_grad_norm_(list(reference.parameters()), 1e9)
    torch.testing.assert_close(norm.full_tensor(), ref_norm)

    # RESHARD_AFTER_FORWARD False: the gathered block stays gathered until backward
    model = shard_model(copy.deepcopy(plain), FSDPOptions(reshard_after_forward=False), cpu)
    model(half)
    assert not isinstance(model.slow_stages[0][0].conv_a.weight, DTensor)

    # evaluation: rank 0's BN statistics everywhere, and no collective per batch, so the
    # ranks may run different numbers of batches
    model = shard_model(copy.deepcopy(plain), FSDPOptions(), cpu).eval()
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm3d)):
        bn.running_mean.fill_(float(rank))
    with gathered(model), torch.no_grad():
        outputs = [model([x[:1] for x in inputs]) for _ in range(3 if rank == 0 else 1)]
    expected = copy.deepcopy(plain).eval()
    for bn in (m for m in expected.modules() if isinstance(m, nn.BatchNorm3d)):
        bn.running_mean.fill_(0.0)
    with torch.no_grad():
        torch.testing.assert_close(outputs[-1], expected([x[:1] for x in inputs]))
    model.train()
    model(half).sum().backward()  # sharded again afterwards: training goes on
    sync_buffers(model)
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_fsdp_on_two_gloo_processes_matches_the_plain_model():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_two_rank_checks, args=(find_free_port(),), nprocs=2, join=True)


def test_fsdp_keys_reach_the_options_and_fp16_autocast_is_refused():
    from slowvid.config import load_config

    cfg = get_cfg()
    cfg.FSDP.PARAM_DTYPE, cfg.FSDP.REDUCE_DTYPE, cfg.FSDP.RESHARD_AFTER_FORWARD = (
        "bfloat16",
        "float32",
        False,
    )
    assert FSDPOptions.from_config(cfg) == FSDPOptions(torch.bfloat16, torch.float32, False)
    assert FSDPOptions.from_config(get_cfg()) == FSDPOptions(None, None, True)
    opts = ["TRAIN.DISTRIBUTED", "fsdp", "TRAIN.MIXED_PRECISION", "True", "NUM_GPUS", "1"]
    with pytest.raises(ValueError, match="TRAIN.MIXED_PRECISION.*FSDP.PARAM_DTYPE bfloat16"):
        load_config(opts=opts)
    with pytest.raises(ValueError, match="TRAIN.DISTRIBUTED: 'zero3' is not one of"):
        load_config(opts=["TRAIN.DISTRIBUTED", "zero3"])
