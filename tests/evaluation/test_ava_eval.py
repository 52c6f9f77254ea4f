"""AVA frame mAP on hand-built cases whose AP is worked out in the comments."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from slowvid.evaluation.ava import average_precision, evaluate_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
A = "0.1,0.1,0.4,0.9"  # a person box
B = "0.6,0.1,0.9,0.9"  # another, disjoint from A
A_SHIFTED = "0.15,0.1,0.45,0.9"  # IoU with A = 0.25 / 0.35 = 0.714 >= 0.5
A_FAR = "0.3,0.1,0.6,0.9"  # IoU with A = 0.1 / 0.5 = 0.2 < 0.5


def _files(tmp_path, gt, det, exclusions=None, classes=(1, 2)):
    paths = {}
    for name, lines in (("gt.csv", gt), ("det.csv", det), ("ex.csv", exclusions or [])):
        (tmp_path / name).write_text("".join(line + "\n" for line in lines))
        paths[name] = str(tmp_path / name)
    (tmp_path / "labels.pbtxt").write_text(
        "".join(f'item {{\n  name: "c{c}"\n  id: {c}\n}}\n' for c in classes)
    )
    return paths["gt.csv"], paths["det.csv"], str(tmp_path / "labels.pbtxt"), paths["ex.csv"]


def _run(tmp_path, gt, det, exclusions=None, classes=(1, 2)):
    return evaluate_files(*_files(tmp_path, gt, det, exclusions, classes))


def test_perfect_detections(tmp_path):
    gt = [f"v1,0902,{A},1,0", f"v1,0902,{B},2,1", f"v1,0903,{A},1,0"]
    det = [f"v1,0902,{A},1,0.9", f"v1,0902,{B},2,0.8", f"v1,0903,{A_SHIFTED},1,0.7"]
    r = _run(tmp_path, gt, det)
    assert r["per_class"] == {"c1": 1.0, "c2": 1.0} and r["mAP"] == 1.0


def test_all_wrong(tmp_path):
    # right place, wrong class; right class, IoU 0.2; right class at a keyframe without gt
    gt = [f"v1,0902,{A},1,0"]
    det = [f"v1,0902,{A},2,0.9", f"v1,0902,{A_FAR},1,0.8", f"v1,0905,{A},1,0.7"]
    r = _run(tmp_path, gt, det)
    assert r["per_class"]["c1"] == 0.0
    assert math.isnan(r["per_class"]["c2"])  # no groundtruth: left out of the mean
    assert r["mAP"] == 0.0


def test_duplicates_count_as_false_positives(tmp_path):
    # two gt boxes; detections by score: A (tp), A again (duplicate: fp), B (tp)
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> monotone: 1, 2/3, 2/3
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    gt = [f"v1,0902,{A},1,0", f"v1,0902,{B},1,1"]
    det = [f"v1,0902,{A},1,0.9", f"v1,0902,{A_SHIFTED},1,0.8", f"v1,0902,{B},1,0.7"]
    assert _run(tmp_path, gt, det)["per_class"]["c1"] == pytest.approx(5 / 6)


def test_ranking_across_keyframes(tmp_path):
    # ranked: tp (0.9), fp (0.8), tp (0.6) over 3 gt -> AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
    gt = [f"v1,0902,{A},1,0", f"v1,0903,{A},1,0", f"v2,0902,{B},1,0"]
    det = [f"v1,0902,{A},1,0.9", f"v1,0903,{A_FAR},1,0.8", f"v2,0902,{B},1,0.6"]
    assert _run(tmp_path, gt, det)["per_class"]["c1"] == pytest.approx(5 / 9)


def test_ties_rank_the_later_detection_first(tmp_path):
    # equal scores: argsort(...)[::-1] puts the later one (the fp) first:
    # fp, tp over 1 gt -> precision 0, 1/2 at recall 0, 1 -> AP = 1/2
    gt = [f"v1,0902,{A},1,0"]
    det = [f"v1,0902,{A},1,0.5", f"v1,0903,{A},1,0.5"]
    assert _run(tmp_path, gt, det)["per_class"]["c1"] == pytest.approx(0.5)
    # and the other way round, tp ranked first -> AP = 1
    det = [f"v1,0903,{A},1,0.5", f"v1,0902,{A},1,0.5"]
    assert _run(tmp_path, gt, det)["per_class"]["c1"] == pytest.approx(1.0)


def test_excluded_timestamps_leave_both_sides(tmp_path):
    # 0903 is excluded: its gt (missed) and its fp no longer count -> AP 1 instead of 1/2 * 1/2
    gt = [f"v1,0902,{A},1,0", f"v1,0903,{B},1,0"]
    det = [f"v1,0902,{A},1,0.9", f"v1,0903,{A},1,0.95"]
    assert _run(tmp_path, gt, det)["per_class"]["c1"] == pytest.approx(0.25)
    assert _run(tmp_path, gt, det, exclusions=["v1,0903"])["per_class"]["c1"] == 1.0


def test_class_outside_the_label_map_is_ignored(tmp_path):
    gt = [f"v1,0902,{A},1,0", f"v1,0902,{A},7,0"]
    det = [f"v1,0902,{A},1,0.9", f"v1,0902,{B},7,0.99"]
    r = _run(tmp_path, gt, det, classes=(1,))
    assert r["per_class"] == {"c1": 1.0} and r["mAP"] == 1.0


def test_class_with_no_groundtruth_is_nan_and_skipped(tmp_path):
    gt = [f"v1,0902,{A},1,0"]
    det = [f"v1,0902,{A},1,0.9", f"v1,0902,{B},2,0.9"]
    r = _run(tmp_path, gt, det, classes=(1, 2, 3))
    assert math.isnan(r["per_class"]["c2"]) and math.isnan(r["per_class"]["c3"])
    assert r["mAP"] == 1.0


def test_average_precision_edge_cases():
    assert math.isnan(average_precision(np.array([0.5]), np.array([False]), 0))
    assert average_precision(np.array([]), np.array([], dtype=bool), 2) == 0.0
    # tp, tp over 4 gt -> AP = 1/2
    assert average_precision(np.array([0.9, 0.8]), np.array([True, True]), 4) == 0.5


def test_malformed_detection_line_names_file_and_line(tmp_path):
    with pytest.raises(ValueError, match=r"det\.csv:2: "):
        _run(tmp_path, [f"v1,0902,{A},1,0"], [f"v1,0902,{A},1,0.9", "v1,0902,0.1,0.2,1,0.9"])


@pytest.mark.timeout(60)
def test_command_line_tool_prints_the_same_map(tmp_path):
    gt = [f"v1,0902,{A},1,0", f"v1,0902,{B},1,1"]
    det = [f"v1,0902,{A},1,0.9", f"v1,0902,{A_SHIFTED},1,0.8", f"v1,0902,{B},1,0.7"]
    g, d, labels, ex = _files(tmp_path, gt, det, ["v9,0902"])
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools/ava_eval.py"),
            "--groundtruth",
            g,
            "--detections",
            d,
            "--labelmap",
            labels,
            "--exclusions",
            ex,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": REPO},
    ).stdout
    assert "c1" in out and "0.8333" in out and "mAP" in out
