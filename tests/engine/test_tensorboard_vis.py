"""TensorBoard galleries, read back from the event files: the first augmented training batch,
misclassified test clips, Grad-CAM per pathway, per-class accuracy bars, multi-label PR curves."""

import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray
from torch.utils.tensorboard import SummaryWriter

from slowvid import engine
from slowvid.config import load_config
from slowvid.data.demo import CLASSNAMES
from slowvid.visualization import TestGalleries

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CFG = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")


def _events(log_dir: str) -> EventAccumulator:
    acc = EventAccumulator(log_dir, size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _gif(acc, tag) -> list[np.ndarray]:
    (event,) = acc.Images(tag)
    image = Image.open(io.BytesIO(event.encoded_image_string))
    frames = []
    for i in range(image.n_frames):
        image.seek(i)
        frames.append(np.asarray(image.convert("RGB")))
    return frames


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_galleries_of_a_run_read_back(tiny_opts, tmp_path):
    names = tmp_path / "names.json"
    names.write_text(json.dumps({n.upper(): i for i, n in enumerate(CLASSNAMES)}))
    opts = tiny_opts(
        **{
            "SOLVER.MAX_EPOCH": 1,
            "TRAIN.EVAL_PERIOD": 0,
            "TENSORBOARD.ENABLE": True,
            "TENSORBOARD.CLASS_NAMES_PATH": str(names),
            "TENSORBOARD.MAX_CLIPS": 3,
            "TENSORBOARD.MODEL_VIS.ENABLE": True,
            "TENSORBOARD.MODEL_VIS.INPUT_VIDEO": True,
            "TENSORBOARD.WRONG_PRED_VIS.ENABLE": True,
            "TENSORBOARD.WRONG_PRED_VIS.TAG": "wrong",
        }
    )
    cfg = load_config(DEMO_CFG, opts)
    engine.train(cfg)
    results = engine.test(cfg)
    acc = _events(os.path.join(cfg.OUTPUT_DIR, "tensorboard"))
    tags = set(acc.Tags()["images"])
    # first training batch: 3 clips per pathway, slow 2 frames and fast 8, 32 px
    for p, frames in ((0, 2), (1, 8)):
        for i in range(3):
            gif = _gif(acc, f"train_inputs/pathway{p}/{i}")
            assert len(gif) == frames and gif[0].shape == (32, 32, 3)
        assert f"train_inputs/pathway{p}/3" not in tags
    # misclassified clips (a one-epoch model gets most wrong), captioned above the frames
    wrong = sorted(t for t in tags if t.startswith("wrong/"))
    assert wrong == ["wrong/0", "wrong/1", "wrong/2"]
    gif = _gif(acc, "wrong/0")
    assert len(gif) == 8 and gif[0].shape[1] == 32 and gif[0].shape[0] > 32
    # Grad-CAM is on by default once MODEL_VIS is: one map per pathway
    assert {f"gradcam/pathway{p}/{i}" for p in (0, 1) for i in range(3)} <= tags
    # per-class accuracy: bar k is as tall as the class's accuracy (240 px = 100%)
    (event,) = acc.Images("per_class_accuracy")
    chart = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
    assert chart.shape[1] == 6 + 30 * len(CLASSNAMES)
    for k, expected in enumerate(results["per_class_acc"]):
        column = chart[:240, 6 + 30 * k + 12]
        height = int(((column == (60, 110, 200)).all(-1)).sum())
        assert abs(100 * height / 240 - expected) <= 1, (k, height, expected)


def test_multilabel_pr_curves_and_gradcam_options(tmp_path):
    cfg = load_config(
        DEMO_CFG,
        [
            "MODEL.LOSS_FUNC",
            "bce_logit",
            "TENSORBOARD.MODEL_VIS.ENABLE",
            "True",
            "TENSORBOARD.MODEL_VIS.GRAD_CAM.LAYER_LIST",
            "['slow_stages.2', 'fast_stages.2']",
            "TENSORBOARD.MODEL_VIS.GRAD_CAM.USE_TRUE_LABEL",
            "True",
            "TENSORBOARD.MODEL_VIS.GRAD_CAM.COLORMAP",
            "jet",
            "RESNET.WIDTH_PER_GROUP",
            "4",
        ],
    )
    from slowvid.models import build_model

    torch.manual_seed(0)
    galleries = TestGalleries.from_config(cfg, build_model(cfg).eval())
    assert galleries.gradcam.layers == ["slow_stages.2", "fast_stages.2"]
    assert galleries.colormap == "jet"
    labels = (torch.rand(6, 8) < 0.3).float().repeat_interleave(2, dim=0)  # per video
    labels[:2, 5] = 1  # the first clip's top true class is forced below
    scores = torch.rand(12, 8)
    scores[0] = 0.1
    scores[0, 5] = 0.9
    clips = [torch.randn(12, 3, 2, 32, 32), torch.randn(12, 3, 8, 32, 32)]
    galleries.update(clips, scores, labels, torch.arange(12) // 2)  # two views a video
    assert galleries.heatmaps[0][1] == "class 5"  # Grad-CAM of a true class
    writer = SummaryWriter(str(tmp_path))
    galleries.write(writer, 0)
    writer.close()
    acc = _events(str(tmp_path))
    assert "per_class_accuracy" not in acc.Tags()["images"]
    for k in range(8):
        curve = make_ndarray(acc.Tensors(f"pr_curve/{k}_class {k}")[0].tensor_proto)
        positives = int(labels[::2, k].sum())
        # at threshold 0 every video is predicted positive: TP = positives, recall 1
        assert curve[0, 0] == positives and curve[1, 0] == 6 - positives


def test_class_names_and_grad_cam_switch(tmp_path):
    from slowvid.models import build_model
    from slowvid.visualization import gallery_class_names

    names = tmp_path / "names.json"
    names.write_text(json.dumps({n.upper(): i for i, n in enumerate(CLASSNAMES)}))
    opts = ["RESNET.WIDTH_PER_GROUP", "4", "TENSORBOARD.CLASS_NAMES_PATH", str(names)]
    opts += ["TENSORBOARD.MODEL_VIS.ENABLE", "True"]
    opts += ["TENSORBOARD.MODEL_VIS.GRAD_CAM.ENABLE", "False"]
    cfg = load_config(DEMO_CFG, opts)
    galleries = TestGalleries.from_config(cfg, build_model(cfg))
    assert galleries.class_names == [n.upper() for n in CLASSNAMES]
    assert galleries.gradcam is None
    with pytest.raises(ValueError, match="names 8 classes; the model has 5"):
        gallery_class_names(str(names), 5)
    assert gallery_class_names("", 2, [str(tmp_path)]) == ["class 0", "class 1"]
