"""AVA frame-level mAP, computed as the ActivityNet challenge's official evaluator does.

Facts of the official code (ActivityNet ``Evaluation/get_ava_performance.py`` and its
TF-object-detection ``ava/`` package, Apache-2.0) reproduced here in our own code:

* An image is a ``(video_id, second)`` keyframe. Only classes in the label map count; rows of
  other classes are skipped in both files. Excluded keyframes are dropped from both.
* Per keyframe, the reader keeps a min-heap of ``(score, class id, y1, x1, y2, x2)`` holding at
  most the 50 highest-scoring detections (a row enters a full heap only by beating the lowest
  score, which leaves; equal scores are ordered by class id, then box), then sorts the heap by
  descending score, stably, so equal scores keep the heap's layout. Groundtruth goes through
  the same reader, its 8th column (the person id) in place of the score.
* Per keyframe and class, detections are visited in that order; each takes the groundtruth
  box of highest IoU (first on ties) and is a true positive if that IoU is >= 0.5 and the box
  is still unmatched, else a false positive. A matched box is never released to a
  lower-scoring detection, which then counts as a duplicate (false positive).
  Boxes with ``x1 >= x2`` or ``y1 >= y2`` are dropped from the detections.
* Per class, all detections are ranked with ``argsort(scores)[::-1]`` (a stable sort here, so
  among equal scores the later one ranks first, as numpy's small-array sort does in the
  official code); precision is made monotone and integrated over the recall steps (VOC 2010+).
  A class with groundtruth but no detection has AP 0; one without groundtruth has AP NaN and
  is left out of the mean.

PySlowFast's AVA helper (``slowfast/utils/ava_eval_helper.py``) runs the same matching on
detections as its test loop lists them: unsorted and uncapped. ``match_order="given"`` (and
``tools/ava_eval.py --match-order given``) reproduces the mAP it logs.
"""

from __future__ import annotations

import csv
import heapq
import logging
import math
import os
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import torch

from slowvid.distributed import comm

from .base import Evaluator

__all__ = [
    "AvaEvaluator",
    "average_precision",
    "evaluate_files",
    "frame_average_precision",
    "read_boxes_csv",
    "read_exclusions",
    "read_labelmap",
    "write_detections",
]

logger = logging.getLogger(__name__)

Key = tuple[str, int]
# (score, action_id, (x1, y1, x2, y2))
Row = tuple[float, int, tuple[float, float, float, float]]
DETECTIONS_PER_KEYFRAME = 50
# "score": the official evaluator; "given": PySlowFast's helper (file order, no cap).
MATCH_ORDERS = ("score", "given")


def read_labelmap(path: str) -> dict[int, str]:
    """Class id -> name from an AVA ``.pbtxt`` label map (``name:`` then ``id:`` per item)."""
    labels: dict[int, str] = {}
    name = ""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if line.startswith("name:"):
                name = line.split('"')[1] if '"' in line else line.split(":", 1)[1].strip()
            elif line.startswith("id:") or line.startswith("label_id:"):
                try:
                    labels[int(line.split(":", 1)[1])] = name
                except ValueError:
                    raise ValueError(f"{path}:{lineno}: bad class id in {line!r}") from None
    if not labels:
        raise ValueError(f"{path}: no classes found in the label map")
    return labels


def read_exclusions(path: str | None) -> set[Key]:
    """Excluded ``(video_id, second)`` keyframes; an empty set for no file."""
    excluded: set[Key] = set()
    if not path:
        return excluded
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'video_id,second', got {row}")
            excluded.add((row[0], _second(row[1], path, lineno)))
    return excluded


def _second(text: str, path: str, lineno: int) -> int:
    try:
        return int(float(text))
    except ValueError:
        raise ValueError(f"{path}:{lineno}: timestamp {text!r} is not a number") from None


