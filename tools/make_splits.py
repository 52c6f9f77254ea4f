#!/usr/bin/env python
"""Write Kinetics-style split files for a folder of class folders, ``ROOT/<class>/<videos>``.

    python tools/make_splits.py /data/my_videos --val-fraction 0.2 --test-fraction 0.1

Writes ``train.csv``, ``val.csv``, ``test.csv`` (``relative/path label`` lines) and
``classnames.json`` into ROOT (or --out). Each class is split on its own, deterministically (the
same folder always gives the same split; see slowvid/data/datasets/video_folder.py). With
--test-fraction 0, test.csv lists the val videos. Files that are not videos, empty files and
class folders without a video are named and left out.

Train on them with ``TRAIN.DATASET VideoFolder`` (which reads split files it finds in ROOT), or
with ``Kinetics`` and DATA.PATH_TO_DATA_DIR / DATA.PATH_PREFIX set to ROOT when no path contains
the separator.
"""

import argparse
import logging
import os
import sys

from slowvid.data.class_names import CLASS_NAMES_FILE, write_class_names
from slowvid.data.datasets.video_folder import scan_video_folder, stratified_split, write_split

logger = logging.getLogger("make_splits")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("root", help="folder of class folders")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of each class for val")
    p.add_argument("--test-fraction", type=float, default=0.0, help="share for test (0: val)")
    p.add_argument("--out", default="", help="where the files go (default: ROOT)")
    p.add_argument("--separator", default=" ", help="between path and label")
    return p.parse_args(argv)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    fractions = (args.val_fraction, args.test_fraction)
    if sum(fractions) >= 1 or min(fractions) < 0:
        raise SystemExit("--val-fraction and --test-fraction must be >= 0 and sum below 1")
    scan = scan_video_folder(args.root)
    for message in scan.skipped:
        logger.warning("skipping %s", message)
    rest, test = stratified_split(scan.videos, args.test_fraction)
    train, val = stratified_split(rest, args.val_fraction / (1 - args.test_fraction))
    if not args.test_fraction:
        test = val
    out = args.out or args.root
    os.makedirs(out, exist_ok=True)
    for name, videos in (("train", train), ("val", val), ("test", test)):
        write_split(os.path.join(out, f"{name}.csv"), videos, args.separator)
    write_class_names(os.path.join(out, CLASS_NAMES_FILE), scan.classes)
    awkward = [p for p, _ in scan.videos if args.separator in p]
    if awkward:
        logger.warning(
            "%d paths contain the separator %r (e.g. %s): VideoFolder reads them, Kinetics does "
            "not (rename them, or pass another --separator and DATA.PATH_LABEL_SEPARATOR)",
            len(awkward),
            args.separator,
            awkward[0],
        )
    logger.info(
        "%d classes; %d train, %d val, %d test videos; wrote %s/{train,val,test}.csv and %s",
        len(scan.classes),
        len(train),
        len(val),
        len(test),
        out,
        CLASS_NAMES_FILE,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
