#!/usr/bin/env python
"""Train and/or test a video model.

    python tools/run_net.py --cfg configs/Kinetics/SLOWFAST_8x8_R50.yaml \
        DATA.PATH_TO_DATA_DIR /data/k400 NUM_GPUS 8

Trailing ``KEY VALUE`` pairs override the yaml. A config under ``projects/<name>/`` imports
that project first (or name it with ``--project``).
"""

import argparse
import sys

from slowvid.config import load_config
from slowvid.distributed import launch_job
from slowvid.engine import train_and_test


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cfg",
        dest="cfg_files",
        action="append",
        required=True,
        help="yaml config; repeat to merge several in order",
    )
    parser.add_argument("--project", default=None, help="folder under projects/ to import")
    parser.add_argument(
        "--init-method",
        default=None,
        help="rendezvous for several machines, e.g. tcp://10.0.0.1:9999",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.cfg_files, args.opts, project=args.project)
    launch_job(cfg, train_and_test, init_method=args.init_method)
    return 0


if __name__ == "__main__":
    sys.exit(main())
