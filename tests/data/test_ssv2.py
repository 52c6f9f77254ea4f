"""Something-Something V2: annotation parsing, errors, items, and no flips, on a tiny fixture
in the published layout (labels json, train/validation json, ``{id}.webm`` VP9 videos), plus
PySlowFast's frame-folder layout (``train.csv`` / ``val.csv`` frame lists, ``{id}/{id}_{:06d}.jpg``
frames at 30 fps) and the segment sampling."""

import dataclasses
import json
import os
import random
import shutil

import cv2
import numpy as np
import pytest
import torch
from synthetic import data_cfg, extract_frames

from slowvid.config import infer_and_check
from slowvid.data import build_dataset
from slowvid.data.checking import check_videos
from slowvid.data.datasets import ClipDataset
from slowvid.data.datasets.ssv2 import SSv2, read_ssv2_labels
from slowvid.data.demo import DemoSpec, render_video, write_video
from slowvid.data.sampling import segment_indices, uniform_clip_indices

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
    test = build_dataset(
        ssv2_cfg(ssv2_dir, **{"DATA.INPUT_CHANNEL_NUM": [3], "MODEL.MODEL_NAME": "ResNet"}), "test"
    )
    assert len(test) == 2 and test.views_per_item == 2 * 3  # a video's views in one item
    item = test[0]
    assert item["inputs"][0].shape == (6, 3, 8, 64, 64) and item["label"] == 2
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


# ---------------------------------------------------------------------------- #
# Segment sampling
# ---------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "num_video_frames, num_segments, expected",
    [
        # s = 32 / 8 = 4: segments [0, 4], [4, 8], ..., [28, 32].
        (33, 8, [2, 6, 10, 14, 18, 22, 26, 30]),
        # s = 2.25: bounds 0, 2, 4 (4.5 rounds to even), 7, 9.
        (10, 4, [1, 3, 5, 8]),
        # Fewer frames than segments: s = 0.5, bounds 0 0 1 2 2 2 3 4 4, frames repeat.
        (5, 8, [0, 0, 1, 2, 2, 2, 3, 4]),
        (1, 3, [0, 0, 0]),
    ],
)
def test_segment_test_frames_are_the_middles(num_video_frames, num_segments, expected):
    assert segment_indices(num_video_frames, num_segments, 0, 1) == expected


def test_segment_views_spread_inside_segments():
    # Segments [4i, 4i + 4]; view k of 2 sits at (2k + 1) / 4 of each.
    assert segment_indices(33, 8, 0, 2) == [4 * i + 1 for i in range(8)]
    assert segment_indices(33, 8, 1, 2) == [4 * i + 3 for i in range(8)]
    with pytest.raises(ValueError, match="segment_idx 2 outside"):
        segment_indices(33, 8, 2, 2)


def test_segment_training_frames_are_random_inside_each_segment():
    draws = [segment_indices(33, 8, -1, rng=random.Random(seed)) for seed in range(300)]
    assert draws[:5] == [segment_indices(33, 8, -1, rng=random.Random(s)) for s in range(5)]
    for i in range(8):
        # Each segment's frames, both ends included, and nothing else.
        assert {d[i] for d in draws} == set(range(4 * i, 4 * i + 5))
    assert all(d == sorted(d) for d in draws)
    with pytest.raises(ValueError, match="need an rng"):
        segment_indices(33, 8, -1)


# ---------------------------------------------------------------------------- #
# Frame folders (PySlowFast's layout)
# ---------------------------------------------------------------------------- #

FRAME_SPEC_SIZE = 40


def frame_count(k: int) -> int:
    """Frames of fixture video ``k``: different per video, so grouping mistakes show."""
    return 20 + 3 * k


def rendered(k: int, label: int) -> np.ndarray:
    spec = DemoSpec(size=FRAME_SPEC_SIZE, num_frames=frame_count(k), fps=30)
    return render_video(label, spec, np.random.default_rng(100 + k))


def write_ssv2_frame_list(path, rows, frame_dir, first_index, extra=()):
    """A PySlowFast frame list of ``rows`` (plus ``extra`` ids the json lacks), writing each
    video's jpgs as ``{id}/{id}_{:06d}.jpg`` (1-based, as ffmpeg's ``%06d``)."""
    lines = ["original_vido_id video_id frame_id path labels"]
    videos = [(vid, label) for vid, _, _, label in rows] + [(vid, 0) for vid in extra]
    for j, (vid, label) in enumerate(videos):
        k = first_index + j
        os.makedirs(os.path.join(frame_dir, vid), exist_ok=True)
        for i, frame in enumerate(rendered(k, label)):
            rel = f"{vid}/{vid}_{i + 1:06d}.jpg"
            cv2.imwrite(os.path.join(frame_dir, rel), np.ascontiguousarray(frame[..., ::-1]))
            lines.append(f'{vid} {j} {i} {rel} ""')
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def ssv2_frames_dir(ssv2_dir) -> str:
    """The webm fixture's directory plus ``train.csv`` / ``val.csv`` and ``frames/``; the train
    list also has a video the json does not list."""
    frames = os.path.join(ssv2_dir, "frames")
    write_ssv2_frame_list(os.path.join(ssv2_dir, "train.csv"), TRAIN, frames, 0, extra=("31337",))
    write_ssv2_frame_list(os.path.join(ssv2_dir, "val.csv"), VALIDATION, frames, len(TRAIN) + 1)
    return ssv2_dir


