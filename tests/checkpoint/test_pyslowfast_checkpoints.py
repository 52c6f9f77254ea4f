"""PySlowFast's checkpoints of its PTV* models and AVA detectors, and Kinetics checkpoints
fine-tuned into a detector, load with every tensor matched.

The PTV* file is PyTorchVideo's own X3D (built by PyTorchVideo) under ``model.``, as PySlowFast's
``PTVX3D`` saves it; the AVA file is synthesised from a slowvid SlowFast through the inverse
rename table of ``test_converters`` (PySlowFast's detector is its SlowFast with an ROI head, no
prefix).
"""

import logging
import os

import pytest
import torch
import yaml
from key_lists import read_key_list
from test_converters import TO_PYSLOWFAST, _clip, _randomise, _rename

from slowvid.checkpoint import load_checkpoint
from slowvid.checkpoint.converters import convert_checkpoint
from slowvid.checkpoint.model_state import diff_state_dicts
from slowvid.config import get_cfg, load_config
from slowvid.models import build_model
from slowvid.utils.pytorchvideo_compat import import_pytorchvideo

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# PySlowFast-style PTVX3D yaml (its configs/Kinetics/pytorchvideo/X3D_S.yaml's model keys).
PTV_X3D = {
    "MODEL": {"ARCH": "x3d", "MODEL_NAME": "PTVX3D", "NUM_CLASSES": 400},
    "X3D": {"WIDTH_FACTOR": 2.0, "DEPTH_FACTOR": 2.2, "BOTTLENECK_FACTOR": 2.25},
    "RESNET": {"TRANS_FUNC": "x3d_transform", "ZERO_INIT_FINAL_BN": True},
    "DATA": {"NUM_FRAMES": 4, "TRAIN_CROP_SIZE": 64, "INPUT_CHANNEL_NUM": [3]},
    "TRAIN": {"DATASET": "ptvkinetics"},
}


@pytest.mark.timeout(180)
def test_a_ptv_wrapped_pyslowfast_checkpoint_gives_pytorchvideo_s_logits(tmp_path, caplog):
    models, _ = import_pytorchvideo()
    torch.manual_seed(0)
    source = _randomise(
        models.x3d.create_x3d(input_clip_length=4, input_crop_size=64, head_activation=None)
    )
    clip = _clip(1, 3, 4, 64, 64)
    with torch.no_grad():
        reference = source(clip)
    path = str(tmp_path / "ptv_x3d.pyth")
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    torch.save({"epoch": 299, "model_state": state}, path)
    cfg_path = tmp_path / "X3D_S.yaml"
    cfg_path.write_text(yaml.safe_dump(PTV_X3D))
    model = build_model(load_config(str(cfg_path))).eval()
    with caplog.at_level(logging.INFO, logger="slowvid.checkpoint"):
        loaded = load_checkpoint(path, model)
    assert loaded["format"] == "ptv-wrapped"
    assert "identity" not in caplog.text and "head differs" not in caplog.text
    with torch.no_grad():
        out = model([clip])
    assert reference.std() > 0.05
    torch.testing.assert_close(out, reference, atol=1e-4, rtol=0)


def _tiny_slowfast(num_classes: int, detect: bool):
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES = (
        "SlowFast",
        "slowfast",
        num_classes,
    )
    cfg.DETECTION.ENABLE = detect
    cfg.RESNET.DEPTH, cfg.RESNET.WIDTH_PER_GROUP, cfg.SLOWFAST.BETA_INV = 18, 8, 4
    cfg.RESNET.SPATIAL_STRIDES = [[1, 1], [2, 2], [2, 2], [1, 1]]
    cfg.RESNET.SPATIAL_DILATIONS = [[1, 1], [1, 1], [1, 1], [2, 2]]
    torch.manual_seed(num_classes)
    return _randomise(build_model(cfg))


def _assert_backbone_is(detector, classifier):
    for key, value in classifier.state_dict().items():
        if not key.startswith("head."):
            torch.testing.assert_close(detector.state_dict()[f"backbone.{key}"], value)