def read_boxes_csv(
    path: str,
    class_ids: Iterable[int] | None = None,
    scored: bool = True,
    capacity: int = 0,
    order: str = "score",
) -> dict[Key, list[Row]]:
    """Read ``video_id,second,x1,y1,x2,y2,action_id[,score]`` rows.

    Args:
        path: groundtruth or detections csv.
        class_ids: keep only these action ids (None keeps all).
        scored: the 8th column is a score (detections); otherwise it is the person id of a
            groundtruth file, every score is 1, and the id only orders the boxes (the official
            reader sorts groundtruth by descending id, which decides exact IoU ties).
        capacity: keep at most this many highest-scoring rows per keyframe (0: all).
        order: "score" sorts each keyframe's rows by descending score, ties and the cap decided
            as the official reader decides them; "given" keeps file order (``capacity`` must
            then be 0).

    Returns:
        Rows per keyframe, in the order they are matched.
    """
    if order not in MATCH_ORDERS:
        raise ValueError(f"order must be one of {MATCH_ORDERS}, got {order!r}")
    if order == "given" and capacity:
        raise ValueError("a capacity needs order='score': the cap keeps the best rows")
    keep = set(class_ids) if class_ids is not None else None
    rows: dict[Key, list] = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) not in (7, 8):
                raise ValueError(f"{path}:{lineno}: expected 7 or 8 columns, got {len(row)}")
            try:
                x1, y1, x2, y2 = (float(v) for v in row[2:6])
                action = int(row[6])
                rank = float(row[7]) if len(row) == 8 else 1.0
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: {err} in {','.join(row)!r}") from None
            if keep is not None and action not in keep:
                continue
            items = rows[(row[0], _second(row[1], path, lineno))]
            # The official reader keeps a min-heap of (score, class, y1, x1, y2, x2): equal
            # scores at the cap are decided by class id, then the box, and a later row must
            # beat the lowest score to get in. The same heap gives the same rows and order.
            entry = (rank, action, y1, x1, y2, x2)
            if order == "given":
                items.append(entry)
            elif capacity <= 0 or len(items) < capacity:
                heapq.heappush(items, entry)
            elif rank > items[0][0]:
                heapq.heapreplace(items, entry)
    result = {}
    for key, items in rows.items():
        if order == "score":
            items = sorted(items, key=lambda e: -e[0])  # stable over the heap's layout
        result[key] = [
            (s if scored else 1.0, a, (x1, y1, x2, y2)) for s, a, y1, x1, y2, x2 in items
        ]
    return result


def _iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU matrix of ``(N, 4)`` and ``(M, 4)`` ``[x1, y1, x2, y2]`` boxes."""
    lo = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    hi = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(boxes_a[:, 2:] - boxes_a[:, :2], axis=1)
    area_b = np.prod(boxes_b[:, 2:] - boxes_b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def average_precision(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> float:
    """VOC (2010+) AP of ranked detections; NaN without groundtruth, 0 without detections."""
    if num_gt == 0:
        return math.nan
    if scores.size == 0:
        return 0.0
    order = np.argsort(scores, kind="stable")[::-1]
    tp = np.cumsum(is_tp[order].astype(float))
    fp = np.cumsum(1.0 - is_tp[order].astype(float))
    precision = np.concatenate([[0.0], tp / (tp + fp), [0.0]])
    recall = np.concatenate([[0.0], tp / num_gt, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def frame_average_precision(
    groundtruth: dict[Key, list[Row]],
    detections: dict[Key, list[Row]],
    class_ids: Iterable[int],
    excluded: set[Key] = frozenset(),
    iou_threshold: float = 0.5,
) -> dict[int, float]:
    """Per-class AP at ``iou_threshold`` (see the module docstring for the exact rules).

    Args:
        groundtruth: rows per keyframe, as :func:`read_boxes_csv` gives them.
        detections: rows per keyframe, in the order they are matched (descending score for
            the official rule).
        class_ids: evaluated classes.
        excluded: keyframes left out of both sides.
        iou_threshold: minimum IoU of a true positive.

    Returns:
        class id -> AP (NaN for classes without groundtruth).
    """
    class_ids = list(class_ids)
    num_gt = dict.fromkeys(class_ids, 0)
    for key, rows in groundtruth.items():
        if key not in excluded:
            for _, action, _ in rows:
                if action in num_gt:
                    num_gt[action] += 1
    scores: dict[int, list[float]] = defaultdict(list)
    hits: dict[int, list[bool]] = defaultdict(list)
    for key, rows in detections.items():
        if key in excluded:
            continue
        gt_rows = groundtruth.get(key, []) if key not in excluded else []
        for c in class_ids:
            det = [(s, b) for s, a, b in rows if a == c and b[0] < b[2] and b[1] < b[3]]
            if not det:
                continue
            gt = np.array([b for _, a, b in gt_rows if a == c], dtype=float).reshape(-1, 4)
            matched = np.zeros(len(gt), dtype=bool)
            iou = _iou(np.array([b for _, b in det], dtype=float), gt) if len(gt) else None
            for i, (s, _) in enumerate(det):
                tp = False
                if iou is not None:
                    j = int(np.argmax(iou[i]))
                    if iou[i, j] >= iou_threshold and not matched[j]:
                        matched[j] = tp = True
                scores[c].append(s)
                hits[c].append(tp)
    return {
        c: average_precision(np.array(scores[c], dtype=float), np.array(hits[c]), num_gt[c])
        for c in class_ids
    }


def evaluate_files(
    groundtruth_csv: str,
    detections_csv: str,
    labelmap: str,
    exclusions: str | None = None,
    match_order: str = "score",
) -> dict:
    """Frame mAP of a detections csv against a groundtruth csv.

    Args:
        match_order: "score" is the official evaluator: per keyframe the 50 best detections,
            matched best first. "given" is PySlowFast's AVA helper, whose logged mAP users
            compare with: every detection, matched in file order (a lower-scoring box listed
            first can take the groundtruth box), and groundtruth in file order.

    Returns:
        ``{"mAP": float, "per_class": {name: AP}, "class_ids": [...]}``; the mean is over
        classes with groundtruth.
    """
    names = read_labelmap(labelmap)
    excluded = read_exclusions(exclusions)
    capacity = DETECTIONS_PER_KEYFRAME if match_order == "score" else 0
    gt = read_boxes_csv(groundtruth_csv, names, scored=False, order=match_order)
    det = read_boxes_csv(detections_csv, names, capacity=capacity, order=match_order)
    ap = frame_average_precision(gt, det, names, excluded)
    valid = [v for v in ap.values() if not math.isnan(v)]
    return {
        "mAP": float(np.mean(valid)) if valid else math.nan,
        "per_class": {names[c]: ap[c] for c in names},
        "class_ids": list(names),
    }


def write_detections(
    path: str, rows: Iterable[tuple[str, int, Iterable[float], int, float]]
) -> None:
    """Write ``video_id,second,x1,y1,x2,y2,action_id,score`` lines (the official format)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        for video, sec, box, action, score in rows:
            x1, y1, x2, y2 = box
            f.write(f"{video},{sec:04d},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},{action},{score:.6f}\n")
    os.replace(tmp, path)


