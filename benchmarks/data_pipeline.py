"""Training-clip throughput of the data pipeline against the decoder's floor and PyTorchVideo.

    python benchmarks/data_pipeline.py                      # generates 10 s 256 px videos once
    python benchmarks/data_pipeline.py --data data/bench --workers 2 --epochs 3

On the same mp4 files and the same sampling (random 16-frame clips at stride 4, 30 fps), with
the same number of loader workers, it measures clips/s of:
  (a) decode only: seek to a random clip and decode just its frames, nothing else (the floor);
  (b) slowvid's training loader (decode, short-side jitter 256-320, 224 crop, flip), which
      sends uint8 clips for the engine to normalise on the device (DATA.NORMALIZE_ON_DEVICE),
      and (b') the same loader normalising to float in its workers;
  (c) PyTorchVideo's LabeledVideoDataset with the equivalent transforms, when installed.
and prints (b)/(a) and (b)/(c). The first batch of each (worker start-up) is not timed; (a), (b)
and (b') run interleaved ``--repeats`` times and report medians.
"""

import argparse
import os
import random
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from slowvid.config import load_config
from slowvid.data import build_loader, shuffle_loader
from slowvid.data.build import keep_freed_buffers
from slowvid.data.datasets.kinetics import read_split_file
from slowvid.data.decoding import open_video
from slowvid.data.demo import DemoSpec, make_demo_data
from slowvid.data.sampling import ClipSpec, clip_stride, random_clip_indices
from slowvid.data.transforms import ClipTransform
from slowvid.utils.pytorchvideo_compat import import_pytorchvideo

CLIP = ClipSpec(num_frames=16, sampling_rate=4, target_fps=30)


class DecodeOnly(Dataset):
    """Decodes one random clip of each video and returns its raw frames."""

    def __init__(self, paths: list[str], backend: str = "pyav"):
        self.paths = paths
        self.backend = backend

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        with open_video(self.paths[index], self.backend) as video:
            rng = random.Random(random.getrandbits(64))
            return video.get_frames(random_clip_indices(CLIP, video.fps, video.num_frames, rng))


def _stack(items):
    return torch.stack(items)


def _init_worker(worker_id: int) -> None:
    keep_freed_buffers()


def clips_per_second(batches, batch_size: int, total_clips: int) -> float:
    """Rate over everything after the first batch (worker start-up excluded)."""
    iterator = iter(batches)
    next(iterator)
    start, clips = time.perf_counter(), 0
    for _ in iterator:
        clips += batch_size
        if clips >= total_clips:
            break
    return clips / (time.perf_counter() - start)


def decode_only(paths, args) -> float:
    loader = DataLoader(
        DecodeOnly(paths, args.backend),
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.workers,
        collate_fn=_stack,
        drop_last=True,
        worker_init_fn=_init_worker,  # the allocator setting slowvid's workers get
    )
    return clips_per_second(
        (b for _ in range(args.epochs + 1) for b in loader), args.batch, args.clips
    )


def slowvid_loader(data_dir, args, normalize_on_device: bool = True) -> float:
    opts = {
        "DATA.PATH_TO_DATA_DIR": data_dir,
        "DATA.PATH_PREFIX": data_dir,
        "DATA.NUM_FRAMES": CLIP.num_frames,
        "DATA.SAMPLING_RATE": CLIP.sampling_rate,
        "DATA.DECODING_BACKEND": args.backend,
        "DATA.NORMALIZE_ON_DEVICE": normalize_on_device,
        "DATA_LOADER.NUM_WORKERS": args.workers,
        "TRAIN.BATCH_SIZE": args.batch,
        "NUM_GPUS": 0,
    }
    flat = [str(x) for kv in opts.items() for x in kv]
    cfg = load_config("configs/Kinetics/SLOW_8x8_R50.yaml", flat)
    loader = build_loader(cfg, "train")

    def batches():
        for epoch in range(args.epochs + 1):
            shuffle_loader(loader, epoch)
            yield from loader

    return clips_per_second(batches(), args.batch, args.clips)


