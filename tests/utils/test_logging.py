import json
import logging
import math
import os

from slowvid.utils.logging import TensorboardWriter, log_json_stats, setup_logging


def test_json_stats_line_and_file_on_rank0(tmp_path, caplog):
    setup_logging(str(tmp_path), rank=0)
    with caplog.at_level(logging.INFO):
        text = log_json_stats(
            {"epoch": 3, "loss": 1.23456789, "top1_err": math.nan}, str(tmp_path), rank=0
        )
    assert json.loads(text) == {"epoch": 3, "loss": 1.23457, "top1_err": None}
    with open(tmp_path / "stats.jsonl") as f:
        assert [json.loads(line) for line in f] == [json.loads(text)]


def test_other_ranks_write_no_stats_and_no_events(tmp_path):
    log_json_stats({"epoch": 1}, str(tmp_path), rank=1)
    writer = TensorboardWriter(str(tmp_path / "tb"), rank=1)
    writer.add_scalars({"train/loss": 1.0}, 1)
    writer.close()
    assert not os.path.exists(tmp_path / "stats.jsonl")
    assert not os.path.exists(tmp_path / "tb")


def test_rank0_tensorboard_writes_an_event_file(tmp_path):
    writer = TensorboardWriter(str(tmp_path / "tb"), rank=0)
    writer.add_scalars({"train/loss": 1.0, "train/lr": 0.1}, 1)
    writer.close()
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))


def test_each_rank_keeps_its_own_log_file(tmp_path):
    setup_logging(str(tmp_path), rank=1)
    logging.getLogger("slowvid.test").info("hello from rank 1")
    for handler in logging.getLogger().handlers + logging.getLogger("slowvid").handlers:
        handler.flush()
    with open(tmp_path / "logs" / "log_rank1.txt") as f:
        assert "hello from rank 1" in f.read()
