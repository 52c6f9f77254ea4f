"""AVA frame mAP against ActivityNet's official evaluator and PySlowFast's AVA helper.

The inputs in ``ava_reference/`` (duplicates, ties, a crowded keyframe, overlapping groundtruth,
excluded keyframes) and the values in ``expected.json`` were produced by those two programs, not
by this code; ``ava_reference/README.md`` says how.
"""

import importlib.util
import json
import math
import os

import pytest

from slowvid.evaluation.ava import evaluate_files

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "ava_reference")
REPO = os.path.dirname(os.path.dirname(HERE))
FILES = [
    os.path.join(DATA, name)
    for name in ("groundtruth.csv", "detections.csv", "labelmap.pbtxt", "exclusions.csv")
]
with open(os.path.join(DATA, "expected.json"), encoding="utf-8") as f:
    EXPECTED = json.load(f)


def _assert_matches(result, expected):
    assert result["per_class"].keys() == expected["per_class"].keys()
    for name, ap in expected["per_class"].items():
        if ap is None:
            assert math.isnan(result["per_class"][name]), name
        else:
            assert result["per_class"][name] == pytest.approx(ap, abs=1e-12), name
    assert result["mAP"] == pytest.approx(expected["mAP"], abs=1e-12)


def test_frame_map_equals_the_official_evaluator():
    _assert_matches(evaluate_files(*FILES), EXPECTED["official"])


def test_given_order_equals_pyslowfast_helper():
    _assert_matches(evaluate_files(*FILES, match_order="given"), EXPECTED["pyslowfast"])


def test_the_two_orders_differ_on_this_set():
    # Otherwise the two tests above could not tell the rules apart.
    assert abs(EXPECTED["official"]["mAP"] - EXPECTED["pyslowfast"]["mAP"]) > 0.1


@pytest.mark.parametrize("order, key", [("score", "official"), ("given", "pyslowfast")])
def test_command_line_match_order(order, key, capsys):
    path = os.path.join(REPO, "tools/ava_eval.py")
    spec = importlib.util.spec_from_file_location("ava_eval", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    g, d, labels, ex = FILES
    argv = ["--groundtruth", g, "--detections", d, "--labelmap", labels, "--exclusions", ex]
    assert tool.main([*argv, "--match-order", order]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.split() == ["mAP@0.5", f"{EXPECTED[key]['mAP']:.4f}"]


def test_unknown_match_order_is_refused():
    with pytest.raises(ValueError, match="order must be one of"):
        evaluate_files(*FILES, match_order="file")
