"""A short CPU training of the AVA detector on the generated AVA-format data, through the jobs."""

import json
import os

import pytest
import torch
from demo_config import REPO

from slowvid import engine
from slowvid.config import load_config
from slowvid.data.ava_demo import AvaDemoSpec, ava_demo_overrides, make_ava_demo_data
from slowvid.data.datasets.ava import AvaSource, read_box_lists

AVA_DEMO_CFG = os.path.join(REPO, "configs/Demo/AVA_SLOW_DEMO.yaml")


@pytest.fixture(autouse=True)
def _one_thread():
    # Two intra-op threads on the shared 2-core machine slow these tiny models many times over.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _opts(root: str, out: str, **extra) -> list[str]:
    opts = {**ava_demo_overrides(root), "OUTPUT_DIR": out, **extra}
    return [item for key, value in opts.items() for item in (key, str(value))]


def _chance_map(root: str) -> float:
    """Mean over evaluated classes of the positive rate among val boxes: a random ranking's AP."""
    spec = AvaDemoSpec()
    gt = read_box_lists(
        AvaSource(
            frame_dir="",
            frame_lists=(),
            gt_box_lists=(os.path.join(root, "annotations/ava_val_v2.2.csv"),),
            keyframe_seconds=spec.keyframe_seconds,
        )
    )
    boxes = [labels for entries in gt.values() for _, labels in entries]
    return sum(sum(c in b for b in boxes) / len(boxes) for c in (1, 2, 3, 4)) / 4


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_short_training_beats_untrained_and_chance(tmp_path):
    root = make_ava_demo_data(str(tmp_path / "ava"))
    untrained = engine.test(load_config(AVA_DEMO_CFG, _opts(root, str(tmp_path / "untrained"))))[
        "mAP"
    ]
    out = str(tmp_path / "run")
    # precise BN also has to pass the boxes
    opts = _opts(root, out, **{"BN.USE_PRECISE_STATS": True, "BN.NUM_BATCHES_PRECISE": 3})
    engine.train(load_config(AVA_DEMO_CFG, opts))
    trained = engine.test(load_config(AVA_DEMO_CFG, _opts(root, out)))
    chance = _chance_map(root)
    assert trained["failed_views"] == 0 and trained["num_boxes"] == 48
    assert trained["mAP"] > untrained + 0.05 and trained["mAP"] > chance + 0.15, (
        trained["mAP"],
        untrained,
        chance,
    )
    # the detections csv is in the official format, one row per box and class
    rows = open(os.path.join(out, "detections_test_0.csv")).read().splitlines()
    assert len(rows) == 48 * 5 and len(rows[0].split(",")) == 8
    with open(os.path.join(out, "stats.jsonl")) as f:
        stats = [json.loads(line) for line in f]
    assert [s["epoch"] for s in stats if s["_type"] == "val"] == [10, 20]
