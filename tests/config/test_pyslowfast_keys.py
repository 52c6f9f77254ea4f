"""PySlowFast yamls in slowvid: every key of theirs known, missing features refused (all at once),
unknown keys reported together, their spellings of slowvid keys moved, the default tables true.

The yamls here are written in PySlowFast's style for these tests (lower-case dataset names,
``DATA.DECODING_BACKEND: torchvision``, its solver switches); none is copied from PySlowFast.
"""

import os
import re

import pytest
import yaml

from slowvid.config import ConfigKeyError, get_cfg, infer_and_check, load_config
from slowvid.config.pyslowfast import defaults_differ, same_value
from slowvid.config.pyslowfast_keys import (
    ALIASES,
    DEFAULTS_DIFFER,
    DEFAULTS_SAME_MEANING,
    FOREIGN_KEYS,
    FOREIGN_VALUES,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A PySlowFast-style Slow R50 recipe: its spellings and switches, as its yamls write them.
PYSLOWFAST_STYLE = {
    "TRAIN": {
        "DATASET": "kinetics",
        "BATCH_SIZE": 64,
        "CHECKPOINT_TYPE": "caffe2",
        "CHECKPOINT_EPOCH_RESET": True,
    },
    "TEST": {"DATASET": "ptvkinetics", "CHECKPOINT_TYPE": "pytorch"},
    "DATA": {
        "NUM_FRAMES": 8,
        "INPUT_CHANNEL_NUM": [3],
        "DECODING_BACKEND": "torchvision",
        "ENSEMBLE_METHOD": "max",
        "USE_OFFSET_SAMPLING": True,
        "INV_UNIFORM_SAMPLE": True,
        "REVERSE_INPUT_CHANNEL": True,
        "DECODING_SHORT_SIZE": 320,  # read by no PySlowFast code either
    },
    "RESNET": {
        "TRANS_FUNC": "bottleneck_transform",
        "NUM_BLOCK_TEMP_KERNEL": [[3], [4], [6], [3]],
        "SPATIAL_STRIDES": [[1], [2], [2], [2]],
    },
    "NONLOCAL": {"LOCATION": [[[]], [[]], [[]], [[]]], "GROUP": [[1], [1], [1], [1]]},
    "BN": {"NORM_TYPE": "sync_batchnorm", "NUM_SYNC_DEVICES": 4},
    "SOLVER": {
        "BASE_LR_SCALE_NUM_SHARDS": True,
        "LR_POLICY": "steps_with_relative_lrs",
        "STEPS": [0, 10, 20],
        "LRS": [1, 0.1, 0.01, 0.001, 0.0001],
        "CLIP_GRAD_L2NORM": None,
    },
    "AUG": {"COLOR_JITTER": None, "RE_SPLIT": False},
    "MODEL": {
        "ARCH": "slow",
        "MODEL_NAME": "ResNet",
        "HEAD_ACT": "softmax",
        "LOSS_FUNC": "cross_entropy",
    },
    "DETECTION": {"ENABLE": False},
    "LOG_MODEL_INFO": False,
    "DEMO": {"WEBCAM": 0},  # read only by the demo mode, which is off
    "NUM_GPUS": 8,
}


def _write(tmp_path, tree, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree))
    return str(path)


def test_a_pyslowfast_style_yaml_loads_unmodified(tmp_path):
    cfg = load_config(_write(tmp_path, PYSLOWFAST_STYLE))
    assert cfg.TEST.ENSEMBLE_METHOD == "max"  # DATA.ENSEMBLE_METHOD moved to its slowvid key
    assert cfg.SOLVER.LRS == [1, 0.1, 0.01, 0.001, 0.0001]
    assert cfg.SOLVER.CLIP_GRAD_L2NORM == 0.0 and cfg.AUG.COLOR_JITTER == 0.0  # None = off
    assert cfg.DATA.DECODING_SHORT_SIZE == 320


