"""End-to-end training throughput with real data loading, over model-only throughput.

    python benchmarks/end_to_end.py                          # CPU, small sizes (a smoke run)
    python benchmarks/end_to_end.py --device cuda --size 640x360 --seconds 10 --videos 64 \\
        --workers 16 --batch 8 --amp --decoders pyav torchcodec torchcodec_cuda

For each model (SlowFast R50 8x8, X3D-S, MViT-B 16x4) it measures training clips/s
  model-only: synthetic clips already on the device (the ceiling), and
  end-to-end, per decoder: the training loader of tools/run_net.py on generated H.264 videos
      (random clips, scale jitter, crop, flip), batches moved to the device and normalised
      there, then the same training step; "torchcodec_cuda" decodes on the GPU (NVDEC) with
      the transforms batched there,
and prints end-to-end / model-only. Videos are generated once in --data: Kinetics-like
H.264 (yuv420p, 30 fps, a keyframe every --gop frames, moving shapes on textured
backgrounds), --size WxH. The models run at their configs' clip sizes unless --crop / --frames
shrink them (for a CPU). The training step is the engine's: channels-last where the model
measured faster, AMP (bf16) with --amp, SGD.
"""

import argparse
import functools
import json
import math
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from slowvid.config import load_config
from slowvid.data import build_loader, shuffle_loader
from slowvid.data.demo import write_video
from slowvid.engine.inputs import PixelNorm, to_device
from slowvid.engine.setup import use_channels_last
from slowvid.models import build_model

CONFIGS = {
    "slowfast_r50": "configs/Kinetics/SLOWFAST_8x8_R50.yaml",
    "x3d_s": "configs/Kinetics/X3D_S.yaml",
    "mvit_b_16x4": "configs/Kinetics/MVIT_B_16x4.yaml",
}


def make_videos(folder: str, count: int, size: tuple[int, int], seconds: float, gop: int) -> str:
    """``count`` H.264 videos and a train.csv listing them (reused when already there)."""
    marker = os.path.join(folder, f"done_{count}_{size[0]}x{size[1]}_{seconds}_{gop}")
    if os.path.exists(marker):
        return folder
    os.makedirs(folder, exist_ok=True)
    job = functools.partial(_make_video, folder=folder, size=size, seconds=seconds, gop=gop)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        names = list(pool.map(job, range(count)))
    with open(os.path.join(folder, "train.csv"), "w", encoding="utf-8") as f:
        f.writelines(f"{name} {i % 8}\n" for i, name in enumerate(names))
    open(marker, "w").close()
    return folder


