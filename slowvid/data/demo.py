"""A tiny synthetic action dataset of real H.264 videos, for demos, smoke runs and tests.

Each video shows one shape (disc, square, diamond or triangle; random colour, size and start)
moving over a noisy textured background. Its class is set by the motion alone: direction
{left, right, up, down} x speed {slow, fast}, eight classes. The shape wraps around the frame
edges, so it never bounces and the direction stays constant for the whole video.

Videos are 112x112, 30 fps, 2 s, H.264 yuv420p in mp4, written with the libx264 bundled in
PyAV. The output directory follows the Kinetics layout (``train.csv``, ``val.csv``,
``test.csv`` of ``relative/path label`` lines) plus ``classnames.json``; set
``DATA.PATH_TO_DATA_DIR`` and ``DATA.PATH_PREFIX`` both to it. Horizontal flips swap left and
right, so configs for this data set ``DATA.RANDOM_FLIP False``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["CLASSNAMES", "DemoSpec", "make_demo_data", "render_video", "write_video"]

logger = logging.getLogger(__name__)

DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
# Pixels per frame; the gap between the ranges keeps the two speeds easy to tell apart.
SPEEDS = {"slow": (0.6, 1.2), "fast": (2.4, 3.6)}
CLASSNAMES = [f"{d}_{s}" for d in DIRECTIONS for s in SPEEDS]
SHAPES = ("disc", "square", "diamond", "triangle")
SPLITS = ("train", "val", "test")
MARKER = ".complete"


@dataclass(frozen=True)
class DemoSpec:
    """What to generate; a finished directory is reused only if its spec matches.

    Attributes:
        train_per_class, val_per_class, test_per_class: videos per class in each split.
        size: frame side in pixels.
        fps: frame rate.
        num_frames: frames per video.
        seed: seed of everything random.
    """

    train_per_class: int = 40
    val_per_class: int = 10
    test_per_class: int = 10
    size: int = 112
    fps: int = 30
    num_frames: int = 60
    seed: int = 0


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth coloured blobs plus fine grain, float (size, size, 3) on [0, 255]."""
    # Low contrast next to the shape's, so that what moves is what stands out.
    coarse = rng.uniform(70, 150, size=(8, 8, 3))
    reps = -(-size // 8)
    smooth = np.kron(coarse, np.ones((reps, reps, 1)))[:size, :size]
    # Box-blur the blocks so the texture has no hard edges for the codec to spend bits on.
    for axis in (0, 1):
        smooth = sum(np.roll(smooth, k, axis=axis) for k in range(-3, 4)) / 7
    return smooth + rng.normal(0, 6, size=(size, size, 3))


def _shape_mask(kind: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    if kind == "disc":
        return dx**2 + dy**2 <= r**2
    if kind == "square":
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if kind == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    # An upward triangle: widens linearly from apex (dy = -r) to base (dy = r).
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)


def render_video(label: int, spec: DemoSpec, rng: np.random.Generator) -> np.ndarray:
    """Frames of one video of class ``CLASSNAMES[label]``.

    Args:
        label: class index.
        spec: size, frame count.
        rng: source of all randomness.

    Returns:
        uint8 ``(num_frames, size, size, 3)`` RGB.
    """
    direction, speed = CLASSNAMES[label].split("_")
    vx, vy = DIRECTIONS[direction]
    step = rng.uniform(*SPEEDS[speed])
    n = spec.size
    background = _background(rng, n)
    kind = SHAPES[rng.integers(len(SHAPES))]
    radius = rng.uniform(10, 16)
    # Near-white or near-black with a tint: far from every background colour.
    colour = rng.uniform(215, 255, size=3) if rng.random() < 0.5 else rng.uniform(0, 40, size=3)
    x0, y0 = rng.uniform(0, n, size=2)
    # The shape drawn once, centred at the origin of a torus; each frame rolls it into place,
    # so it re-enters from the opposite edge and never bounces.
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    mask0 = _shape_mask(kind, (xs + n / 2) % n - n / 2, (ys + n / 2) % n - n / 2, radius)
    grain = rng.standard_normal((spec.num_frames, n, n, 3), dtype=np.float32) * 4
    frames = np.clip(background.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    fill = np.clip(colour, 0, 255).astype(np.uint8)
    for t in range(spec.num_frames):
        shift = (round(y0 + vy * step * t), round(x0 + vx * step * t))
        frames[t][np.roll(mask0, shift, axis=(0, 1))] = fill
    return frames


def write_video(
    path: str,
    frames: np.ndarray,
    fps: int,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> None:
    """Encode uint8 ``(T, H, W, 3)`` RGB frames into ``path`` with PyAV.

    Args:
        path: output file; the container follows the extension.
        frames: RGB frames.
        fps: frame rate.
        codec: encoder name (e.g. libx264, libx264rgb, ffv1).
        pix_fmt: pixel format of the encoded stream.
        options: encoder options (e.g. ``{"qp": "0"}`` for lossless x264).
        audio: optional mono float samples in [-1, 1], starting with the first frame; written
            as an AAC track.
        sample_rate: samples per second of ``audio``.
    """
    import av

    tmp = path + ".part" + os.path.splitext(path)[1]
    with av.open(tmp, mode="w") as out:
        stream = out.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        # Every stream must exist before the first packet is muxed.
        audio_stream = None if audio is None else _add_audio_stream(out, sample_rate)
        for t, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = t
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio_stream is not None:
            _write_audio(out, audio_stream, np.asarray(audio, dtype=np.float32), sample_rate)
    # Rename last, so an interrupted run never leaves a half-written video under the real name.
    os.replace(tmp, path)


def _add_audio_stream(out, sample_rate: int):
    stream = out.add_stream("aac", rate=sample_rate)
    stream.layout = "mono"
    return stream


def _write_audio(out, stream, samples: np.ndarray, sample_rate: int) -> None:
    """Encode mono samples into the AAC ``stream`` of the open output container ``out``."""
    import av

    # AAC takes fixed-size frames; the muxer interleaves them with the video packets.
    size = stream.frame_size or 1024
    for i in range(0, len(samples), size):
        frame = av.AudioFrame.from_ndarray(
            samples[None, i : i + size], format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = sample_rate, i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def _job(args: tuple[str, int, int, str, DemoSpec]) -> None:
    split, label, i, path, spec = args
    seed = np.random.SeedSequence([spec.seed, SPLITS.index(split), label, i])
    rng = np.random.default_rng(seed)
    # One thread keeps the output independent of the core count. x264's macroblock-tree rate
    # control made the bitstream vary from run to run on identical input (PyAV 18's libx264,
    # SIMD path), which broke --seed determinism; without it the output is repeatable.
    options = {"threads": "1", "x264-params": "mbtree=0"}
    write_video(path, render_video(label, spec, rng), spec.fps, options=options)


def _plan(spec: DemoSpec) -> dict[str, list[tuple[str, int, int]]]:
    """Per split: (relative path, label, index within class) of every video."""
    counts = {"train": spec.train_per_class, "val": spec.val_per_class, "test": spec.test_per_class}
    plan = {}
    for split in SPLITS:
        plan[split] = [
            (f"videos/{split}/{name}/{i:03d}.mp4", label, i)
            for label, name in enumerate(CLASSNAMES)
            for i in range(counts[split])
        ]
    return plan


def make_demo_data(
    out_dir: str = "data/demo", spec: DemoSpec | None = None, num_workers: int | None = None
) -> bool:
    """Generate the demo data set unless a complete one with the same spec is there.

    Args:
        out_dir: output directory.
        spec: what to generate.
        num_workers: encoding processes (default: CPU count).

    Returns:
        True if videos were generated, False if a complete set was already present.
    """
    spec = spec or DemoSpec()
    marker = os.path.join(out_dir, MARKER)
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            if json.load(f) == asdict(spec):
                logger.info("Demo data in %s is complete; nothing to do", out_dir)
                return False
        os.remove(marker)
    start = time.perf_counter()
    plan = _plan(spec)
    jobs = []
    for split, entries in plan.items():
        for rel, label, i in entries:
            path = os.path.join(out_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            jobs.append((split, label, i, path, spec))
    num_workers = num_workers or os.cpu_count() or 1
    if num_workers > 1:
        with multiprocessing.get_context("fork").Pool(num_workers) as pool:
            pool.map(_job, jobs, chunksize=8)
    else:
        for job in jobs:
            _job(job)
    for split, entries in plan.items():
        with open(os.path.join(out_dir, f"{split}.csv"), "w", encoding="utf-8") as f:
            f.writelines(f"{rel} {label}\n" for rel, label, _ in entries)
    with open(os.path.join(out_dir, "classnames.json"), "w", encoding="utf-8") as f:
        json.dump(CLASSNAMES, f, indent=1)
    # Written last: its presence means every file above is complete.
    with open(marker, "w", encoding="utf-8") as f:
        json.dump(asdict(spec), f)
    logger.info("Wrote %d videos to %s in %.1f s", len(jobs), out_dir, time.perf_counter() - start)
    return True