def frames_cfg(data_dir, prefix=None, **overrides):
    return ssv2_cfg(
        data_dir,
        **{
            "DATA.VIDEO_FORMAT": "frames",
            "DATA.PATH_PREFIX": prefix or os.path.join(data_dir, "frames"),
            **overrides,
        },
    )


def test_frames_group_by_video_and_keep_json_labels(ssv2_frames_dir):
    ds = build_dataset(frames_cfg(ssv2_frames_dir), "train")
    assert ds.sampling == "segments" and ds.video_format == "frames"
    assert ds.labels == [label for *_, label in TRAIN]  # "31337" (csv only) is left out
    frames = os.path.join(ssv2_frames_dir, "frames")
    assert ds.paths == [os.path.join(frames, row[0]) for row in TRAIN]
    for k, (vid, *_, label) in enumerate(TRAIN):
        video = ds.video_at(k)
        assert video.num_frames == frame_count(k) and video.fps == 30.0
        assert video.paths[0] == os.path.join(frames, vid, f"{vid}_000001.jpg")
        # The jpgs come back as the frames rendered for this video, in order (jpeg-close).
        last = frame_count(k) - 1
        got = video.get_frames([0, last]).numpy().astype(np.float32)
        want = rendered(k, label)[[0, last]].astype(np.float32)
        assert np.abs(got - want).mean() < 6
    val = build_dataset(frames_cfg(ssv2_frames_dir), "test")
    assert val.labels == [2, 1] and val.paths[0].endswith(os.path.join("frames", "74225"))
    assert val.video_at(0).num_frames == frame_count(len(TRAIN) + 1)


@pytest.mark.timeout(60)
def test_frames_items_match_webm_items(ssv2_frames_dir):
    for split, indices in (("train", [0, 1, 3]), ("test", [0, 1])):  # test: videos' views
        webm = build_dataset(ssv2_cfg(ssv2_frames_dir), split)
        frames = build_dataset(frames_cfg(ssv2_frames_dir), split)
        assert len(frames) == len(webm)
        for index in indices:
            random.seed(index)
            a, b = webm[index], frames[index]
            assert [x.shape for x in a["inputs"]] == [x.shape for x in b["inputs"]]
            assert a["label"] == b["label"] and a["video_index"] == b["video_index"]
            assert b["failed"] == [] and all(torch.isfinite(x).all() for x in b["inputs"])
    random.seed(0)
    slow, fast = build_dataset(frames_cfg(ssv2_frames_dir), "train")[1]["inputs"]
    assert slow.shape == (3, 2, 56, 56) and fast.shape == (3, 8, 56, 56)


