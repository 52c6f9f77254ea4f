"""Clips per second of each decoding backend on the same videos and clip indices.

    python benchmarks/decoding.py --data data/demo --split train --frames 16 --stride 2

Prints clips/s per backend and the ratio to PyAV (the reference, measured in this process).
"""

import argparse
import os
import random
import time

from slowvid.data.datasets.kinetics import Kinetics
from slowvid.data.decoding import open_video, torchcodec_available
from slowvid.data.sampling import ClipSpec, random_clip_indices


def clips_per_second(paths, plans, backend: str) -> float:
    start = time.perf_counter()
    for path, indices in zip(paths, plans):
        with open_video(path, backend) as video:
            video.get_frames(indices)
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/demo")
    parser.add_argument("--split", default="train")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rel_paths, _ = Kinetics.read_split_file(os.path.join(args.data, f"{args.split}.csv"), " ")
    paths = [os.path.join(args.data, p) for p in rel_paths]
    spec, rng = ClipSpec(args.frames, args.stride, 30), random.Random(0)
    plans = []
    for path in paths:  # the same clip of each video for every backend
        with open_video(path, "pyav") as video:
            plans.append(random_clip_indices(spec, video.fps, video.num_frames, rng))
    backends = ["pyav"] + (["torchcodec"] if torchcodec_available()[0] else [])
    clips_per_second(paths, plans, "pyav")  # warm the file cache
    best = {
        b: max(clips_per_second(paths, plans, b) for _ in range(args.repeats)) for b in backends
    }
    print(f"{len(paths)} videos, {args.frames} frames at stride {args.stride}, 1 thread")
    for backend, rate in best.items():
        print(f"{backend:>11}: {rate:7.1f} clips/s  ({rate / best['pyav']:.2f}x PyAV)")
    if len(backends) == 1:
        print(f" torchcodec: unavailable ({torchcodec_available()[1]})")


if __name__ == "__main__":
    main()
