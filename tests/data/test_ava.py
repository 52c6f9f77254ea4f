"""AVA data: parsing (and its errors), clip timing, frame-folder reading, box transforms."""

import os
import random

import pytest
import torch

from slowvid.data import build_loader
from slowvid.data.ava_demo import AvaDemoSpec, ava_demo_overrides, make_ava_demo_data
from slowvid.data.box_transforms import DetectionTransform, crop_boxes, flip_boxes, scale_boxes
from slowvid.data.datasets.ava import Ava, AvaSource, read_box_lists, read_frame_lists
from slowvid.data.decoding import DecodeError
from slowvid.data.frames import FrameListVideo

SPEC = AvaDemoSpec(train_videos=2, val_videos=1, seconds=5, persons=2, fps=10)


@pytest.fixture(scope="module")
def ava_dir(tmp_path_factory) -> str:
    return make_ava_demo_data(str(tmp_path_factory.mktemp("ava")), SPEC)


def _cfg(root, **overrides):
    from slowvid.config import get_cfg

    cfg = get_cfg()
    for key, value in {
        **ava_demo_overrides(root, SPEC),
        "TRAIN.DATASET": "Ava",
        "TEST.DATASET": "Ava",
        # The data side packs clips for the model's pathways: a Slow detector's one pathway.
        "MODEL.MODEL_NAME": "ActionDetector",
        "DETECTION.BACKBONE": "ResNet",
        "DATA.NUM_FRAMES": 4,
        "DATA.SAMPLING_RATE": 8,
        "DATA.TARGET_FPS": 10,
        "DATA.TRAIN_JITTER_SCALES": [64, 80],
        "DATA.TRAIN_CROP_SIZE": 48,
        "DATA.TEST_CROP_SIZE": 64,
        "DATA.INPUT_CHANNEL_NUM": [3],
        "DATA_LOADER.NUM_WORKERS": 0,
        "DATA_LOADER.PIN_MEMORY": False,
        "TRAIN.BATCH_SIZE": 2,
        "TEST.BATCH_SIZE": 2,
        **overrides,
    }.items():
        node, leaf = key.split(".")
        setattr(cfg[node], leaf, value)
    return cfg


def _dataset(root, split, **overrides) -> Ava:
    return Ava(**Ava.from_config(_cfg(root, **overrides), split))


@pytest.mark.timeout(60)
def test_keyframes_boxes_and_targets(ava_dir):
    train = _dataset(ava_dir, "train")
    # 2 movies x keyframes 902..903 (2 s from each end of 5 s), 2 persons each
    assert len(train) == 4 and train.num_videos == 2
    assert all(len(entries) == 2 for _, _, entries in train.keyframes)
    item = train[0]
    assert item["inputs"][0].shape == (3, 4, 48, 48)
    assert item["boxes"].shape == (2, 4) and item["label"].shape == (2, 5)
    # every person is either standing (1) or walking (2), never both
    assert torch.equal(item["label"][:, :2].sum(1), torch.ones(2))
    assert item["metadata"].tolist() == [[item["video_index"], 902]] * 2
    val = _dataset(ava_dir, "val")
    # detected boxes: the low-scoring false box per keyframe is under the 0.8 threshold
    assert len(val) == 2 and all(len(e) == 2 for _, _, e in val.keyframes)
    assert val[0]["label"].sum() == 0  # detections carry no labels
    loader = build_loader(_cfg(ava_dir), "val")
    batch = next(iter(loader))
    assert batch["extra_inputs"][0].shape == (4, 5)
    assert batch["extra_inputs"][0][:, 0].tolist() == [0, 0, 1, 1]


def test_clip_is_centred_on_the_keyframe(ava_dir):
    ds = _dataset(ava_dir, "train")
    # second 902 is frame (902 - 900) * 10 = 20; 4 frames at stride 8 start 16 before it
    assert ds.clip_indices(0, 902) == [4, 12, 20, 28]
    assert ds.clip_indices(0, 900) == [0, 0, 0, 8]  # clamped at the start


def test_default_keyframe_range_is_902_to_1798():
    from slowvid.config import get_cfg

    assert get_cfg().AVA.KEYFRAME_SECONDS == [902, 1798] and get_cfg().AVA.FIRST_FRAME_SECOND == 900


@pytest.mark.parametrize(
    "line,match",
    [
        ("vid,0902,0.1,0.2,0.3", "expected 8 comma-separated columns"),
        ("vid,09x2,0.1,0.2,0.3,0.4,1,0", "09x2"),
        ("vid,0902,0.1,0.2,1.3,0.4,1,0", "not x1<=x2"),
    ],
)
def test_malformed_annotation_line_names_file_and_line(tmp_path, line, match):
    path = tmp_path / "ava_train_v2.2.csv"
    path.write_text("vid,0902,0.1,0.2,0.3,0.4,1,0\n" + line + "\n")
    with pytest.raises(ValueError, match=rf"ava_train_v2\.2\.csv:2: .*{match}"):
        read_box_lists(AvaSource(frame_dir="", frame_lists=(), gt_box_lists=(str(path),)))


