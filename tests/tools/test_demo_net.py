"""tools/demo_net.py on a tiny generated video: classification and AVA detection modes."""

import importlib.util
import json
import os

import numpy as np
import pytest
import torch

from slowvid.config import load_config
from slowvid.data.decoding import open_video
from slowvid.data.demo import DemoSpec, render_video, write_video
from slowvid.models import build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("demo_net", os.path.join(REPO, "tools/demo_net.py"))
demo_net = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_net)
NUM_FRAMES = 40
NAMES = ["walk", "run", "jump", "sit", "stand", "wave", "clap", "swim"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("demo") / "in.mp4")
    frames = render_video(2, DemoSpec(size=64, num_frames=NUM_FRAMES), np.random.default_rng(0))
    write_video(path, frames, 30, options={"threads": "1"})
    return path


def _checkpoint(tmp_path, cfg_path: str, bias: list[float]) -> str:
    """Weights whose head ignores the clip: zero projection, the given bias (known labels)."""
    model = build_model(load_config(cfg_path, TINY))
    state = model.state_dict()
    state["head.proj.weight"].zero_()
    state["head.proj.bias"].copy_(torch.tensor(bias))
    path = str(tmp_path / "head.pyth")
    torch.save({"model_state": state}, path)
    return path


def _check_label(video: str, output: str, notes, wrong_notes) -> None:
    """Frame 0 of the output is the input with ``notes`` drawn, not any of ``wrong_notes``."""
    with open_video(video, "pyav") as v_in, open_video(output, "pyav") as v_out:
        frame = v_in.get_frames([0])[0].numpy()
        out = v_out.get_frames([0])[0].numpy().astype(float)

    def drawn(candidate) -> np.ndarray:
        image = frame.copy()
        for box, lines, colour in candidate:
            demo_net.draw(image, lines, box, colour)
        return image.astype(float)

    candidates = [drawn(c) for c in [notes, *wrong_notes]]
    # compare where some candidate drew: elsewhere every candidate is the input frame
    where = np.any([np.any(c != frame, axis=-1) for c in candidates], axis=0)
    luma = np.array([0.299, 0.587, 0.114])  # the codec keeps luma sharp, colour at half size
    right, *wrong = (float(np.abs((out - c) @ luma)[where].mean()) for c in candidates)
    assert right < 0.5 * min(wrong), (right, min(wrong))


def _check(video: str, output: str, least: float = 0.01) -> None:
    with open_video(video, "pyav") as v_in, open_video(output, "pyav") as v_out:
        assert v_out.num_frames == v_in.num_frames == NUM_FRAMES
        a = v_in.get_frames(range(NUM_FRAMES)).float()
        b = v_out.get_frames(range(NUM_FRAMES)).float()
    # drawn text/boxes change many pixels far beyond codec noise, in every frame
    changed = ((a - b).abs().amax(-1) > 60).flatten(1).float().mean(1)
    assert (changed > least).all(), changed


TINY = [
    "RESNET.WIDTH_PER_GROUP",
    "4",
    "TENSORBOARD.ENABLE",
    "False",
    "DATA.DECODING_BACKEND",
    "pyav",
]


@pytest.mark.timeout(120)
def test_classification_demo(video, tmp_path):
    out = str(tmp_path / "cls.mp4")
    cfg = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
    assert demo_net.main(["--cfg", cfg, "--video", video, "--output", out, *TINY]) == 0
    _check(video, out)


@pytest.mark.timeout(120)
def test_classification_demo_draws_the_predicted_labels(video, tmp_path):
    cfg = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
    bias = [0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0]  # class 5 first, then class 2
    probs = torch.tensor(bias).softmax(-1).tolist()
    (tmp_path / "names.json").write_text(json.dumps(NAMES))
    out = str(tmp_path / "cls.mp4")
    args = ["--cfg", cfg, "--video", video, "--output", out, "--topk", "2"]
    args += ["--checkpoint", _checkpoint(tmp_path, cfg, bias)]
    assert demo_net.main([*args, "--classnames", str(tmp_path / "names.json"), *TINY]) == 0

    def note(first, second, p=probs):
        lines = [f"{NAMES[first]} {p[5]:.2f}", f"{NAMES[second]} {p[2]:.2f}"]
        return [(None, lines, (255, 255, 255))]

    wrong = [note(a, b) for a in range(8) for b in range(8) if a != b and (a, b) != (5, 2)]
    wrong.append(note(5, 2, p=probs[::-1]))  # right names, wrong probabilities
    _check_label(video, out, note(5, 2), wrong)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("with_boxes", [True, False])