def _make_video(i: int, folder: str, size: tuple[int, int], seconds: float, gop: int) -> str:
    w, h = size
    frames = round(30 * seconds)
    rng = np.random.default_rng(i)
    xx = np.arange(w)[None, :, None]
    base = rng.uniform(60, 180, 3) + 30 * np.sin(xx / rng.uniform(5, 40))
    base = np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255)
    video = np.empty((frames, h, w, 3), dtype=np.uint8)
    r = max(h // 8, 4)
    for t in range(frames):
        # Film grain in every frame, as camera footage has: P-frames cannot skip blocks, so
        # decoding costs what real videos cost, not what a static picture would.
        video[t] = np.clip(base + rng.normal(0, 4, (h, w, 1)), 0, 255)
        y = int((h - r) * (0.5 + 0.4 * math.sin(t / 20 + i)))  # a square crossing the frame
        x = int((w - r) * t / max(frames - 1, 1))
        video[t, y : y + r, x : x + r] = (255, 40 * (i % 6), 0)
    name = f"v{i:03d}.mp4"
    options = {"g": str(gop), "crf": "23", "threads": "1"}
    write_video(os.path.join(folder, name), video, 30, options=options)
    return name


def _cfg(name: str, args, decoder: str | None):
    opts = {
        "DATA.PATH_TO_DATA_DIR": args.data,
        "DATA.PATH_PREFIX": args.data,
        "DATA.DECODING_BACKEND": decoder or "auto",
        "DATA_LOADER.NUM_WORKERS": args.workers,
        "TRAIN.BATCH_SIZE": args.batch,
        "NUM_GPUS": 1 if args.device == "cuda" else 0,
        "MODEL.NUM_CLASSES": 8,
    }
    if args.crop:
        low = max(args.crop, round(args.crop * 256 / 224))
        opts.update({"DATA.TRAIN_CROP_SIZE": args.crop, "DATA.TEST_CROP_SIZE": args.crop})
        opts["DATA.TRAIN_JITTER_SCALES"] = f"[{low},{round(low * 1.25)}]"
    if args.frames:
        opts["DATA.NUM_FRAMES"] = args.frames
    flat = [str(x) for kv in opts.items() for x in kv]
    return load_config(CONFIGS[name], flat)


def _train_step(model, optimizer, device, amp: bool):
    dtype = torch.bfloat16

    def step(inputs, labels):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()

    return step


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_only(cfg, model, step, device, args) -> float:
    """Clips/s of training steps on synthetic clips already on the device."""
    d = cfg.DATA
    lengths = (
        [d.NUM_FRAMES]
        if len(d.INPUT_CHANNEL_NUM) == 1
        else [
            d.NUM_FRAMES // cfg.SLOWFAST.ALPHA,
            d.NUM_FRAMES,
        ]
    )
    s = d.TRAIN_CROP_SIZE
    inputs = [torch.randn(args.batch, 3, t, s, s, device=device) for t in lengths]
    labels = torch.zeros(args.batch, dtype=torch.long, device=device)
    for _ in range(args.warmup):
        step(inputs, labels)
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step(inputs, labels)
    _sync(device)
    return args.steps * args.batch / (time.perf_counter() - start)


def end_to_end(cfg, step, device, args) -> tuple[float, float]:
    """(clips/s, share of the time spent waiting for batches) with the real training loader."""
    loader = build_loader(cfg, "train")
    norm = PixelNorm.from_config(cfg)

    def batches():
        for epoch in range(10**6):
            shuffle_loader(loader, epoch)
            yield from loader

    it = batches()
    for _ in range(args.warmup):  # worker start-up, decoder and cuDNN warm-up
        batch = next(it)
        step(to_device(batch["inputs"], device, norm), batch["label"].to(device))
    _sync(device)
    start, waited, clips = time.perf_counter(), 0.0, 0
    for _ in range(args.steps):
        t0 = time.perf_counter()
        batch = next(it)
        inputs = to_device(batch["inputs"], device, norm)  # GPU decoding happens here
        _sync(device)
        waited += time.perf_counter() - t0
        step(inputs, batch["label"].to(device))
        clips += batch["label"].shape[0]
    _sync(device)
    elapsed = time.perf_counter() - start
    del it  # stops the workers
    return clips / elapsed, waited / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--decoders", nargs="+", default=["pyav", "torchcodec"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default="data/e2e")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--size", default="320x180", help="WxH of the generated videos")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--gop", type=int, default=150, help="frames between keyframes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved runs, medians")
    parser.add_argument("--amp", action="store_true", help="autocast to bfloat16")
    parser.add_argument("--crop", type=int, help="smaller crop (CPU smoke runs)")
    parser.add_argument("--frames", type=int, help="fewer frames (CPU smoke runs)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    size = tuple(int(v) for v in args.size.split("x"))
    make_videos(args.data, args.videos, size, args.seconds, args.gop)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"torch {torch.__version__}, {where}, {os.cpu_count()} CPUs, {args.workers} workers, "
        f"batch {args.batch}, {'bf16 autocast' if args.amp else 'fp32'}; {args.videos} videos "
        f"{args.size} {args.seconds} s, GOP {args.gop}",
        flush=True,
    )
    results = []
    for name in args.models:
        cfg = _cfg(name, args, None)
        torch.manual_seed(0)
        model = build_model(cfg).to(device)
        if use_channels_last(model, cfg.MODEL.CHANNELS_LAST, device):
            model = model.to(memory_format=torch.channels_last_3d)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        step = _train_step(model.train(), optimizer, device, args.amp)
        runs: dict[str, list] = {"model": [], **{d: [] for d in args.decoders}}
        for _ in range(args.repeats):  # interleaved: load drifts between runs
            runs["model"].append(model_only(cfg, model, step, device, args))
            for decoder in args.decoders:
                runs[decoder].append(end_to_end(_cfg(name, args, decoder), step, device, args))
        ceiling = statistics.median(runs["model"])
        print(f"{name:>12}  model-only        {ceiling:8.2f} clips/s", flush=True)
        row = {"model": name, "model_only": ceiling}
        for decoder in args.decoders:
            rate = statistics.median(r[0] for r in runs[decoder])
            wait = statistics.median(r[1] for r in runs[decoder])
            print(
                f"{name:>12}  {decoder:<17} {rate:8.2f} clips/s  end-to-end / model-only = "
                f"{rate / ceiling:.2f}  (waiting for data {100 * wait:.0f}% of the time)",
                flush=True,
            )
            row[decoder] = {"clips_per_s": rate, "ratio": rate / ceiling, "data_wait": wait}
        results.append(row)
        del model, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "torch": torch.__version__, "results": results}, f)


if __name__ == "__main__":
    main()
