#!/usr/bin/env python
"""Write a split's videos and labels as WebDataset tar shards plus their index.

    # a "path label" split file (Kinetics layout), paths joined to --prefix
    python tools/make_shards.py --split-file k400/train.csv --prefix /data/k400 \
        --output /data/k400_shards --name train --samples-per-shard 500

    # or any clip dataset the config names (SSv2, UCF101, Charades' single-label...)
    python tools/make_shards.py --cfg configs/SSv2/MVIT_B_16x4.yaml --split train \
        --output /data/ssv2_shards [KEY VALUE ...]

Writes ``{name}-000000.tar, ...`` (each sample: ``{key}.{ext}`` the video file's bytes,
``{key}.cls`` the label, ``{key}.json`` the source path and label) and ``{name}.json``, the
shard index that ``TRAIN.DATASET VideoShards`` reads with ``DATA.PATH_TO_DATA_DIR`` set to
``--output`` (copy the folder to object storage as it is). Videos are shuffled before
sharding (``--seed``), so each shard mixes classes; sorted input would give shards of one
class each. Every shard but the last holds ``--samples-per-shard`` videos: make their count
a multiple of ranks x loader workers for every video to be read once per epoch.
"""

import argparse
import io
import json
import os
import random
import shutil
import sys
import tarfile

from slowvid.data.class_names import CLASS_NAMES_FILE, write_class_names
from slowvid.data.datasets import read_split_file
from slowvid.data.shards import write_shard_index


def _videos_of_config(cfg_file: str, split: str, opts: list[str]) -> tuple[list, list, list]:
    from slowvid.config import load_config
    from slowvid.data import build_dataset
    from slowvid.data.datasets import ClipDataset

    dataset = build_dataset(load_config(cfg_file, opts), split)
    if not isinstance(dataset, ClipDataset) or dataset.frame_folders is not None:
        raise SystemExit(f"{type(dataset).__name__} does not list video files to shard")
    if not all(isinstance(label, int) for label in dataset.labels):
        raise SystemExit(f"{type(dataset).__name__}'s labels are not single class indices")
    return list(dataset.paths), list(dataset.labels), dataset.class_names


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o444  # reproducible bytes
    tar.addfile(info, io.BytesIO(data))


def write_shards(
    paths: list[str], labels: list, output: str, name: str, per_shard: int, seed: int | None
) -> list[tuple[str, int, int]]:
    """Write the shards; returns ``(file name, samples, bytes)`` per shard."""
    order = list(range(len(paths)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    missing = [paths[i] for i in order if not os.path.isfile(paths[i])]
    if missing:
        raise SystemExit(f"{len(missing)} videos not found, e.g. {missing[:5]}")
    os.makedirs(output, exist_ok=True)
    shards = []
    for number, start in enumerate(range(0, len(order), per_shard)):
        file_name = f"{name}-{number:06d}.tar"
        tmp = os.path.join(output, f".{file_name}.tmp")
        chunk = order[start : start + per_shard]
        with tarfile.open(tmp, "w") as tar:
            for i in chunk:
                key = f"{i:09d}"  # the video's line in the split: no dots, unique
                ext = os.path.splitext(paths[i])[1].lstrip(".").lower() or "mp4"
                with open(paths[i], "rb") as f:
                    _add(tar, f"{key}.{ext}", f.read())
                label = labels[i]
                _add(tar, f"{key}.cls", str(label).encode())
                meta = {"path": paths[i], "label": label}
                _add(tar, f"{key}.json", json.dumps(meta).encode())
        os.replace(tmp, os.path.join(output, file_name))
        shards.append((file_name, len(chunk), os.path.getsize(os.path.join(output, file_name))))
    return shards


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--split-file", help="'path label' lines (the Kinetics layout)")
    source.add_argument("--cfg", help="config whose TRAIN/TEST.DATASET lists the videos")
    parser.add_argument("--split", default="train", help="with --cfg: train, val or test")
    parser.add_argument("--prefix", default="", help="with --split-file: joined to each path")
    parser.add_argument("--separator", default=" ", help="with --split-file: path/label sep")
    parser.add_argument("--output", required=True, help="folder for the shards and the index")
    parser.add_argument("--name", default=None, help="shard and index name (default: --split)")
    parser.add_argument("--samples-per-shard", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed")
    parser.add_argument("--no-shuffle", action="store_true", help="keep the split's order")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="with --cfg: KEY VALUE overrides")
    args = parser.parse_args(argv)
    if args.samples_per_shard < 1:
        parser.error("--samples-per-shard must be >= 1")
    names_file = os.path.join(args.output, CLASS_NAMES_FILE)
    os.makedirs(args.output, exist_ok=True)
    if args.split_file:
        paths, labels = read_split_file(args.split_file, args.separator)
        paths = [os.path.join(args.prefix, p) for p in paths]
        beside = os.path.join(os.path.dirname(args.split_file), CLASS_NAMES_FILE)
        if os.path.isfile(beside):  # class names travel with the shards (test logs)
            shutil.copyfile(beside, names_file)
    else:
        paths, labels, class_names = _videos_of_config(args.cfg, args.split, args.opts)
        if class_names:
            write_class_names(names_file, class_names)
    name = args.name or args.split
    shards = write_shards(
        paths,
        labels,
        args.output,
        name,
        args.samples_per_shard,
        None if args.no_shuffle else args.seed,
    )
    write_shard_index(os.path.join(args.output, f"{name}.json"), shards, name)
    print(f"wrote {len(shards)} shards of {len(paths)} videos and {name}.json to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