def test_ava_detection_demo(video, tmp_path, with_boxes, monkeypatch):
    out = str(tmp_path / "det.mp4")
    cfg = os.path.join(REPO, "configs/Demo/AVA_SLOW_DEMO.yaml")
    args = ["--cfg", cfg, "--video", video, "--output", out]
    if with_boxes:  # one person box in second 0, two in second 1 (the video is 1.33 s)
        boxes = tmp_path / "boxes.csv"
        boxes.write_text(
            "in,0,0.1,0.1,0.5,0.9,,0.99\nin,1,0.1,0.1,0.5,0.9,,0.99\nin,1,0.5,0.2,0.9,0.8,,0.9\n"
        )
        args += ["--boxes", str(boxes)]
    else:  # Faster R-CNN on each keyframe, untrained; a person bias makes it find "persons"
        from slowvid.models.person_detector import COCO_PERSON, PersonDetector

        build = PersonDetector.build

        def biased(*a, **k):
            detector = build(*a, **k)
            with torch.no_grad():
                detector.model.roi_heads.box_predictor.cls_score.bias[COCO_PERSON] = 10.0
            return detector

        monkeypatch.setattr(PersonDetector, "build", biased)
        args += ["--detector-weights", "random", "--detector-threshold", "0.5"]
        args += ["--detector-size", "64"]
    assert demo_net.main(args + ["--topk", "2", *TINY]) == 0
    _check(video, out)


@pytest.mark.timeout(120)
def test_classification_demo_with_gradcam(video, tmp_path):
    out = str(tmp_path / "cam.mp4")
    cfg = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
    assert demo_net.main(["--cfg", cfg, "--video", video, "--output", out, "--gradcam", *TINY]) == 0
    _check(video, out, least=0.3)  # the colour map tints most of every frame


def test_missing_detector_weights_say_where_to_put_them(tmp_path):
    from slowvid.models.person_detector import PersonDetector, hub_cache_path

    missing = str(tmp_path / "none.pth")
    with pytest.raises(FileNotFoundError, match="fasterrcnn_resnet50_fpn_coco") as err:
        PersonDetector.build(missing)
    assert missing in str(err.value) and hub_cache_path() in str(err.value)


@pytest.mark.timeout(120)
def test_detector_keeps_scored_person_boxes_only(video):
    from slowvid.models.person_detector import COCO_PERSON, PersonDetector

    torch.manual_seed(0)
    detector = PersonDetector.build("random", score_threshold=0.0, min_size=64)
    with torch.no_grad():  # untrained: make "person" likely so some boxes are persons
        detector.model.roi_heads.box_predictor.cls_score.bias[COCO_PERSON] = 3.0
    with open_video(video, "pyav") as v:
        frame = v.get_frames([0])[0].numpy()
    boxes = detector(frame)
    raw = detector.model([torch.from_numpy(frame).permute(2, 0, 1).float() / 255])[0]
    assert len(boxes) == int((raw["labels"] == COCO_PERSON).sum()) > 0
    assert all(0 <= v <= 1 for box in boxes for v in box)
    detector.score_threshold = float(raw["scores"].max()) + 1
    assert detector(frame) == []