def _switched_on(entry):
    """A value unlike every accepted one, of the default's type."""
    default = entry.off_values()[0]
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        return default + 2
    if isinstance(default, str):
        return default + "_on"
    return [9]


# Keys with a value that switches a feature on (MVIT.SEPARATE_QKV takes both: no difference).
CHECKED = sorted(
    k
    for k, e in FOREIGN_KEYS.items()
    if not e.gate and not any(same_value(_switched_on(e), v) for v in e.off_values())
)


@pytest.mark.parametrize("key", CHECKED)
def test_a_foreign_feature_switched_on_is_refused_naming_it(key):
    cfg = get_cfg()
    infer_and_check(cfg.clone())  # the default leaves it off
    node, leaf = key.rsplit(".", 1) if "." in key else ("", key)
    target = cfg
    for part in node.split(".") if node else []:
        target = target[part]
    target[leaf] = _switched_on(FOREIGN_KEYS[key])
    with pytest.raises(ValueError) as err:
        infer_and_check(cfg)
    assert key in str(err.value) and FOREIGN_KEYS[key].does in str(err.value)


def test_gated_keys_take_any_value_while_their_feature_is_off():
    cfg = get_cfg()
    for key, entry in FOREIGN_KEYS.items():
        if entry.gate:
            node, leaf = key.rsplit(".", 1)
            target = cfg
            for part in node.split("."):
                target = target[part]
            target[leaf] = _switched_on(entry)
    infer_and_check(cfg)


def test_gated_keys_are_checked_once_their_landed_gate_is_on():
    cfg = get_cfg()
    cfg.TENSORBOARD.MODEL_VIS.MODEL_WEIGHTS = True  # PySlowFast reads it only with MODEL_VIS on
    infer_and_check(cfg.clone())
    cfg.TENSORBOARD.MODEL_VIS.ENABLE = True  # slowvid's own feature now: the key is read
    with pytest.raises(ValueError, match="MODEL_WEIGHTS = True.*read with TENSORBOARD.MODEL_VIS"):
        infer_and_check(cfg)


def test_a_foreign_value_is_refused_until_its_feature_lands():
    from slowvid.config import pyslowfast

    cfg = get_cfg()
    for _, lands_with in FOREIGN_VALUES.values():
        assert lands_with == "" or lands_with in FOREIGN_KEYS, lands_with
    # The self-supervised models have landed (ssl_keys.py defines CONTRASTIVE.* and MASK.*):
    # their model names and loss pass; a value that never lands is still refused.
    cfg.MODEL.MODEL_NAME = "ContrastiveModel"
    cfg.MODEL.LOSS_FUNC = "contrastive_loss"
    assert pyslowfast.foreign_value_problems(cfg) == []
    cfg.SOLVER.OPTIMIZING_METHOD = "mt_adamw"
    assert [p.split(" = ")[0] for p in pyslowfast.foreign_value_problems(cfg)] == [
        "SOLVER.OPTIMIZING_METHOD"
    ]


def test_every_refusal_of_a_file_comes_in_one_error(tmp_path):
    tree = {
        "TRAIN": {"CHECKPOINT_IN_INIT": True},
        "SOLVER": {"OPTIMIZING_METHOD": "mt_adamw"},
        "RESNET": {"ZERO_INIT_FINAL_CONV": True},
        "MODEL": {"DROPCONNECT_RATE": 0.1, "FROZEN_BN": True},
    }
    with pytest.raises(ValueError) as err:
        load_config(_write(tmp_path, tree))
    message = str(err.value)
    assert "5 PySlowFast feature(s)" in message
    keys = (
        "TRAIN.CHECKPOINT_IN_INIT",
        "SOLVER.OPTIMIZING_METHOD",
        "ZERO_INIT_FINAL_CONV",
        "MODEL.DROPCONNECT_RATE",
        "MODEL.FROZEN_BN",
    )
    for key in keys:
        assert key in message


