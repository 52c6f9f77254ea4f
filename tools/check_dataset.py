#!/usr/bin/env python
"""Scan a dataset split for unreadable or too-short videos; print label counts; write a clean list.

    python tools/check_dataset.py --cfg configs/Kinetics/SLOWFAST_8x8_R50.yaml --split train \
        --output /data/k400/train_clean.csv DATA.PATH_TO_DATA_DIR /data/k400

The split is built exactly as the run builds it (dataset, paths, clip length), so what passes
here is what the loader will read. Exit status 1 when any video has a problem.
"""

import argparse
import sys

from tqdm import tqdm

from slowvid.config import load_config
from slowvid.data import build_dataset
from slowvid.data.checking import check_videos, write_clean_list
from slowvid.data.datasets import ClipDataset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cfg", dest="cfg_files", action="append", required=True)
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--output", help="write the usable videos here as 'path label' lines")
    parser.add_argument("--workers", type=int, default=4, help="videos checked at a time")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    args = parser.parse_args(argv)

    cfg = load_config(args.cfg_files, args.opts)
    dataset = build_dataset(cfg, args.split)
    if not isinstance(dataset, ClipDataset):  # clip datasets list their videos and labels
        parser.error(f"{type(dataset).__name__} does not list video files to check")
    with tqdm(total=len(dataset.paths), desc=f"checking {args.split}", unit="video") as bar:
        report = check_videos(
            dataset.paths,
            dataset.labels,
            dataset.clip,
            dataset.decoding_backend,
            args.workers,
            progress=bar.update,
            video_at=dataset.video_at,
        )
    print(report.summary())
    print("videos per label:", report.label_counts())
    if args.output:
        n = write_clean_list(report, args.output, cfg.DATA.PATH_PREFIX)
        print(f"wrote {n} usable videos to {args.output}")
    return 1 if len(report.usable) < len(report.checks) else 0


if __name__ == "__main__":
    sys.exit(main())
