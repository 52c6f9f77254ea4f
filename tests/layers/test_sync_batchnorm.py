"""Sync BN over gloo: one step on two CPU processes equals one process on the whole batch."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from slowvid.layers import AllReduceBatchNorm, convert_all_reduce_batchnorm


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 3 * 3, 3)
    )


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    # the two halves differ in mean and scale, so per-half statistics are visibly wrong
    x = torch.randn(8, 3, 2, 3, 3, generator=g) * torch.linspace(0.5, 3, 8).view(8, 1, 1, 1, 1)
    return x + torch.arange(8.0).view(8, 1, 1, 1, 1), torch.arange(8) % 3


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rank(rank: int, init_file: str, out_file: str, sync: bool) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    model = _model()
    if sync:
        model = convert_all_reduce_batchnorm(model)
    ddp = nn.parallel.DistributedDataParallel(model)
    x, y = _batch()
    _step(ddp, x[4 * rank : 4 * rank + 4], y[4 * rank : 4 * rank + 4])
    torch.save(_state(model), f"{out_file}.{rank}")
    dist.destroy_process_group()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sync", [True, False])
def test_two_gloo_ranks_match_one_process_on_the_whole_batch(tmp_path, sync):
    out = str(tmp_path / "state")
    mp.spawn(_rank, args=(str(tmp_path / "init"), out, sync), nprocs=2, join=True)
    single = _model()
    _step(single, *_batch())
    want = _state(single)
    for rank in (0, 1):
        got = torch.load(f"{out}.{rank}", weights_only=True)
        assert got.keys() == want.keys()
        for key in want:
            close = torch.allclose(got[key].float(), want[key].float(), rtol=1e-4, atol=1e-5)
            if sync:
                assert close, (key, got[key], want[key])
            elif key in ("1.running_mean", "1.running_var"):
                # plain BN normalises each half alone: the control that the test can fail
                assert not close, key


def test_without_a_process_group_it_is_plain_batchnorm():
    torch.manual_seed(0)
    plain = nn.BatchNorm3d(4)
    converted = convert_all_reduce_batchnorm(nn.Sequential(nn.BatchNorm3d(4)))
    assert isinstance(converted[0], AllReduceBatchNorm)
    x = torch.randn(2, 4, 2, 3, 3)
    torch.testing.assert_close(converted(x), plain(x))
    torch.testing.assert_close(converted[0].running_var, plain.running_var)
