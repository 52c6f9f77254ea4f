"""Process groups and launching."""

from .comm import (
    all_gather_object,
    all_reduce_sum,
    get_local_rank,
    get_rank,
    get_world_size,
    is_main_process,
    synchronize,
)
from .launch import launch_job

__all__ = [
    "all_gather_object",
    "all_reduce_sum",
    "get_local_rank",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "launch_job",
    "synchronize",
]
