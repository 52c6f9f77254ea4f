"""tools/demo_net.py on a tiny generated video: classification and AVA detection modes."""

import importlib.util
import os

import numpy as np
import pytest
import torch

from slowvid.data.decoding import open_video
from slowvid.data.demo import DemoSpec, render_video, write_video

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("demo_net", os.path.join(REPO, "tools/demo_net.py"))
demo_net = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_net)
NUM_FRAMES = 40


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


def _check(video: str, output: str) -> None:
    with open_video(video, "pyav") as v_in, open_video(output, "pyav") as v_out:
        assert v_out.num_frames == v_in.num_frames == NUM_FRAMES
        a = v_in.get_frames(range(NUM_FRAMES)).float()
        b = v_out.get_frames(range(NUM_FRAMES)).float()
    # drawn text/boxes change many pixels far beyond codec noise, in every frame
    changed = ((a - b).abs().amax(-1) > 60).flatten(1).float().mean(1)
    assert (changed > 0.01).all(), changed


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
@pytest.mark.parametrize("with_boxes", [True, False])
def test_ava_detection_demo(video, tmp_path, with_boxes):
    out = str(tmp_path / "det.mp4")
    cfg = os.path.join(REPO, "configs/Demo/AVA_SLOW_DEMO.yaml")
    args = ["--cfg", cfg, "--video", video, "--output", out]
    if with_boxes:  # one person box in second 0, two in second 1 (the video is 1.33 s)
        boxes = tmp_path / "boxes.csv"
        boxes.write_text(
            "in,0,0.1,0.1,0.5,0.9,,0.99\nin,1,0.1,0.1,0.5,0.9,,0.99\nin,1,0.5,0.2,0.9,0.8,,0.9\n"
        )
        args += ["--boxes", str(boxes)]
    assert demo_net.main(args + ["--topk", "2", *TINY]) == 0
    _check(video, out)


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