class AvaEvaluator(Evaluator):
    """Collects per-box scores during evaluation, writes the detections csv, computes mAP.

    Args:
        video_names: video id of each video index of the dataset.
        groundtruth_file: groundtruth csv.
        labelmap_file: ``.pbtxt`` of the evaluated classes.
        exclusion_file: excluded keyframes csv, or "" / None.
        detections_file: where the detections csv is written (by rank 0).
    """

    def __init__(
        self,
        *,
        video_names: list[str],
        groundtruth_file: str,
        labelmap_file: str,
        exclusion_file: str | None,
        detections_file: str,
    ):
        self.video_names = video_names
        self.groundtruth_file = groundtruth_file
        self.labelmap_file = labelmap_file
        self.exclusion_file = exclusion_file
        self.detections_file = detections_file
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def process(self, batch: dict, logits: torch.Tensor) -> None:
        """Keep the sigmoid scores ``(K, classes)`` of one batch's boxes."""
        self.parts.append((batch["metadata"], batch["ori_boxes"], logits.float().sigmoid().cpu()))

    def finalize(self) -> dict:
        """Gather every rank's boxes, write the csv on rank 0, and evaluate (on every rank)."""
        parts = [p for rank_parts in comm.all_gather_object(self.parts) for p in rank_parts]
        rows = []
        for metadata, boxes, probs in parts:
            for (video_idx, sec), box, p in zip(metadata.tolist(), boxes.tolist(), probs):
                video = self.video_names[video_idx]
                rows.extend((video, sec, box, c + 1, float(s)) for c, s in enumerate(p.tolist()))
        if comm.is_main_process():
            write_detections(self.detections_file, rows)
        comm.synchronize()
        result = evaluate_files(
            self.groundtruth_file, self.detections_file, self.labelmap_file, self.exclusion_file
        )
        for name, ap in result["per_class"].items():
            logger.info("AP %-30s %.4f", name, ap)
        num_boxes = sum(len(metadata) for metadata, _, _ in parts)
        logger.info("frame mAP@0.5: %.4f over %d boxes", result["mAP"], num_boxes)
        return {"mAP": result["mAP"], "num_boxes": num_boxes}
