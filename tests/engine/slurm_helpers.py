"""Imported by the SLURM tests' job processes (the pickled config loader refers to it).

Its import registers a hook that holds training at a known step until SLURM delivers a stop
signal, so the interruption is mid-epoch at the same place on every run.
"""

import os
import time

from slowvid.config import load_config
from slowvid.distributed import comm, preemption
from slowvid.engine import HookBase
from slowvid.registry import HOOKS

READY_FILE = "waiting_for_signal"


def load_cfg(cfg_files: list[str], opts: list[str]):
    return load_config(cfg_files, opts)


@HOOKS.register()
class WaitForSignalAtSecondStep(HookBase):
    """In a fresh run, after step 2 of epoch 1: mark the output dir and wait for a signal."""

    def after_step(self):
        t = self.trainer
        if t.start_epoch or t.start_iter or t.epoch or t.iter != 1:
            return
        if comm.is_main_process():
            open(os.path.join(t.output_dir, READY_FILE), "w").close()
        deadline = time.monotonic() + 90
        while not preemption.requested_signal() and time.monotonic() < deadline:
            time.sleep(0.1)


@HOOKS.register()
class RecordWorld(HookBase):
    """Writes rank, world size and an all-reduced sum, to check the ranks formed one group."""

    def after_train(self):
        total = comm.all_reduce_sum([float(comm.get_rank() + 1)])[0]
        path = os.path.join(self.trainer.output_dir, f"world_rank{comm.get_rank()}.txt")
        with open(path, "w") as f:
            f.write(f"{comm.get_rank()} {comm.get_world_size()} {total}")
