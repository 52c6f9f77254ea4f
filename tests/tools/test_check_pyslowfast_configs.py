"""tools/check_pyslowfast_configs.py on a configs/ folder of PySlowFast-style yamls written
here, with a reference of counts and a stand-in of PySlowFast's defaults.py."""

import importlib.util
import json
import os

import pytest
import yaml

from slowvid.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    "check_pyslowfast_configs", os.path.join(REPO, "tools", "check_pyslowfast_configs.py")
)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

X3D_M = {
    "MODEL": {"ARCH": "x3d", "MODEL_NAME": "X3D", "NUM_CLASSES": 400},
    "X3D": {"WIDTH_FACTOR": 2.0, "DEPTH_FACTOR": 2.2, "BOTTLENECK_FACTOR": 2.25},
    "RESNET": {"TRANS_FUNC": "x3d_transform"},
    "DATA": {"INPUT_CHANNEL_NUM": [3], "DECODING_BACKEND": "torchvision"},
    "TRAIN": {"DATASET": "kinetics"},
}
DEFAULTS = """
from fvcore.common.config import CfgNode
_C = CfgNode()
_C.TRAIN = CfgNode()
_C.TRAIN.BATCH_SIZE = 64
_C.TRAIN.DATASET = "kinetics"
_C.TRAIN.A_KEY_SLOWVID_LACKS = 1
_C.SLOWFAST = CfgNode()
_C.SLOWFAST.ALPHA = 8
_C.DATA = CfgNode()
_C.DATA.TARGET_FPS = 25


def get_cfg():
    return _C.clone()
"""


def test_the_sweep_classifies_every_yaml_and_checks_the_keys(tmp_path, capsys):
    root = tmp_path / "SlowFast"
    (root / "configs" / "Kinetics").mkdir(parents=True)
    (root / "slowfast" / "config").mkdir(parents=True)
    (root / "slowfast" / "config" / "defaults.py").write_text(DEFAULTS)
    for name, tree in {
        "X3D_M.yaml": X3D_M,
        "X3D_WRONG.yaml": X3D_M,
        "SSL.yaml": {**X3D_M, "RESNET": {"ZERO_INIT_FINAL_CONV": True}},
    }.items():
        (root / "configs" / "Kinetics" / name).write_text(yaml.safe_dump(tree))
    reference = {
        "configs/Kinetics/X3D_M.yaml": {"note": "", "params_m": 3.794322},
        "configs/Kinetics/X3D_WRONG.yaml": {"note": "", "params_m": 3.0},
        "configs/Kinetics/SSL.yaml": {"note": "", "params_m": 3.794322},
    }
    (tmp_path / "ref.json").write_text(json.dumps({"configs": reference}))
    status = tool.main(
        ["--configs", str(root / "configs"), "--reference", str(tmp_path / "ref.json")]
    )
    out = capsys.readouterr().out
    assert status == 1  # a yaml built another network
    assert "match        configs/Kinetics/X3D_M.yaml: 3.794322 M" in out
    assert "DIFFERENT    configs/Kinetics/X3D_WRONG.yaml" in out
    assert "stopped      configs/Kinetics/SSL.yaml: ValueError: RESNET.ZERO_INIT_FINAL_CONV" in out
    assert "every yaml loaded with NUM_GPUS 0" in out
    assert "1 of 3 yamls PySlowFast builds load unmodified" in out
    assert "KEY unknown to slowvid: TRAIN.A_KEY_SLOWVID_LACKS" in out
    assert "KEY default differs and is not listed: DATA.TARGET_FPS 25 vs 30" in out
    assert "SLOWFAST.ALPHA" not in out  # listed in DEFAULTS_DIFFER


def test_yamls_are_built_as_the_reference_was_with_num_gpus_0(tmp_path, capsys):
    # PySlowFast's k400_VIT_B_16x4_FT: TRAIN.BATCH_SIZE 1 with NUM_GPUS 8. The reference was built
    # with NUM_GPUS 0 (a CPU run, whose batch PySlowFast does not split), and so is the sweep.
    path = tmp_path / "ONE_CLIP_8_GPUS.yaml"
    tree = {**X3D_M, "TRAIN": {"DATASET": "kinetics", "BATCH_SIZE": 1}, "NUM_GPUS": 8}
    path.write_text(yaml.safe_dump(tree))
    assert tool.check_yaml(str(path)) == (3794322, "")
    # A real run of the yaml as written still refuses the batch it cannot split.
    with pytest.raises(ValueError, match="TRAIN.BATCH_SIZE: 1 is not divisible by the 8"):
        load_config(str(path))
