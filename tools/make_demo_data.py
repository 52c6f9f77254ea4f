"""Generate the synthetic moving-shapes demo data set (see slowvid/data/demo.py).

python tools/make_demo_data.py --out data/demo --seed 0
"""

import argparse
import logging

from slowvid.data.demo import DemoSpec, make_demo_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/demo", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=DemoSpec.train_per_class)
    parser.add_argument("--val-per-class", type=int, default=DemoSpec.val_per_class)
    parser.add_argument("--test-per-class", type=int, default=DemoSpec.test_per_class)
    parser.add_argument("--workers", type=int, default=None, help="encoding processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = DemoSpec(
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        test_per_class=args.test_per_class,
        seed=args.seed,
    )
    make_demo_data(args.out, spec, num_workers=args.workers)


if __name__ == "__main__":
    main()
