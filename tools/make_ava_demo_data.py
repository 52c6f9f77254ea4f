#!/usr/bin/env python
"""Generate the tiny synthetic AVA-format data set (see ``slowvid/data/ava_demo.py``).

python tools/make_ava_demo_data.py --out data/ava_demo
python tools/run_net.py --cfg configs/Demo/AVA_SLOW_DEMO.yaml <the printed overrides>
"""

import argparse
import sys

from slowvid.data.ava_demo import AvaDemoSpec, ava_demo_overrides, make_ava_demo_data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="data/ava_demo", help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random")
    args = parser.parse_args(argv)
    spec = AvaDemoSpec(seed=args.seed)
    make_ava_demo_data(args.out, spec)
    keys = ("AVA.FRAME_DIR", "AVA.FRAME_LIST_DIR", "AVA.ANNOTATION_DIR")
    overrides = ava_demo_overrides(args.out, spec)
    print(" ".join(f"{k} {overrides[k]}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
