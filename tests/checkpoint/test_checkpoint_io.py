import logging
import os

import numpy as np
import pytest
import torch
from torch import nn

from slowvid.checkpoint import (
    CheckpointMismatchError,
    CheckpointReadError,
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from slowvid.config import get_cfg


class Net(nn.Module):
    def __init__(self, width: int = 4, num_classes: int = 3):
        super().__init__()
        self.conv = nn.Conv3d(3, width, kernel_size=1)
        self.bn = nn.BatchNorm3d(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.bn(self.conv(x)).mean(dim=(2, 3, 4))
        return self.head(x)


def trained(model):
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 2, 4, 4)).sum().backward()
    opt.step()
    return opt


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k, value in a.items():
        assert torch.equal(value, b[k]), k


def test_round_trip_restores_model_optimizer_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = Net()
    opt = trained(model)
    cfg = get_cfg()
    path = save_checkpoint(
        str(tmp_path),
        7,
        model,
        opt,
        cfg=cfg,
        extra={"extra": {"best_acc": 71.5}, "scaler_state": {"scale": 2.0}},
    )
    assert path == os.path.join(str(tmp_path), "checkpoints", "checkpoint_epoch_00007.pyth")

    model2 = Net()
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.5, momentum=0.9)
    ckpt = load_checkpoint(path, model2, opt2)
    assert ckpt["epoch"] == 7
    assert isinstance(ckpt["cfg"], str) and "BASE_LR" in ckpt["cfg"]
    assert ckpt["extra"] == {"best_acc": 71.5}
    assert ckpt["scaler_state"] == {"scale": 2.0}
    assert_same_state(model.state_dict(), model2.state_dict())
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k in s1["state"]:
        assert torch.equal(s1["state"][k]["momentum_buffer"], s2["state"][k]["momentum_buffer"])


def test_wrapped_model_is_saved_without_module_prefix(tmp_path):
    model = Net()
    path = save_checkpoint(str(tmp_path), 1, nn.DataParallel(model))
    state = read_checkpoint(path)["model_state"]
    assert all(not k.startswith("module.") for k in state)
    target = Net()
    load_checkpoint(path, nn.DataParallel(target))
    assert_same_state(model.state_dict(), target.state_dict())


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "module_prefix"])
def test_accepts_foreign_layouts(tmp_path, wrap):
    model = Net()
    state = model.state_dict()
    if wrap == "state_dict":
        obj = {"state_dict": state, "epoch": 3}
    elif wrap == "module_prefix":
        obj = {"model_state": {f"module.{k}": v for k, v in state.items()}}
    else:
        obj = state
    path = tmp_path / "foreign.pth"
    torch.save(obj, path)
    target = Net()
    ckpt = load_checkpoint(str(path), target)
    assert "model_state" in ckpt or "state_dict" in ckpt
    assert_same_state(state, target.state_dict())


def test_crash_mid_write_leaves_no_checkpoint(tmp_path, monkeypatch):
    out = str(tmp_path)
    first = save_checkpoint(out, 1, Net())
    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial bytes")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(out, 2, Net())
    monkeypatch.setattr(torch, "save", real_save)

    assert os.listdir(tmp_path / "checkpoints") == ["checkpoint_epoch_00001.pyth"]
    assert find_latest_checkpoint(out) == first


def test_unloadable_extra_is_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"extra\['arr'\].*numpy"):
        save_checkpoint(str(tmp_path), 1, Net(), extra={"extra": {"arr": np.zeros(3)}})
    assert list_checkpoints(str(tmp_path)) == []
    assert not (tmp_path / "checkpoints").exists()


def test_reserved_extra_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="epoch"):
        save_checkpoint(str(tmp_path), 1, Net(), extra={"epoch": 3})