def test_dataset_frame_indices_follow_sampling(ssv2_frames_dir):
    test = build_dataset(frames_cfg(ssv2_frames_dir), "test")  # 2 views, 8 frames
    video = test.video_at(1)  # 20 + 3 * 6 = 38 frames: s = 37 / 8
    bounds = [round(37 / 8 * i) for i in range(9)]
    assert bounds == [0, 5, 9, 14, 18, 23, 28, 32, 37]
    first = [a + (b - a) // 4 for a, b in zip(bounds, bounds[1:])]
    assert test.frame_indices(video, 0, random.Random(0)) == first == [1, 6, 10, 15, 19, 24, 29, 33]
    train = build_dataset(frames_cfg(ssv2_frames_dir), "train")
    video = train.video_at(0)  # 20 frames
    drawn = train.frame_indices(video, -1, random.Random(7))
    assert drawn == train.frame_indices(video, -1, random.Random(7))
    bounds = [round(19 / 8 * i) for i in range(9)]
    assert all(a <= i <= b for i, a, b in zip(drawn, bounds, bounds[1:]))
    # "clip": Kinetics-like, 8 frames every 2 at 30 fps from a 30 fps video.
    clip = build_dataset(frames_cfg(ssv2_frames_dir, **{"SSV2.SAMPLING": "clip"}), "test")
    indices = clip.frame_indices(clip.video_at(1), 0, random.Random(0))
    assert np.diff(indices).tolist() == [2] * 7 and indices[0] == 0


@pytest.mark.timeout(60)
def test_missing_jpg_fails_like_a_bad_video(ssv2_frames_dir, tmp_path):
    prefix = str(tmp_path / "frames")
    shutil.copytree(os.path.join(ssv2_frames_dir, "frames"), prefix)
    # Training: every frame of "42326" but its first is gone; the item is replaced.
    broken = os.path.join(prefix, "42326")
    for name in sorted(os.listdir(broken))[1:]:
        os.remove(os.path.join(broken, name))
    train = build_dataset(frames_cfg(ssv2_frames_dir, prefix), "train")
    random.seed(0)
    item = train[1]
    assert item["failed"] and set(item["failed"]) == {broken}
    assert item["inputs"] is not None and item["video_index"] != 1
    # Testing: one jpg of "116154", the middle of the first segment of the single view.
    cfg = frames_cfg(ssv2_frames_dir, prefix, **{"TEST.NUM_ENSEMBLE_VIEWS": 1})
    test = build_dataset(cfg, "test")
    video = test.video_at(1)
    middle = segment_indices(video.num_frames, 8, 0, 1)[0]
    os.remove(video.paths[middle])
    item = test[1]  # the video's 3 spatial crops, all failed
    assert item["inputs"] is None and item["failed"] == [os.path.dirname(video.paths[0])] * 3
    assert item["label"] == 1
    assert test[0]["inputs"] is not None and test[0]["failed"] == []


def test_frame_list_bad_line_names_file_and_line(ssv2_frames_dir, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(
        "original_vido_id video_id frame_id path labels\n"
        '78687 0 0 78687/78687_000001.jpg ""\n'
        "78687 0 1 78687/78687_000002.jpg\n"
    )
    with pytest.raises(ValueError, match=r"train\.csv:3: expected 5 fields .* got 4"):
        SSv2(**_frames_kwargs(ssv2_frames_dir, "train", str(path)))


def test_json_id_without_frames_names_list_and_id(ssv2_frames_dir, tmp_path):
    path = tmp_path / "val.csv"
    lines = open(os.path.join(ssv2_frames_dir, "val.csv")).read().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("74225 ")))
    with pytest.raises(ValueError) as err:
        SSv2(**_frames_kwargs(ssv2_frames_dir, "val", str(path)))
    message = str(err.value)
    assert message.startswith(f"{path}: no frames listed for video id '74225' of ")
    assert message.endswith("something-something-v2-validation.json")


@pytest.mark.parametrize(
    "key, value", [("SSV2.VIDEO_FORMAT", "mp4"), ("SSV2.SAMPLING", "tsn"), ("SSV2.FRAME_FPS", 0.0)]
)
def test_bad_ssv2_keys_are_named(key, value):
    with pytest.raises(ValueError, match=f"config {key}"):
        infer_and_check(data_cfg("", **{key: value}))


def _frames_kwargs(data_dir, split, frame_list):
    """SSv2 arguments of ``split`` reading frames through ``frame_list``."""
    kwargs = SSv2.from_config(frames_cfg(data_dir), split)
    kwargs["frame_list"] = frame_list
    return kwargs


@pytest.mark.timeout(60)
def test_check_dataset_reads_frame_folders(ssv2_frames_dir, tmp_path):
    prefix = str(tmp_path / "frames")
    shutil.copytree(os.path.join(ssv2_frames_dir, "frames"), prefix)
    train = build_dataset(frames_cfg(ssv2_frames_dir, prefix), "train")
    centre = uniform_clip_indices(train.clip, 30.0, train.video_at(2).num_frames, 0, 1)
    missing = train.video_at(2).paths[centre[len(centre) // 2]]
    os.remove(missing)
    report = check_videos(
        train.paths, train.labels, train.clip, num_workers=2, video_at=train.video_at
    )
    assert [c.problem for c in report.checks] == ["", "", "unreadable", ""]
    assert missing in report.checks[2].detail


@pytest.mark.timeout(60)
def test_rawframes_through_the_core_frame_folders(ssv2_dir, tmp_path):
    """MMAction2's SSv2 rawframes ({id}/img_00001.jpg, no list): DATA.VIDEO_FORMAT "frames" with
    SSV2.FRAME_LISTS False; the segments of a folder are those of its webm."""
    webms = os.path.join(ssv2_dir, "20bn-something-something-v2")
    for vid, *_ in TRAIN:
        extract_frames(os.path.join(webms, f"{vid}.webm"), str(tmp_path / vid))
    keys = {
        "DATA.VIDEO_FORMAT": "frames",
        "SSV2.FRAME_LISTS": False,
        "DATA.FRAME_FPS": 12.0,
        "DATA.PATH_PREFIX": str(tmp_path),
    }
    frames = build_dataset(ssv2_cfg(ssv2_dir, **keys), "train")
    videos = build_dataset(ssv2_cfg(ssv2_dir), "train")
    assert frames.video_format == "webm" and frames.labels == videos.labels
    assert frames.paths == [str(tmp_path / vid) for vid, *_ in TRAIN]
    for index in range(len(TRAIN)):
        random.seed(index)
        a = frames[index]
        random.seed(index)
        b = videos[index]
        assert a["failed"] == [] and a["label"] == b["label"]
        assert (a["inputs"][1].float() - b["inputs"][1].float()).abs().mean() < 4.0
