"""Something-Something V2: annotation parsing, errors, items, and no flips, on a tiny fixture
in the published layout (labels json, train/validation json, ``{id}.webm`` VP9 videos)."""

import dataclasses
import json
import os
import random

import numpy as np
import pytest
import torch
from synthetic import data_cfg

from slowvid.data import build_dataset
from slowvid.data.datasets import ClipDataset
from slowvid.data.datasets.ssv2 import SSv2, read_ssv2_labels
from slowvid.data.demo import DemoSpec, render_video, write_video

LABELS = {
    "Holding something next to something": "1",
    "Pushing something from left to right": "0",
    "Putting something on a surface": "2",
}
TRAIN = [
    ("78687", "Holding [something] next to [something]", ["potato", "vicks bottle"], 1),
    ("42326", "Pushing [something] from left to right", ["pen"], 0),
    ("100904", "Putting [something] on a surface", ["cup"], 2),
    ("5", "Pushing [something] from left to right", ["box"], 0),
]
VALIDATION = [
    ("74225", "Putting [something] on a surface", ["spoon"], 2),
    ("116154", "Holding [something] next to [something]", ["mug", "phone"], 1),
]


def entries(rows):
    return [
        {
            "id": i,
            "label": t.replace("[something]", "x"),
            "template": t,
            "placeholders": p,
        }
        for i, t, p, _ in rows
    ]


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)


@pytest.fixture(scope="module")
def ssv2_dir(tmp_path_factory) -> str:
    """Labels, train and validation json plus one 12 fps, 40x40 VP9 webm per listed id."""
    out = tmp_path_factory.mktemp("ssv2")
    write_json(out / "something-something-v2-labels.json", LABELS)
    write_json(out / "something-something-v2-train.json", entries(TRAIN))
    write_json(out / "something-something-v2-validation.json", entries(VALIDATION))
    videos = out / "20bn-something-something-v2"
    videos.mkdir()
    spec = DemoSpec(size=40, num_frames=24, fps=12)
    for k, (vid, _, _, label) in enumerate(TRAIN + VALIDATION):
        frames = render_video(label, spec, np.random.default_rng(k))
        options = {"threads": "1", "deadline": "realtime", "cpu-used": "8"}
        write_video(str(videos / f"{vid}.webm"), frames, 12, codec="libvpx-vp9", options=options)
    return str(out)


def ssv2_cfg(data_dir, **overrides):
    overrides = {
        "TRAIN.DATASET": "SSv2",
        "TEST.DATASET": "SSv2",
        "DATA.PATH_PREFIX": os.path.join(data_dir, "20bn-something-something-v2"),
        **overrides,
    }
    return data_cfg(data_dir, **overrides)


def test_labels_and_splits(ssv2_dir):
    train = build_dataset(ssv2_cfg(ssv2_dir), "train")
    assert isinstance(train, SSv2)
    assert train.classes == {name: int(i) for name, i in LABELS.items()}
    assert train.labels == [label for *_, label in TRAIN]
    assert [os.path.basename(p) for p in train.paths] == [f"{row[0]}.webm" for row in TRAIN]
    for split in ("val", "test"):
        ds = build_dataset(ssv2_cfg(ssv2_dir), split)
        assert ds.labels == [2, 1] and ds.paths[0].endswith("74225.webm")


def test_missing_label_names_template_and_file(ssv2_dir, tmp_path):
    split = tmp_path / "train.json"
    rows = TRAIN[:1] + [("9", "Spinning [something] that quickly stops", ["top"], 0)]
    write_json(split, entries(rows))
    labels = os.path.join(ssv2_dir, "something-something-v2-labels.json")
    with pytest.raises(ValueError) as err:
        SSv2(labels_file=labels, split_file=str(split), **_clip_kwargs())
    message = str(err.value)
    assert str(split) in message and "entry 1 (id 9)" in message
    assert "'Spinning [something] that quickly stops'" in message


@pytest.mark.parametrize(
    "content, message",
    [
        ([{"id": "1", "label": "x"}], r"entry 0 lacks an 'id' or a 'template'"),
        ({"id": "1"}, r"expected a non-empty JSON list"),
        ("[{", r"not valid JSON"),
    ],
)
def test_malformed_annotation_file(ssv2_dir, tmp_path, content, message):
    split = tmp_path / "bad.json"
    split.write_text(content if isinstance(content, str) else json.dumps(content))
    labels = os.path.join(ssv2_dir, "something-something-v2-labels.json")
    with pytest.raises(ValueError, match=rf"bad\.json: .*{message}"):
        SSv2(labels_file=labels, split_file=str(split), **_clip_kwargs())


@pytest.mark.parametrize(
    "labels, message",
    [
        ({"a": "x"}, "id 'x' of 'a' is not an integer"),
        ({"a": "0", "b": "0"}, "id 0 given to"),
    ],
)
def test_malformed_labels_file(tmp_path, labels, message):
    path = tmp_path / "labels.json"
    write_json(path, labels)
    with pytest.raises(ValueError, match=rf"labels\.json: {message}"):
        read_ssv2_labels(str(path))


@pytest.mark.timeout(60)
def test_items_decode(ssv2_dir):
    ds = build_dataset(ssv2_cfg(ssv2_dir), "train")
    random.seed(0)
    item = ds[1]
    slow, fast = item["inputs"]
    assert slow.shape == (3, 2, 56, 56) and fast.shape == (3, 8, 56, 56)
    assert item["label"] == 0 and item["video_index"] == 1 and item["failed"] == []
    test = build_dataset(ssv2_cfg(ssv2_dir, **{"DATA.INPUT_CHANNEL_NUM": [3]}), "test")
    assert len(test) == 2 * 2 * 3
    item = test[5]
    assert item["inputs"][0].shape == (3, 8, 64, 64) and item["label"] == 2
    assert torch.isfinite(item["inputs"][0]).all()


@pytest.mark.timeout(60)
def test_training_never_flips(ssv2_dir, monkeypatch):
    ds = build_dataset(ssv2_cfg(ssv2_dir, **{"DATA.RANDOM_FLIP": True}), "train")
    assert ds.training and ds.transform.random_flip is False

    def no_flip(*args, **kwargs):
        raise AssertionError("SSv2 must not flip")

    monkeypatch.setattr("slowvid.data.transforms.horizontal_flip", no_flip)
    flipping = dataclasses.replace(ds.transform, random_flip=True)
    with pytest.raises(AssertionError, match="must not flip"):  # the patch is live
        flipping(torch.zeros(8, 64, 64, 3, dtype=torch.uint8), rng=random.Random(0))
    random.seed(3)
    for index in range(len(ds)):
        assert ds[index]["inputs"] is not None


def _clip_kwargs():
    """The shared clip arguments, for building SSv2 directly from files."""
    return ClipDataset.from_config(data_cfg(""), "val")
