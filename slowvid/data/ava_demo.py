"""A tiny synthetic AVA-format data set, for tests, demos and smoke runs.

Each "movie" shows a few persons (coloured rectangles) on a smooth noisy background. Each
person keeps, for the whole movie, a motion (standing still, or walking: swaying left-right), a
shirt colour (red or blue), maybe a carried object (a white band across the body) and a height.
Labels (1-based action ids, as AVA's)::

    1 stand   2 walk   3 carry   4 red_shirt   5 tall (annotated but not in the label map,
                                                 like AVA's 20 classes outside the 60 evaluated)

The files follow AVA v2.2 as PySlowFast lays it out (see ``slowvid/data/datasets/ava.py``):
frames at ``fps`` from ``first_frame_second``, keyframes every second from 2 s after the start
to 2 s before the end, ground truth, detected-person boxes (GT boxes jittered, score >= 0.9,
plus one low-scoring false box per keyframe), the label map and one excluded val keyframe.
:func:`ava_demo_overrides` gives the config keys that point a run at it.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass

import numpy as np

__all__ = ["ACTIONS", "AvaDemoSpec", "ava_demo_overrides", "make_ava_demo_data"]

ACTIONS = ("stand", "walk", "carry", "red_shirt", "tall")
EVALUATED = (1, 2, 3, 4)
FRAME_LIST_HEADER = "original_vido_id video_idx frame_id path labels\n"


@dataclass(frozen=True)
class AvaDemoSpec:
    """What to generate.

    Attributes:
        train_videos, val_videos: movies per split.
        seconds: length of each movie.
        first_frame_second: movie second of the first frame (AVA: 900).
        fps: frame rate.
        size: frame side (square frames).
        persons: persons per movie.
        seed: seed of everything random.
    """

    train_videos: int = 6
    val_videos: int = 4
    seconds: int = 7
    first_frame_second: int = 900
    fps: int = 30
    size: int = 64
    persons: int = 3
    seed: int = 0

    @property
    def keyframe_seconds(self) -> tuple[int, int]:
        return self.first_frame_second + 2, self.first_frame_second + self.seconds - 2


def _video_id(rng: np.random.Generator) -> str:
    # YouTube-like 11-character ids, "-" and "_" included, as AVA's.
    alphabet = np.array(list(string.ascii_letters + string.digits + "-_"))
    return "".join(rng.choice(alphabet, 11))


def _persons(rng: np.random.Generator, spec: AvaDemoSpec) -> list[dict]:
    slot = spec.size / spec.persons
    persons = []
    for i in range(spec.persons):
        w, h = int(rng.integers(8, 12)), int(rng.integers(18, 31))
        persons.append(
            {
                "x": (i + 0.5) * slot - w / 2,
                "y": float(rng.integers(4, spec.size - h - 4)),
                "w": w,
                "h": h,
                "walk": bool(rng.random() < 0.5),
                "carry": bool(rng.random() < 0.5),
                "red": bool(rng.random() < 0.5),
                "phase": rng.uniform(0, 2 * np.pi),
            }
        )
    return persons


def _box(p: dict, t: int, spec: AvaDemoSpec) -> tuple[float, float, float, float]:
    """Pixel box ``[x1, y1, x2, y2)`` of person ``p`` at frame ``t``."""
    # Walking sways 4 px left-right with a one-second period.
    dx = 4 * np.sin(2 * np.pi * t / spec.fps + p["phase"]) if p["walk"] else 0.0
    x1 = round(p["x"] + dx)
    return x1, round(p["y"]), x1 + p["w"], round(p["y"]) + p["h"]


def _labels(p: dict) -> list[int]:
    labels = [2 if p["walk"] else 1]
    labels += [3] if p["carry"] else []
    labels += [4] if p["red"] else []
    labels += [5] if p["h"] >= 25 else []
    return labels


def _render(persons: list[dict], t: int, spec: AvaDemoSpec, bg: np.ndarray) -> np.ndarray:
    # bg holds a few noisy backgrounds; cycling them is much cheaper than fresh noise per frame.
    frame = bg[t % len(bg)].copy()
    for p in persons:
        x1, y1, x2, y2 = _box(p, t, spec)
        frame[y1:y2, max(x1, 0) : x2] = (200, 40, 40) if p["red"] else (40, 60, 200)
        if p["carry"]:  # a white object held in front of the body, inside the box
            cy = (y1 + y2) // 2
            frame[cy - 2 : cy + 2, max(x1 + 2, 0) : x2 - 2] = 245
    return frame


def _write_split(root: str, split: str, ids: list[str], spec: AvaDemoSpec, rng) -> None:
    import cv2

    first, last = spec.keyframe_seconds
    gt, det, lines = [], [], [FRAME_LIST_HEADER]
    for video_idx, vid in enumerate(ids):
        persons = _persons(rng, spec)
        coarse = rng.uniform(90, 160, size=(4, 4, 3))
        bg = np.kron(coarse, np.ones((spec.size // 4, spec.size // 4, 1)))
        bg = np.clip(bg + rng.normal(0, 4, (7, *bg.shape)), 0, 255).astype(np.uint8)
        os.makedirs(os.path.join(root, "frames", vid), exist_ok=True)
        for t in range(spec.seconds * spec.fps):
            rel = f"{vid}/{vid}_{t + 1:06d}.jpg"
            image = _render(persons, t, spec, bg)
            cv2.imwrite(os.path.join(root, "frames", rel), image[:, :, ::-1])
            lines.append(f'{vid} {video_idx} {t} {rel} ""\n')
        for sec in range(first, last + 1):
            t = (sec - spec.first_frame_second) * spec.fps
            for pid, p in enumerate(persons):
                box = np.clip(np.array(_box(p, t, spec)) / spec.size, 0, 1)
                coords = ",".join(f"{v:.3f}" for v in box)
                gt += [f"{vid},{sec:04d},{coords},{a},{pid}\n" for a in _labels(p)]
                jit = np.clip(box + rng.uniform(-0.01, 0.01, 4), 0, 1)
                det.append(
                    f"{vid},{sec:04d},{','.join(f'{v:.3f}' for v in jit)},,"
                    f"{rng.uniform(0.9, 1.0):.3f}\n"
                )
            det.append(f"{vid},{sec:04d},0.100,0.100,0.300,0.300,,{rng.uniform(0, 0.5):.3f}\n")
    with open(os.path.join(root, "frame_lists", f"{split}.csv"), "w") as f:
        f.writelines(lines)
    ann = os.path.join(root, "annotations")
    with open(os.path.join(ann, f"ava_{split}_v2.2.csv"), "w") as f:
        f.writelines(gt)
    with open(os.path.join(ann, f"ava_{split}_predicted_boxes.csv"), "w") as f:
        f.writelines(det)


def make_ava_demo_data(root: str, spec: AvaDemoSpec | None = None) -> str:
    """Write the data set under ``root`` (frames/, frame_lists/, annotations/); returns root."""
    spec = spec or AvaDemoSpec()
    rng = np.random.default_rng(spec.seed)
    for sub in ("frames", "frame_lists", "annotations"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = [_video_id(rng) for _ in range(spec.train_videos + spec.val_videos)]
    _write_split(root, "train", ids[: spec.train_videos], spec, rng)
    _write_split(root, "val", ids[spec.train_videos :], spec, rng)
    ann = os.path.join(root, "annotations")
    with open(os.path.join(ann, "ava_action_list_v2.2_for_activitynet_2019.pbtxt"), "w") as f:
        f.writelines(f'item {{\n  name: "{ACTIONS[i - 1]}"\n  id: {i}\n}}\n' for i in EVALUATED)
    with open(os.path.join(ann, "ava_val_excluded_timestamps_v2.2.csv"), "w") as f:
        f.write(f"{ids[spec.train_videos]},{spec.keyframe_seconds[0] + 1:04d}\n")
    return root


def ava_demo_overrides(root: str, spec: AvaDemoSpec | None = None) -> dict:
    """Config keys that point an AVA config at the generated data."""
    spec = spec or AvaDemoSpec()
    return {
        "AVA.FRAME_DIR": os.path.join(root, "frames"),
        "AVA.FRAME_LIST_DIR": os.path.join(root, "frame_lists"),
        "AVA.ANNOTATION_DIR": os.path.join(root, "annotations"),
        "AVA.KEYFRAME_SECONDS": list(spec.keyframe_seconds),
        "AVA.FIRST_FRAME_SECOND": spec.first_frame_second,
        "DATA.FRAME_FPS": float(spec.fps),
        "AVA.DETECTION_SCORE_THRESH": 0.8,
        "MODEL.NUM_CLASSES": len(ACTIONS),
    }
