#!/usr/bin/env python
"""Submit a training (and/or test) run to SLURM with submitit.

    python tools/submit_net.py --cfg configs/Kinetics/SLOWFAST_8x8_R50.yaml \
        --partition gpu --nodes 2 --gpus-per-node 8 --time 4320 DATA.PATH_TO_DATA_DIR /data/k400

One task per GPU (``--gpus-per-node 0``: per ``NUM_CPU_PROCESSES``, joined by gloo). On
preemption or near the time limit the run checkpoints, mid-epoch if need be, and requeues
itself; the requeued job resumes where it stopped. Logs: ``FOLDER/<job id>_<rank>_log.out``.
"""

from __future__ import annotations

import argparse
import functools
import sys

import submitit

from slowvid.config import load_config
from slowvid.distributed.slurm import SlurmTask
from slowvid.engine import test, train


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cfg", dest="cfg_files", action="append", required=True, help="yaml config")
    p.add_argument("--project", default=None, help="folder under projects/ to import")
    p.add_argument("--partition", required=True)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--gpus-per-node", type=int, default=None, help="default: the cfg's NUM_GPUS")
    p.add_argument("--cpus-per-task", type=int, default=10)
    p.add_argument("--time", type=int, default=4320, help="time limit in minutes")
    p.add_argument("--mem", type=int, default=None, help="GB per node")
    p.add_argument("--constraint", default=None)
    p.add_argument("--comment", default=None)
    p.add_argument("--account", default=None)
    p.add_argument("--qos", default=None)
    p.add_argument("--job-name", default="slowvid")
    p.add_argument("--folder", default="submitit/%j", help="job folder; %%j is the job id")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    return p.parse_args(argv)


def submit(args: argparse.Namespace) -> submitit.Job:
    """Submit the run described by ``args``; returns the submitit job (one per task)."""
    load_cfg = functools.partial(load_config, args.cfg_files, args.opts, project=args.project)
    cfg = load_cfg()  # here too: a bad config fails now, not in the queue
    gpus = cfg.NUM_GPUS if args.gpus_per_node is None else args.gpus_per_node
    if gpus != cfg.NUM_GPUS:
        load_cfg = functools.partial(
            load_config, args.cfg_files, [*args.opts, "NUM_GPUS", str(gpus)], project=args.project
        )
    executor = submitit.AutoExecutor(folder=args.folder, cluster="slurm")
    optional = {
        "mem_gb": args.mem,
        "slurm_constraint": args.constraint,
        "slurm_comment": args.comment,
        "slurm_account": args.account,
        "slurm_qos": args.qos,
    }
    executor.update_parameters(
        name=args.job_name,
        slurm_partition=args.partition,
        nodes=args.nodes,
        tasks_per_node=gpus if gpus > 0 else cfg.NUM_CPU_PROCESSES,
        gpus_per_node=gpus,
        cpus_per_task=args.cpus_per_task,
        timeout_min=args.time,
        **{k: v for k, v in optional.items() if v is not None},
    )
    jobs = [j for j, on in ((train, cfg.TRAIN.ENABLE), (test, cfg.TEST.ENABLE)) if on]
    return executor.submit(SlurmTask(load_cfg, jobs))


def main(argv=None) -> int:
    job = submit(parse_args(argv))
    print(f"submitted job {job.job_id}; logs in {job.paths.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