def pytorchvideo_loader(paths, labels, args) -> float:
    import_pytorchvideo()  # installs the torchvision shim before pytorchvideo.data imports
    from pytorchvideo.data import LabeledVideoDataset, make_clip_sampler
    from pytorchvideo.transforms import (
        ApplyTransformToKey,
        Normalize,
        RandomShortSideScale,
        UniformTemporalSubsample,
    )
    from torchvision.transforms import Compose, Lambda, RandomCrop, RandomHorizontalFlip

    # The clip's duration at the video's rate: 16 frames every 4 at 30 fps.
    duration = CLIP.num_frames * clip_stride(CLIP, 30.0) / 30.0
    transform = ApplyTransformToKey(
        "video",
        Compose(
            [
                UniformTemporalSubsample(CLIP.num_frames),
                Lambda(lambda x: x / 255.0),
                Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
                RandomShortSideScale(256, 320),
                RandomCrop(224),
                RandomHorizontalFlip(),
            ]
        ),
    )
    dataset = LabeledVideoDataset(
        [(p, {"label": label}) for p, label in zip(paths, labels)],
        clip_sampler=make_clip_sampler("random", duration),
        video_sampler=torch.utils.data.RandomSampler,
        transform=transform,
        decode_audio=False,
        decoder="pyav",
    )
    loader = DataLoader(dataset, batch_size=args.batch, num_workers=args.workers)
    return clips_per_second(
        (b for _ in range(args.epochs + 1) for b in loader), args.batch, args.clips
    )


def transform_ms(paths, backend: str, repeats: int = 20) -> dict[str, float]:
    """Milliseconds per clip, in this process: decoding one, and the training transform of
    the decoded frames sending uint8 or float clips."""
    rng = random.Random(0)
    start = time.perf_counter()
    clips = [DecodeOnly(paths, backend)[i % len(paths)] for i in range(repeats)]
    out = {"decode": (time.perf_counter() - start) / repeats}
    for name, uint8 in (("transform uint8", True), ("transform float", False)):
        transform = ClipTransform(training=True, uint8_output=uint8)
        start = time.perf_counter()
        for frames in clips:
            transform(frames, rng=rng)
        out[name] = (time.perf_counter() - start) / repeats
    return {k: 1000 * v for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/bench")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4, help="passes over the videos timed")
    parser.add_argument(
        "--backend",
        default="pyav",
        choices=["pyav", "torchcodec"],
        help="decoder of (a) and (b); PyTorchVideo's (c) always uses PyAV",
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs of (a), (b)")
    parser.add_argument("--per-class", type=int, default=4, help="videos per class (8 classes)")
    parser.add_argument("--size", type=int, default=256, help="frame side of the videos")
    parser.add_argument("--seconds", type=int, default=10, help="length of the videos")
    args = parser.parse_args()

    spec = DemoSpec(args.per_class, 1, 1, size=args.size, num_frames=30 * args.seconds)
    make_demo_data(args.data, spec, num_workers=2)
    rel_paths, labels = read_split_file(os.path.join(args.data, "train.csv"))
    paths = [os.path.join(args.data, p) for p in rel_paths]
    args.clips = (len(paths) // args.batch) * args.batch * args.epochs
    torch.set_num_threads(1)  # the workers do the work; as the training loader runs them
    print(
        f"{len(paths)} videos ({args.seconds} s, {args.size} px), clips of "
        f"{CLIP.num_frames} frames at stride {CLIP.sampling_rate}, {args.workers} workers, "
        f"batch {args.batch}, {args.clips} clips timed, {args.backend} decoding"
    )
    keep_freed_buffers()  # as in the workers
    per_clip = transform_ms(paths, args.backend)
    print("per clip, one process: " + ", ".join(f"{k} {v:.1f} ms" for k, v in per_clip.items()))
    # Interleaved repeats, medians: the machine's background load drifts between runs.
    runs: dict[str, list[float]] = {"a": [], "b": [], "b_float": []}
    for _ in range(args.repeats):
        runs["a"].append(decode_only(paths, args))
        runs["b"].append(slowvid_loader(args.data, args))
        runs["b_float"].append(slowvid_loader(args.data, args, normalize_on_device=False))
    floor, ours, ours_float = (statistics.median(runs[k]) for k in ("a", "b", "b_float"))
    print(f"(a)  decode only        {floor:7.1f} clips/s   runs {_fmt(runs['a'])}")
    print(
        f"(b)  slowvid loader     {ours:7.1f} clips/s   (b)/(a) = {ours / floor:.2f}   "
        f"runs {_fmt(runs['b'])}"
    )
    print(
        f"(b') ... float clips    {ours_float:7.1f} clips/s   (b')/(a) = {ours_float / floor:.2f}  "
        f"runs {_fmt(runs['b_float'])}  (DATA.NORMALIZE_ON_DEVICE False)"
    )
    try:
        theirs = pytorchvideo_loader(paths, labels, args)
    except ImportError as err:
        print(f"(c)  PyTorchVideo       unavailable ({err})")
        return
    print(f"(c)  PyTorchVideo       {theirs:7.1f} clips/s   (b)/(c) = {ours / theirs:.2f}")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
