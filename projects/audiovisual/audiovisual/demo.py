"""An audio-visual version of slowvid's moving-shapes demo set, where sound and motion each
carry half of the class.

Class = direction of motion (left, right, up, down: seen, not heard) x pitch of a tone in the
soundtrack (low ~440 Hz or high ~1760 Hz: heard, not seen); the speed of the shape is drawn at
random and carries nothing. So a visual-only model can reach at most 50% top-1, an audio-only
one 25%, and only a model using both can reach 100% (chance: 12.5%).

Frames come from slowvid's :func:`~slowvid.data.demo.render_video`; the tone (random pitch
jitter, amplitude and phase, plus white noise) is written as an AAC track by
:func:`~slowvid.data.demo.write_video`. The layout is Kinetics' (``{split}.csv`` of
``relative/path label`` lines, ``classnames.json``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass

import numpy as np

from slowvid.data.demo import CLASSNAMES as VISUAL_CLASSNAMES
from slowvid.data.demo import DIRECTIONS, SPEEDS, DemoSpec, render_video, write_video

__all__ = ["AVDemoSpec", "CLASSNAMES", "PITCHES_HZ", "make_av_demo_data", "render_audio"]

logger = logging.getLogger(__name__)

PITCHES_HZ = {"low": 440.0, "high": 1760.0}
CLASSNAMES = [f"{d}_{p}" for d in DIRECTIONS for p in PITCHES_HZ]
SPLITS = ("train", "val", "test")
MARKER = ".complete"


@dataclass(frozen=True)
class AVDemoSpec:
    """What to generate; a finished directory is reused only if its spec matches.

    Attributes:
        video: sizes, frame rate, videos per class and seed of the frames.
        sample_rate: audio samples per second.
        noise: standard deviation of the white noise under the tone.
    """

    video: DemoSpec = DemoSpec(
        train_per_class=16, val_per_class=8, test_per_class=8, size=48, num_frames=30
    )
    sample_rate: int = 16000
    noise: float = 0.05


def render_audio(pitch: str, seconds: float, spec: AVDemoSpec, rng: np.random.Generator):
    """A noisy tone near ``PITCHES_HZ[pitch]``: float32 ``(round(seconds * sample_rate),)``."""
    t = np.arange(round(seconds * spec.sample_rate)) / spec.sample_rate
    hz = PITCHES_HZ[pitch] * rng.uniform(0.9, 1.1)
    tone = rng.uniform(0.2, 0.5) * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
    return (tone + rng.normal(0, spec.noise, size=t.shape)).clip(-1, 1).astype(np.float32)


def _write_one(path: str, split: str, label: int, i: int, spec: AVDemoSpec) -> None:
    v = spec.video
    rng = np.random.default_rng([v.seed, SPLITS.index(split), label, i, 1])
    direction, pitch = CLASSNAMES[label].split("_")
    speed = list(SPEEDS)[rng.integers(len(SPEEDS))]
    frames = render_video(VISUAL_CLASSNAMES.index(f"{direction}_{speed}"), v, rng)
    audio = render_audio(pitch, v.num_frames / v.fps, spec, rng)
    options = {"threads": "1", "x264-params": "mbtree=0"}  # repeatable output, as the core's
    write_video(path, frames, v.fps, options=options, audio=audio, sample_rate=spec.sample_rate)


def make_av_demo_data(out_dir: str = "data/demo_av", spec: AVDemoSpec | None = None) -> bool:
    """Generate the set unless a complete one with the same spec is there.

    Args:
        out_dir: output directory (set DATA.PATH_TO_DATA_DIR and DATA.PATH_PREFIX to it).
        spec: what to generate.

    Returns:
        True if videos were written, False if a complete set was already present.
    """
    spec = spec or AVDemoSpec()
    marker = os.path.join(out_dir, MARKER)
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            if json.load(f) == asdict(spec):
                return False
        os.remove(marker)
    v = spec.video
    counts = {"train": v.train_per_class, "val": v.val_per_class, "test": v.test_per_class}
    for split in SPLITS:
        lines = []
        for label, name in enumerate(CLASSNAMES):
            for i in range(counts[split]):
                rel = f"videos/{split}/{name}/{i:03d}.mp4"
                os.makedirs(os.path.dirname(os.path.join(out_dir, rel)), exist_ok=True)
                _write_one(os.path.join(out_dir, rel), split, label, i, spec)
                lines.append(f"{rel} {label}\n")
        with open(os.path.join(out_dir, f"{split}.csv"), "w", encoding="utf-8") as f:
            f.writelines(lines)
    with open(os.path.join(out_dir, "classnames.json"), "w", encoding="utf-8") as f:
        json.dump(CLASSNAMES, f, indent=1)
    # Written last: its presence means every file above is complete.
    with open(marker, "w", encoding="utf-8") as f:
        json.dump(asdict(spec), f)
    logger.info("Wrote the audio-visual demo set to %s", out_dir)
    return True