@pytest.mark.timeout(120)
def test_a_pyslowfast_ava_detector_loads_every_tensor(tmp_path, caplog):
    source = _tiny_slowfast(80, detect=False)  # PySlowFast's detector: these names, 80 classes
    path = str(tmp_path / "ava.pyth")
    torch.save({"epoch": 19, "model_state": _rename(source.state_dict(), TO_PYSLOWFAST)}, path)
    detector = _tiny_slowfast(80, detect=True)
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, detector)["format"] == "pyslowfast"
    assert "head differs" not in caplog.text
    _assert_backbone_is(detector, source)
    torch.testing.assert_close(detector.head.proj.weight, source.head.proj.weight)
    clips = [_clip(1, 3, 2, 32, 32, seed=0), _clip(1, 3, 8, 32, 32, seed=1)]
    boxes = torch.tensor([[0.0, 4.0, 4.0, 28.0, 28.0]])
    with torch.no_grad():
        assert detector(clips, boxes).shape == (1, 80)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("layout", ["slowvid", "pyslowfast"])
def test_a_kinetics_checkpoint_fine_tunes_into_a_detector(tmp_path, caplog, layout):
    source = _tiny_slowfast(400, detect=False)
    state = source.state_dict()
    if layout == "pyslowfast":
        state = _rename(state, TO_PYSLOWFAST)
    path = str(tmp_path / "kinetics.pyth")
    torch.save({"model_state": state}, path)
    detector = _tiny_slowfast(80, detect=True)
    head_before = detector.head.proj.weight.clone()
    with caplog.at_level(logging.WARNING):
        load_checkpoint(path, detector)
    _assert_backbone_is(detector, source)
    # The 400-class head is reported and skipped; the detector keeps its own.
    assert "head differs" in caplog.text and "head.proj.weight" in caplog.text
    torch.testing.assert_close(detector.head.proj.weight, head_before)


# Key lists of PySlowFast-built models (pyslowfast_keys/README.md) -> (slowvid config and
# overrides building the same network, detected format).
KEY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyslowfast_keys")
KEY_CASES = {
    "pyslowfast_AVA_SLOWFAST_32x2_R50_SHORT": ("AVA/SLOWFAST_8x8_R50.yaml", [], "pyslowfast"),
    "pyslowfast_ptv_X3D_S": ("Kinetics/X3D_S.yaml", ["MODEL.MODEL_NAME", "PTVX3D"], "ptv-wrapped"),
    "pyslowfast_ptv_SLOWFAST_8x8_R50": (
        "Kinetics/SLOWFAST_8x8_R50.yaml",
        ["MODEL.MODEL_NAME", "PTVSlowFast"],
        "ptv-wrapped",
    ),
    "pyslowfast_ptv_SLOW_8x8_R50": (
        "Kinetics/SLOW_8x8_R50.yaml",
        ["MODEL.MODEL_NAME", "PTVResNet"],
        "ptv-wrapped",
    ),
    "pyslowfast_ptv_CSN_32x2_R101": (
        "Kinetics/CSN_32x2_R101.yaml",
        ["MODEL.MODEL_NAME", "PTVCSN"],
        "ptv-wrapped",
    ),
    "pyslowfast_ptv_R2PLUS1D_16x4_R50": (
        "Kinetics/R2PLUS1D_16x4_R50.yaml",
        ["MODEL.MODEL_NAME", "PTVR2plus1D"],
        "ptv-wrapped",
    ),
}


def test_every_pyslowfast_key_list_is_tested():
    assert {f[:-4] for f in os.listdir(KEY_DIR) if f.endswith(".txt")} == set(KEY_CASES)


@pytest.mark.parametrize("name", list(KEY_CASES))
def test_pyslowfast_built_layouts_map_onto_every_tensor(name):
    cfg_file, opts, source = KEY_CASES[name]
    state = read_key_list(name, KEY_DIR)
    with torch.device("meta"):
        model = build_model(load_config(os.path.join(REPO, "configs", cfg_file), opts))
    conversion = convert_checkpoint({"model_state": state}, model)
    assert conversion.source == source
    assert set(conversion.origin.values()) == set(state)  # every tensor renamed, once
    assert len(conversion.origin) == len(state)
    diff = diff_state_dicts(conversion.state, model.state_dict())
    assert not diff, diff.describe(conversion.origin)
    for key, source_key in conversion.origin.items():
        assert conversion.state[key].shape == model.state_dict()[key].shape, key
        assert conversion.state[key].numel() == state[source_key].numel(), key
