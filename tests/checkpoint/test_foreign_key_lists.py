"""Foreign checkpoint layouts as their own code builds them, not as a test imagines them.

The key lists in ``foreign_keys/`` come from PySlowFast's and MMAction2's model code (README
there). Every listed tensor must convert onto exactly one slowvid key with the same shape, and
every slowvid key must be covered, so a rename rule that is wrong in the converter and in the
inverse tables of ``test_converters.py`` alike cannot pass here. Meta tensors: no weights are
allocated.
"""

import os
import re

import pytest
import torch
from key_lists import KEY_DIR, read_key_list

from slowvid.checkpoint.converters import convert_checkpoint
from slowvid.checkpoint.model_state import diff_state_dicts
from slowvid.config import load_config
from slowvid.models import build_model

QKV = re.compile(r"\.attn\.[qkv]\.")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# key list -> (slowvid config, how the file wraps its state dict, detected format)
CASES = {
    "pyslowfast_SLOWFAST_8x8_R50": ("SLOWFAST_8x8_R50", "model_state", "pyslowfast"),
    "pyslowfast_I3D_NLN_8x8_R50": ("I3D_NLN_8x8_R50", "model_state", "pyslowfast"),
    "pyslowfast_X3D_S": ("X3D_S", "model_state", "pyslowfast"),
    "pyslowfast_MVIT_B_16x4_CONV": ("MVIT_B_16x4", "model_state", "pyslowfast"),
    "pyslowfast_MVITv2_S_16x4": ("MVITv2_S_16x4", "model_state", "pyslowfast"),
    "mmaction2_slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb": (
        "SLOW_8x8_R50",
        "state_dict",
        "mmaction2",
    ),
    "mmaction2_slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb": (
        "SLOWFAST_8x8_R50",
        "state_dict",
        "mmaction2",
    ),
    "mmaction2_i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb": (
        "I3D_8x8_R50",
        "state_dict",
        "mmaction2",
    ),
}


def test_every_key_list_is_tested():
    assert {f[:-4] for f in os.listdir(KEY_DIR) if f.endswith(".txt")} == set(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_converter_covers_the_foreign_model_exactly(name):
    cfg_name, wrapper, source = CASES[name]
    state = read_key_list(name)
    with torch.device("meta"):
        model = build_model(load_config(os.path.join(REPO, f"configs/Kinetics/{cfg_name}.yaml")))
    model_state = model.state_dict()
    conversion = convert_checkpoint({wrapper: state}, model)
    assert conversion.source == source
    # every foreign tensor was renamed, and no two onto the same slowvid key; PySlowFast's
    # fused MViT ``attn.qkv`` arrives as the thirds ``attn.q``, ``attn.k``, ``attn.v``
    fused = {k: QKV.sub(".attn.qkv.", k) for k in conversion.origin.values()}
    sources = [fused[k] if fused[k] in state else k for k in conversion.origin.values()]
    assert set(sources) == set(state), set(state) ^ set(sources)
    diff = diff_state_dicts(conversion.state, model_state)
    assert not diff, diff.describe(conversion.origin)
    for key, source_key in zip(conversion.origin, sources):
        parts = 3 if source_key != conversion.origin[key] else 1
        assert conversion.state[key].numel() * parts == state[source_key].numel(), key