def test_malformed_frame_list_line_names_file_and_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(
        'original_vido_id video_idx frame_id path labels\nv 0 0 v/v_000001.jpg ""\nv 0 1\n'
    )
    with pytest.raises(ValueError, match=r"train\.csv:3: expected 5 fields"):
        read_frame_lists([str(path)], "")


def test_labels_merge_per_box_and_unlabelled_detections_are_negatives(tmp_path):
    gt, det = tmp_path / "gt.csv", tmp_path / "det.csv"
    gt.write_text("v,0902,0.1,0.2,0.3,0.4,3,0\nv,0902,0.1,0.2,0.3,0.4,7,0\n")
    det.write_text("v,0902,0.5,0.2,0.7,0.4,,0.95\nv,0902,0.5,0.5,0.7,0.9,,0.2\nv,0950,0,0,1,1,,1\n")
    src = AvaSource(
        frame_dir="",
        frame_lists=(),
        gt_box_lists=(str(gt),),
        predicted_box_lists=(str(det),),
        detection_score_thresh=0.9,
        keyframe_seconds=(902, 905),
    )
    boxes = read_box_lists(src)
    assert boxes == {("v", 902): [([0.1, 0.2, 0.3, 0.4], [3, 7]), ([0.5, 0.2, 0.7, 0.4], [])]}


@pytest.mark.timeout(60)
def test_missing_and_corrupt_frames(ava_dir, tmp_path):
    names, frames = read_frame_lists([os.path.join(ava_dir, "frame_lists/train.csv")], "x")
    good = os.path.join(ava_dir, "frames", frames[0][0][2:])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    video = FrameListVideo([good, str(bad), str(tmp_path / "missing.jpg")], fps=10)
    assert video.get_frames([0, 0]).shape == (2, SPEC.size, SPEC.size, 3)
    with pytest.raises(DecodeError, match="bad.jpg"):
        video.get_frames([1])
    with pytest.raises(DecodeError, match="missing.jpg.*not found"):
        video.get_frames([2])


@pytest.mark.timeout(60)
def test_bad_frame_is_replaced_in_training_and_reported_in_eval(ava_dir, tmp_path):
    ds = _dataset(ava_dir, "train")
    vid = ds.keyframes[0][0]
    missing = str(tmp_path / "gone.jpg")
    ds.frame_paths[vid] = [missing] * len(ds.frame_paths[vid])
    random.seed(0)
    item = ds[0]
    assert item["inputs"] is not None and item["video_index"] != vid
    assert item["failed"] and all(f == missing for f in item["failed"])
    ds.training = False
    item = ds[0]
    assert item["inputs"] is None and item["failed"] == [missing]


def test_box_helpers():
    boxes = torch.tensor([[2.0, 4.0, 10.0, 20.0]])
    assert torch.equal(flip_boxes(flip_boxes(boxes, 32), 32), boxes)
    assert flip_boxes(boxes, 32).tolist() == [[22.0, 4.0, 30.0, 20.0]]
    assert scale_boxes(boxes, 2.0, 0.5).tolist() == [[4.0, 2.0, 20.0, 10.0]]
    assert crop_boxes(boxes, 5, 10, 8, 8).tolist() == [[0.0, 0.0, 5.0, 8.0]]


def _bright_box(clip: torch.Tensor) -> list[float]:
    """Bounding box of the pixels above the mid level in the first frame, pixel-edge coords."""
    ys, xs = torch.nonzero(clip[0, 0] > 0.5, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("training", [True, False])
def test_boxes_follow_the_pixels_through_scale_crop_and_flip(seed, training):
    # a white rectangle on black in a non-square frame; its box must frame it after the
    # transform as the image's bright pixels do (within the blur of bilinear resizing)
    h, w = 60, 90
    frames = torch.zeros(2, h, w, 3, dtype=torch.uint8)
    x1, y1, x2, y2 = 30, 12, 54, 48
    frames[:, y1:y2, x1:x2] = 255
    box = torch.tensor([[x1 / w, y1 / h, x2 / w, y2 / h]])
    t = DetectionTransform(
        training=training, jitter_scales=(60, 120), crop_size=56, mean=(0,) * 3, std=(1,) * 3
    )
    clip, out = t(frames, box, rng=random.Random(seed))
    assert clip.shape == (3, 2, 56, 56)
    assert out[0].tolist() == pytest.approx(_bright_box(clip), abs=1.0)
