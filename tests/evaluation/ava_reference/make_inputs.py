"""Writes the AVA evaluation inputs of ``tests/evaluation/test_ava_reference.py``.

    python tests/evaluation/ava_reference/make_inputs.py tests/evaluation/ava_reference

The files are committed; rerunning with the same numpy gives them back byte for byte. How the
expected values beside them were computed is in README.md there.

What the set holds, and which evaluator rule each part exercises:

* persons with 1-3 actions, some with an overlapping neighbour of the same action (IoU of the
  two groundtruth boxes 0.6-0.9), so a detection can clear 0.5 with two boxes and the best one
  must win;
* duplicate detections of a person (the second one later or earlier in the file, lower or
  higher in score), so a frame must be matched in score order;
* a crowded keyframe with more than 50 detection rows whose best rows sit late in the file, and
  a tie across classes at the 50th score, so the cap must keep the 50 best as the official
  reader does;
* scores of would-be true positives with 4 decimals, the rest rounded to 0.05 (many ties, but
  only among detections whose true/false label is the same, so the rank of tied rows, which the
  official code leaves to numpy's unstable sort, cannot move the AP);
* a keyframe with detections and no groundtruth, an invalid box (x1 > x2), excluded keyframes
  with and without groundtruth, a class outside the label map, a labelled class without
  groundtruth (AP NaN) and one without detections (AP 0).
"""

from __future__ import annotations

import os
import sys

import numpy as np

CLASSES = {1: "stand", 2: "sit", 4: "talk", 7: "ride", 9: "swim"}
DETECTED = (1, 2, 4, 3)  # 3 is outside the label map; 7 and 9 are never detected
CROWDED = ("vidC", 905)
EXCLUDED = [("vidB", 904), ("vidC", 907), ("vidD", 902)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    return inter / (float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter)


def make(out_dir: str, seed: int = 23) -> None:
    rng = np.random.default_rng(seed)

    def person_box() -> np.ndarray:
        w, h = rng.uniform(0.15, 0.35), rng.uniform(0.3, 0.7)
        cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
        return np.round(np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]), 3)

    def jitter(box: np.ndarray, sigma: float) -> np.ndarray:
        return np.round(np.clip(box + rng.normal(0, sigma, 4), 0, 1), 3)

    gt_rows, det_rows = [], []
    for key in [(v, s) for v in ("vidA", "vidB", "vidC") for s in range(902, 908)]:
        persons = []
        for _ in range(8 if key == CROWDED else int(rng.integers(1, 4))):
            box = person_box()
            acts = [c for c in (1, 2, 4, 7, 3) if rng.random() < 0.45] or [1]
            persons.append((box, acts))
            if rng.random() < 0.3:  # a neighbour sharing an action, shifted right
                shift = np.array([1, 0, 1, 0]) * rng.uniform(0.02, 0.05)
                persons.append((np.round(np.clip(box + shift, 0, 1), 3), acts[:1]))
        frame = []
        for box, acts in persons:
            gt_rows.extend((key, box, c) for c in acts)
            for copy in range(2 if rng.random() < 0.35 else 1):
                det = jitter(box, 0.02 if copy == 0 else 0.05)
                for c in DETECTED:
                    hit = any(
                        c in other_acts and _iou(det, other) >= 0.45
                        for other, other_acts in persons
                    )
                    if hit:
                        frame.append((key, det, c, round(rng.uniform(0.3, 1.0), 4)))
                    else:
                        frame.append((key, det, c, round(rng.uniform(0.0, 0.7) * 20) / 20))
        for _ in range(int(rng.integers(0, 3)) + (6 if key == CROWDED else 0)):
            det = person_box()
            for c in DETECTED:
                frame.append((key, det, c, round(rng.uniform(0.0, 0.6) * 20) / 20))
        if key == CROWDED:
            # tie at the cap: the 49th to 52nd best rows share one score, across classes
            ranked = sorted(range(len(frame)), key=lambda i: -frame[i][3])
            tie = min(frame[i][3] for i in ranked[48:52])
            for i in ranked[48:52]:
                frame[i] = (*frame[i][:3], tie)
        det_rows.extend(frame[i] for i in rng.permutation(len(frame)))
    for c in DETECTED:  # detections where no groundtruth is
        det_rows.append((("vidA", 910), person_box(), c, round(rng.uniform(0.2, 0.9) * 20) / 20))
    det_rows.append((("vidB", 903), np.array([0.5, 0.2, 0.4, 0.8]), 1, 0.99))  # x1 > x2
    for c in DETECTED:  # an excluded keyframe without groundtruth
        det_rows.append((("vidC", 907), person_box(), c, round(rng.uniform(0.2, 0.9), 4)))
    _write(out_dir, gt_rows, det_rows)


def _write(out_dir: str, gt_rows: list, det_rows: list) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "labelmap.pbtxt"), "w", encoding="utf-8") as f:
        for c, name in CLASSES.items():
            f.write(f'item {{\n  name: "{name}"\n  id: {c}\n}}\n')
    with open(os.path.join(out_dir, "groundtruth.csv"), "w", encoding="utf-8") as f:
        for person, ((video, sec), box, c) in enumerate(gt_rows):
            f.write(f"{video},{sec:04d},{','.join(f'{v:.3f}' for v in box)},{c},{person}\n")
    with open(os.path.join(out_dir, "detections.csv"), "w", encoding="utf-8") as f:
        for (video, sec), box, c, score in det_rows:
            f.write(f"{video},{sec:04d},{','.join(f'{v:.3f}' for v in box)},{c},{score:.4f}\n")
    with open(os.path.join(out_dir, "exclusions.csv"), "w", encoding="utf-8") as f:
        f.writelines(f"{video},{sec:04d}\n" for video, sec in EXCLUDED)


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
