"""The collectives every distributed path uses, over a real two-rank gloo group on CPU."""

import pytest
import torch
import torch.distributed as dist

from slowvid.config import get_cfg
from slowvid.distributed import comm, launch_job


def _collectives(cfg) -> None:
    rank = comm.get_rank()
    assert comm.get_world_size() == 2 and dist.get_backend() == "gloo"
    assert comm.is_main_process() == (rank == 0) and comm.get_local_rank() == rank
    value = torch.full((4,), float(rank + 1))
    dist.all_reduce(value)
    assert value.tolist() == [3.0] * 4
    assert comm.all_reduce_sum([rank + 1.0, 10.0 * rank]) == [3.0, 10.0]
    assert comm.all_gather_object({"rank": rank, "items": list(range(rank))}) == [
        {"rank": 0, "items": []},
        {"rank": 1, "items": [0]},
    ]
    comm.synchronize()


@pytest.mark.timeout(60)
def test_two_gloo_ranks_reduce_and_gather():
    cfg = get_cfg()
    cfg.NUM_GPUS, cfg.NUM_CPU_PROCESSES, cfg.DIST_TIMEOUT_MINUTES = 0, 2, 0.5
    launch_job(cfg, _collectives)  # a failed assert in a rank raises here, naming it
