"""One shard of a two-shard CPU run whose job misbehaves on purpose (used by test_liveness.py).

    python shard_job.py SHARD_ID PORT MODE     MODE: raise | hang | ok

Rank 1 raises (``raise``) or sleeps through the collectives (``hang``) at the fourth of many
all-reduces; rank 0 keeps all-reducing.
"""

import sys
import time

import torch
import torch.distributed as dist

from slowvid.config import get_cfg
from slowvid.distributed import get_rank, launch_job


def job(cfg) -> None:
    mode = cfg.OUTPUT_DIR  # the mode travels in an otherwise unused key
    value = torch.ones(1)
    for step in range(200):
        if get_rank() == 1 and step == 3 and mode == "raise":
            raise ValueError("boom on purpose")
        if get_rank() == 1 and step == 3 and mode == "hang":
            time.sleep(60)
        dist.all_reduce(value)
        time.sleep(0.05)


def main(shard_id: int, port: int, mode: str) -> None:
    cfg = get_cfg()
    cfg.NUM_GPUS, cfg.NUM_CPU_PROCESSES, cfg.NUM_SHARDS, cfg.SHARD_ID = 0, 1, 2, shard_id
    cfg.DIST_TIMEOUT_MINUTES = 0.05  # 3 s
    cfg.OUTPUT_DIR = mode
    launch_job(cfg, job, init_method=f"tcp://127.0.0.1:{port}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