def test_all_unknown_keys_of_a_run_are_reported_at_once(tmp_path):
    base = _write(tmp_path, {"SOLVER": {"BASE_LRR": 0.1}}, "base.yaml")
    child = _write(
        tmp_path, {"_BASE_": os.path.basename(base), "TRIAN": {"BATCH_SIZE": 8}, "PREFETCH": 3}
    )
    with pytest.raises(ConfigKeyError) as err:
        load_config(child)
    message = str(err.value)
    assert message.startswith("3 unknown config keys")
    assert "'SOLVER.BASE_LRR'; did you mean 'SOLVER.BASE_LR'?" in message
    assert "'TRIAN.BATCH_SIZE'; did you mean 'TRAIN.BATCH_SIZE'?" in message
    assert "'PREFETCH'" in message and base in message and child in message


def test_unknown_command_line_keys_are_reported_together():
    with pytest.raises(ConfigKeyError, match="2 unknown config keys"):
        load_config([], ["SOLVER.BASE_LRR", "1", "TRAIN.BATCHSIZE", "2"])


def test_both_spellings_of_a_key_must_agree(tmp_path):
    tree = {"DATA": {"ENSEMBLE_METHOD": "max"}, "TEST": {"ENSEMBLE_METHOD": "sum"}}
    with pytest.raises(ValueError, match="DATA.ENSEMBLE_METHOD.*TEST.ENSEMBLE_METHOD"):
        load_config(_write(tmp_path, tree))
    # A later file overrides an earlier one whichever spelling each uses.
    _write(tmp_path, {"DATA": {"ENSEMBLE_METHOD": "max"}}, "base.yaml")
    child = _write(tmp_path, {"_BASE_": "base.yaml", "TEST": {"ENSEMBLE_METHOD": "sum"}})
    assert load_config(child).TEST.ENSEMBLE_METHOD == "sum"
    assert load_config([], ["DATA.ENSEMBLE_METHOD", "max"]).TEST.ENSEMBLE_METHOD == "max"


def _core_keys() -> set[str]:
    """Keys defaults.py defines itself (before the foreign table is added), with those of
    model_keys.py and ssl_keys.py, which it adds."""
    with open(os.path.join(REPO, "slowvid/config/defaults.py")) as f:
        core = set(re.findall(r"^_C\.([A-Za-z0-9_.]+) = (?!CfgNode)", f.read(), re.M))
    for part in ("model_keys.py", "ssl_keys.py"):
        with open(os.path.join(REPO, "slowvid/config", part)) as f:
            core |= set(re.findall(r"^    cfg\.([A-Za-z0-9_.]+) = (?!CfgNode)", f.read(), re.M))
    return core


def test_the_tables_hold_no_key_slowvid_defines_and_describe_every_entry():
    core = _core_keys()
    assert "SOLVER.BASE_LR_SCALE_NUM_SHARDS" in core  # the regex sees the core keys
    assert "MVIT.ZERO_DECAY_POS_CLS" in core and "TASK" in core  # and the added files' keys
    assert not core & set(FOREIGN_KEYS), "a landed feature still sits in FOREIGN_KEYS"
    assert not core & set(ALIASES)
    assert set(ALIASES.values()) <= core
    assert all(entry.does for entry in FOREIGN_KEYS.values())
    assert {key for key, _ in FOREIGN_VALUES} <= core
    for key in set(DEFAULTS_DIFFER) | set(DEFAULTS_SAME_MEANING):
        assert key in core, key


def test_defaults_differ_lists_real_differences():
    cfg = get_cfg()
    listed = defaults_differ(cfg)
    for key, (pysf, mine, why) in listed.items():
        assert why and not same_value(pysf, mine), key
    # Foreign keys that slowvid keeps at another value than PySlowFast's default are listed.
    assert listed["DATA.USE_OFFSET_SAMPLING"][:2] == (False, True)


def test_the_readme_lists_every_default_that_differs():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("## Coming from PySlowFast") :]
    section = section[: section.index("\n## ", 1)]
    for key in defaults_differ(get_cfg()):
        assert f"`{key}`" in section or key.startswith("AVA."), key