def test_find_latest_ignores_temp_and_corrupt_files(tmp_path, caplog):
    out = str(tmp_path)
    assert find_latest_checkpoint(out) is None
    for epoch in (1, 3):
        save_checkpoint(out, epoch, Net())
    ckpt_dir = tmp_path / "checkpoints"
    (ckpt_dir / ".checkpoint_epoch_00009.pyth.tmp-1234abcd").write_bytes(b"half")
    (ckpt_dir / "checkpoint_epoch_00008.pyth.tmp").write_bytes(b"half")
    (ckpt_dir / "checkpoint_epoch_00005.pyth").write_bytes(b"not a checkpoint")
    good = (ckpt_dir / "checkpoint_epoch_00003.pyth").read_bytes()
    (ckpt_dir / "checkpoint_epoch_00004.pyth").write_bytes(good[: len(good) // 2])

    assert [os.path.basename(p) for p in list_checkpoints(out)] == [
        "checkpoint_epoch_00001.pyth",
        "checkpoint_epoch_00003.pyth",
        "checkpoint_epoch_00004.pyth",
        "checkpoint_epoch_00005.pyth",
    ]
    with caplog.at_level(logging.WARNING):
        latest = find_latest_checkpoint(out)
    assert latest.endswith("checkpoint_epoch_00003.pyth")
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "checkpoint_epoch_00005.pyth" in warned and "checkpoint_epoch_00004.pyth" in warned


def test_same_epoch_can_be_saved_again(tmp_path):
    out = str(tmp_path)
    save_checkpoint(out, 2, Net())
    model = Net()
    path = save_checkpoint(out, 2, model)
    assert_same_state(read_checkpoint(path)["model_state"], model.state_dict())


def test_missing_and_corrupt_files_name_the_path(tmp_path):
    missing = str(tmp_path / "nope.pyth")
    with pytest.raises(FileNotFoundError, match="nope.pyth"):
        load_checkpoint(missing, Net())
    bad = tmp_path / "bad.pyth"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointReadError, match="bad.pyth"):
        load_checkpoint(str(bad), Net())


class NotPlain:
    pass


def test_pickled_objects_are_refused_by_weights_only(tmp_path):
    path = tmp_path / "evil.pyth"
    torch.save({"model_state": Net().state_dict(), "obj": NotPlain()}, path)
    with pytest.raises(CheckpointReadError, match="evil.pyth"):
        load_checkpoint(str(path), Net())


def test_torch_load_always_uses_weights_only(tmp_path, monkeypatch):
    out = str(tmp_path)
    path = save_checkpoint(out, 1, Net())
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    find_latest_checkpoint(out)
    load_checkpoint(path, Net())
    assert calls and all(c.get("weights_only") is True for c in calls)
    assert all(c.get("map_location") == "cpu" for c in calls)


def test_head_shape_mismatch_is_skipped_with_one_warning(tmp_path, caplog):
    source = Net(num_classes=3)
    opt = trained(source)
    path = save_checkpoint(str(tmp_path), 1, source, opt)
    target = Net(num_classes=5)
    head_before = {k: v.clone() for k, v in target.head.state_dict().items()}
    target_opt = torch.optim.SGD(target.parameters(), lr=0.1, momentum=0.9)
    with caplog.at_level(logging.WARNING, logger="slowvid.checkpoint"):
        load_checkpoint(path, target, target_opt)
    head_warnings = [r.getMessage() for r in caplog.records if "head.weight" in r.getMessage()]
    assert len(head_warnings) == 1
    assert "head.bias" in head_warnings[0] and "[3, 4]" in head_warnings[0]
    assert torch.equal(target.conv.weight, source.conv.weight)
    assert_same_state(head_before, target.head.state_dict())
    # Old head momentum would not fit, so the optimizer keeps its fresh state.
    assert target_opt.state_dict()["state"] == {}

    with pytest.raises(CheckpointMismatchError, match="head.weight"):
        load_checkpoint(path, Net(num_classes=5), strict_head=True)


def test_backbone_mismatch_raises_listing_every_key(tmp_path):
    source = Net(width=4)
    state = source.state_dict()
    state["extra_block.weight"] = torch.zeros(2)
    del state["bn.running_var"]
    path = tmp_path / "wrong.pyth"
    torch.save({"model_state": state}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(str(path), Net(width=6))
    msg = str(info.value)
    assert "wrong.pyth" in msg
    for key in ("conv.weight", "conv.bias", "bn.weight", "bn.running_mean", "head.weight"):
        assert key in msg
    assert "conv.weight: checkpoint [4, 3, 1, 1, 1] vs model [6, 3, 1, 1, 1]" in msg
    assert "missing in checkpoint: bn.running_var" in msg
    assert "unexpected in checkpoint: extra_block.weight" in msg


def test_unexpected_head_only_keys_warn(tmp_path, caplog):
    state = Net().state_dict()
    state["head.extra_proj.weight"] = torch.zeros(2, 2)
    path = tmp_path / "h.pyth"
    torch.save(state, path)
    with caplog.at_level(logging.WARNING, logger="slowvid.checkpoint"):
        load_checkpoint(str(path), Net())
    assert any("head.extra_proj.weight" in r.getMessage() for r in caplog.records)


def test_missing_num_batches_tracked_is_tolerated(tmp_path, caplog):
    source = Net()
    trained(source)  # one training step: weights and BN statistics differ from a fresh Net
    assert source.bn.num_batches_tracked.item() == 1
    state = {k: v for k, v in source.state_dict().items() if "num_batches_tracked" not in k}
    path = tmp_path / "caffe2.pyth"
    torch.save(state, path)
    target = Net()
    with caplog.at_level(logging.WARNING, logger="slowvid.checkpoint"):
        load_checkpoint(str(path), target)
    for key, value in state.items():  # every tensor the file has was loaded
        assert torch.equal(target.state_dict()[key], value), key
    assert target.bn.num_batches_tracked.item() == 0  # the model keeps its own counter
    assert not [r.getMessage() for r in caplog.records]  # tolerated means: not even a warning


def test_legacy_format_checkpoint_is_found_and_loaded(tmp_path):
    model = Net()
    (tmp_path / "checkpoints").mkdir()
    path = tmp_path / "checkpoints" / "checkpoint_epoch_00002.pyth"
    torch.save(
        {"model_state": model.state_dict(), "epoch": 2}, path, _use_new_zipfile_serialization=False
    )
    assert find_latest_checkpoint(str(tmp_path)) == str(path)
    target = Net()
    assert load_checkpoint(str(path), target)["epoch"] == 2
    assert_same_state(model.state_dict(), target.state_dict())