@pytest.mark.timeout(120)
def test_detection_demo_draws_each_box_with_its_labels(video, tmp_path):
    cfg = os.path.join(REPO, "configs/Demo/AVA_SLOW_DEMO.yaml")
    bias = [0.0, 2.0, -1.0, -2.0, 1.0]  # per box: class 1, then class 4
    probs = torch.tensor(bias).sigmoid().tolist()
    (tmp_path / "names.json").write_text(json.dumps(NAMES[:5]))
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("in,0,0.1,0.1,0.5,0.9,,0.99\nin,0,0.5,0.2,0.9,0.8,,0.9\n")
    out = str(tmp_path / "det.mp4")
    args = ["--cfg", cfg, "--video", video, "--output", out, "--topk", "2", "--boxes", str(boxes)]
    args += ["--checkpoint", _checkpoint(tmp_path, cfg, bias)]
    assert demo_net.main([*args, "--classnames", str(tmp_path / "names.json"), *TINY]) == 0

    size = 64  # the fixture video's side
    pixel = [[v * size for v in (0.1, 0.1, 0.5, 0.9)], [v * size for v in (0.5, 0.2, 0.9, 0.8)]]

    def notes(first, second, colours=demo_net.COLOURS):
        lines = [f"{NAMES[first]} {probs[first]:.2f}", f"{NAMES[second]} {probs[second]:.2f}"]
        return [(box, lines, colours[k]) for k, box in enumerate(pixel)]

    wrong = [notes(a, b) for a in range(5) for b in range(5) if a != b and (a, b) != (1, 4)]
    wrong.append(notes(1, 4, colours=demo_net.COLOURS[1:]))  # boxes told apart by colour
    _check_label(video, out, notes(1, 4), wrong)


@pytest.mark.timeout(120)
def test_overlay_names_classes_from_the_names_file(video, tmp_path, monkeypatch):
    """The demo data's classnames.json (in DATA.PATH_TO_DATA_DIR) names the classes drawn;
    a names file for another class count is not used."""
    import json

    from slowvid.data.demo import CLASSNAMES

    data = tmp_path / "data"
    data.mkdir()
    (data / "classnames.json").write_text(json.dumps(CLASSNAMES))
    drawn = []
    monkeypatch.setattr(demo_net, "draw", lambda frame, lines, *a, **k: drawn.extend(lines))
    cfg = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
    args = ["--cfg", cfg, "--video", video, "--output", str(tmp_path / "o.mp4"), "--step", "2"]
    opts = ["DATA.PATH_TO_DATA_DIR", str(data), "OUTPUT_DIR", str(tmp_path / "run"), *TINY]
    assert demo_net.main(args + opts) == 0
    assert drawn and all(line.rsplit(" ", 1)[0] in CLASSNAMES for line in drawn), drawn[:3]
    drawn.clear()
    (data / "classnames.json").write_text(json.dumps(CLASSNAMES[:5]))
    assert demo_net.main(args + opts) == 0
    assert drawn and all(line.startswith("class ") for line in drawn), drawn[:3]


@pytest.mark.parametrize("head_act", ["", "softmax", "sigmoid", "none"])
def test_scores_shown_follow_model_head_act(head_act):
    # A cross-entropy model: "" resolves to softmax; MODEL.HEAD_ACT overrides what the loss implies.
    cfg_path = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
    cfg = load_config(cfg_path, [*TINY, "MODEL.HEAD_ACT", head_act or "''"])
    model = build_model(cfg).eval()
    bias = torch.tensor([0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, -1.0])
    with torch.no_grad():
        model.head.proj.weight.zero_()
        model.head.proj.bias.copy_(bias)
    expected = {
        "": bias.softmax(-1),
        "softmax": bias.softmax(-1),
        "sigmoid": bias.sigmoid(),
        "none": bias,
    }[head_act]
    transform = demo_net.ClipTransform(**demo_net.spatial_args(cfg, False))
    frames = torch.randint(0, 256, (cfg.DATA.NUM_FRAMES, 64, 64, 3), dtype=torch.uint8)
    argv = ["--cfg", cfg_path, "--video", "v.mp4", "--output", "o.mp4", "--topk", "3"]
    args = demo_net.parse_args(argv)
    [(box, lines, _)] = demo_net.annotate_window(
        model, cfg, transform, frames, None, args, NAMES, (64, 64)
    )
    assert box is None
    assert lines == [f"{NAMES[i]} {expected[i]:.2f}" for i in (5, 2, 0)]
