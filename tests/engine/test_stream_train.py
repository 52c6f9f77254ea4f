"""A training run that streams its videos from tar shards (TRAIN.DATASET VideoShards)."""

import importlib.util
import json
import os

import pytest
from demo_config import DEMO_CFG, REPO, demo_opts

from slowvid import engine
from slowvid.config import load_config

_spec = importlib.util.spec_from_file_location("make_shards", f"{REPO}/tools/make_shards.py")
make_shards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_shards)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_training_and_validation_stream_from_shards(tiny_data, tmp_path):
    shards = str(tmp_path / "shards")
    for split, per_shard in (("train", 3), ("val", 4)):
        args = ["--split-file", os.path.join(tiny_data, f"{split}.csv"), "--prefix", tiny_data]
        args += ["--output", shards, "--name", split, "--samples-per-shard", str(per_shard)]
        assert make_shards.main(args) == 0
    out = str(tmp_path / "run")
    opts = demo_opts(
        tiny_data,
        out,
        **{
            "DATA.PATH_TO_DATA_DIR": shards,
            "TRAIN.DATASET": "VideoShards",
            "TEST.DATASET": "VideoShards",
            "SOLVER.MAX_EPOCH": 1,
        },
    )
    engine.train(load_config(DEMO_CFG, opts))
    with open(os.path.join(out, "stats.jsonl")) as f:
        stats = [json.loads(line) for line in f]
    [epoch] = [s for s in stats if s["_type"] == "train_epoch"]
    [val] = [s for s in stats if s["_type"] == "val"]
    assert epoch["samples"] == 24 and epoch["failed_videos"] == 0  # 3 batches of 8
    assert val["num_videos"] == 8 and val["num_missing"] == 0
