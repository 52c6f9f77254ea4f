"""Rev-ViT / Rev-MViT: the memory-saving backward equals plain autograd through the same layers,
keeps fewer activations, and PySlowFast's ViT and Rev yamls build PySlowFast's networks."""

import pytest
import torch
import yaml

from slowvid.checkpoint import load_checkpoint
from slowvid.config import load_config
from slowvid.engine.parallel import checkpoint_blocks
from slowvid.models import build_model, count_parameters
from slowvid.utils.memory import SavedTensorBytes

# The yamls below are the network-defining keys of PySlowFast's configs (facebookresearch/SlowFast
# at 287ec00), written out here; the counts are what PySlowFast's own code builds from its
# files (/work/shared/pyslowfast_reference_params.json, trainable parameters).
_VIT_FT = {
    "MODEL": {"MODEL_NAME": "MViT", "ARCH": "mvit", "NUM_CLASSES": 400},
    "DATA": {"NUM_FRAMES": 16, "TRAIN_CROP_SIZE": 224, "TEST_CROP_SIZE": 224},
    "MVIT": {
        "ZERO_DECAY_POS_CLS": False,
        "SEP_POS_EMBED": True,
        "PATCH_KERNEL": [2, 16, 16],
        "PATCH_STRIDE": [2, 16, 16],
        "PATCH_PADDING": [0, 0, 0],
        "MLP_RATIO": 4.0,
        "QKV_BIAS": True,
        "NORM": "layernorm",
        "MODE": "conv",
        "DROPPATH_RATE": 0.2,
        "LAYER_SCALE_INIT_VALUE": 0.0,
        "USE_MEAN_POOLING": True,
        "HEAD_INIT_SCALE": 0.001,
    },
}
_IMAGENET = {
    "MODEL": {"MODEL_NAME": "MViT", "ARCH": "mvit", "NUM_CLASSES": 1000},
    "DATA": {"NUM_FRAMES": 1, "TRAIN_CROP_SIZE": 224, "TEST_CROP_SIZE": 224},
    "MVIT": {
        "PATCH_2D": True,
        "ZERO_DECAY_POS_CLS": False,
        "MODE": "conv",
        "CLS_EMBED_ON": False,
        "MLP_RATIO": 4.0,
        "QKV_BIAS": True,
        "NORM": "layernorm",
        "SEPARATE_QKV": True,
        "REV": {"ENABLE": True, "RESPATH_FUSE": "concat", "RES_PATH": "conv"},
    },
}
_REV_VIT = {"PATCH_KERNEL": [16, 16], "PATCH_STRIDE": [16, 16], "PATCH_PADDING": [0, 0]}
_REV_VIT["POOL_KV_STRIDE"] = []
_MVIT_B = {
    "DIM_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
    "HEAD_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
    "POOL_Q_STRIDE": [[1, 1, 2, 2], [3, 1, 2, 2], [14, 1, 2, 2]],
}


def _merge(base: dict, **mvit) -> dict:
    rev = {**base["MVIT"].get("REV", {}), **mvit.pop("REV", {})}
    merged = {**base, "MVIT": {**base["MVIT"], **mvit}}
    if rev:
        merged["MVIT"]["REV"] = rev
    return merged


PYSLOWFAST = {
    "masked_ssl/k400_VIT_B_16x4_FT": (
        _merge(_VIT_FT, EMBED_DIM=768, NUM_HEADS=12, DEPTH=12),
        86.702224,
    ),
    "masked_ssl/k400_VIT_L_16x4_FT": (
        _merge(_VIT_FT, EMBED_DIM=1024, NUM_HEADS=16, DEPTH=24),
        304.506256,
    ),
    "masked_ssl/k400_VIT_H_16x4_FT": (
        _merge(_VIT_FT, EMBED_DIM=1280, NUM_HEADS=16, DEPTH=32),
        632.42408,
    ),
    "ImageNet/REV_VIT_S": (
        _merge(
            _IMAGENET,
            **_REV_VIT,
            EMBED_DIM=384,
            NUM_HEADS=6,
            DEPTH=12,
            DROPPATH_RATE=0.1,
            REV={"PRE_Q_FUSION": "concat"},
        ),
        22.434664,
    ),
    "ImageNet/REV_VIT_B": (
        _merge(
            _IMAGENET,
            **_REV_VIT,
            EMBED_DIM=768,
            NUM_HEADS=12,
            DEPTH=12,
            DROPPATH_RATE=0.2,
            REV={"PRE_Q_FUSION": "concat"},
        ),
        87.335656,
    ),
    "ImageNet/REV_MVIT_B_16_CONV": (
        _merge(
            _IMAGENET,
            **_MVIT_B,
            PATCH_KERNEL=[7, 7],
            PATCH_STRIDE=[4, 4],
            PATCH_PADDING=[3, 3],
            EMBED_DIM=96,
            NUM_HEADS=1,
            DEPTH=16,
            DROPPATH_RATE=0.1,
            POOL_KVQ_KERNEL=[1, 3, 3],
            POOL_KV_STRIDE_ADAPTIVE=[1, 4, 4],
            REV={"BUFFER_LAYERS": [1, 3, 14], "PRE_Q_FUSION": "concat_linear_2"},
        ),
        39.68932,
    ),
}


@pytest.mark.parametrize("name", sorted(PYSLOWFAST))
def test_pyslowfast_yamls_build_pyslowfast_networks(tmp_path, name):
    body, params_m = PYSLOWFAST[name]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**body, "DATA": {**body["DATA"], "INPUT_CHANNEL_NUM": [3]}}))
    cfg = load_config(str(path), ["DATA.TRAIN_JITTER_SCALES", "[256, 320]"])
    with torch.device("meta"):
        model = build_model(cfg)
    assert count_parameters(model, trainable_only=True) == round(params_m * 1e6)


def _small_rev(make_cfg, **mvit):
    keys = {
        "MODEL.NUM_CLASSES": 5,
        "MODEL.DROPOUT_RATE": 0.0,
        "DATA.NUM_FRAMES": 4,
        "DATA.TRAIN_CROP_SIZE": 16,
        "MVIT.CLS_EMBED_ON": False,
        "MVIT.EMBED_DIM": 16,
        "MVIT.NUM_HEADS": 2,
        "MVIT.DEPTH": 5,
        "MVIT.PATCH_KERNEL": [3, 7, 7],
        "MVIT.PATCH_STRIDE": [2, 4, 4],
        "MVIT.PATCH_PADDING": [1, 3, 3],
        "MVIT.DROPPATH_RATE": 0.3,  # the masks must be replayed in the recomputation
        "MVIT.REV.ENABLE": True,
        **{f"MVIT.{k}": v for k, v in mvit.items()},
    }
    cfg = make_cfg("MViT", "mvit")
    for key, value in keys.items():
        node = cfg
        *path, leaf = key.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    return build_model(cfg).double().train()


_REV_MVIT = {
    "DIM_MUL": [[2, 2.0]],
    "HEAD_MUL": [[2, 2.0]],
    "POOL_Q_STRIDE": [[2, 1, 2, 2]],
    "POOL_KVQ_KERNEL": [3, 3, 3],
    "POOL_KV_STRIDE_ADAPTIVE": [1, 2, 2],
    "REV.BUFFER_LAYERS": [2],
}


@pytest.mark.parametrize(
    "mvit",
    [
        {},  # Rev-ViT
        {**_REV_MVIT, "REV.PRE_Q_FUSION": "concat_linear_2"},  # Rev-MViT, PySlowFast ImageNet
        {**_REV_MVIT, "REV.RES_PATH": "max", "REV.RESPATH_FUSE": "avg"},
    ],
    ids=["rev_vit", "rev_mvit", "rev_mvit_max_avg"],
)
def test_reversible_backward_equals_autograd(make_cfg, mvit):
    model = _small_rev(make_cfg, **mvit)
    clip = torch.randn(3, 3, 4, 16, 16, dtype=torch.double)
    weights = torch.randn(3, 5, dtype=torch.double)
    results = []
    for custom in (True, False):
        model.rev_custom_backward = custom
        model.zero_grad()
        torch.manual_seed(1)  # the same drop-path masks in both runs
        logits = model([clip])
        (logits * weights).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        results.append((logits.detach(), grads))
    (out_rev, grad_rev), (out_plain, grad_plain) = results
    torch.testing.assert_close(out_rev, out_plain, rtol=0, atol=1e-12)
    assert grad_rev.keys() == grad_plain.keys()
    for name in grad_rev:
        torch.testing.assert_close(grad_rev[name], grad_plain[name], rtol=1e-9, atol=1e-10)


def test_reversible_blocks_refuse_activation_checkpointing(make_cfg):
    # They recompute already; wrapping them (or sharding them with FSDP) would be silently wrong.
    with pytest.raises(ValueError, match="MODEL.ACT_CHECKPOINT .* MViT declares no block"):
        checkpoint_blocks(_small_rev(make_cfg))


def _saved_bytes(model, clip) -> int:
    with SavedTensorBytes() as saved:
        logits = model([clip])  # what the forward pass leaves for the backward
    logits.sum().backward()
    return saved.bytes


def test_reversible_keeps_fewer_activations(make_cfg):
    # What autograd keeps for the backward pass: all block activations with plain autograd,
    # only each reversible run's output with the reversible backward. Timing and peak memory on
    # a device are in benchmarks/reversible_memory.py.
    model = _small_rev(make_cfg, **{"DEPTH": 8, "DROPPATH_RATE": 0.0}).float()
    clip = torch.randn(2, 3, 4, 16, 16)
    model.rev_custom_backward = False
    plain = _saved_bytes(model, clip)
    model.rev_custom_backward = True
    assert _saved_bytes(model, clip) < 0.2 * plain


def test_buffer_layers_are_checked(make_cfg):
    with pytest.raises(ValueError, match=r"BUFFER_LAYERS \[\]: layer 2 pools queries"):
        _small_rev(make_cfg, **{**_REV_MVIT, "REV.BUFFER_LAYERS": []})
    with pytest.raises(ValueError, match="first and last layers must be reversible"):
        _small_rev(make_cfg, **{"REV.BUFFER_LAYERS": [0]})
    with pytest.raises(ValueError, match="class token"):
        _small_rev(make_cfg, **{"CLS_EMBED_ON": True})


def test_pyslowfast_rev_checkpoint_loads(make_cfg, tmp_path):
    # PySlowFast keeps the layers under rev_backbone.layers.N, the attention pooling as
    # pool_q / norm_q and q, k, v fused; slowvid's Rev-MViT reads that layout back exactly.
    source = _small_rev(make_cfg, **{**_REV_MVIT, "REV.PRE_Q_FUSION": "concat_linear_2"}).eval()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    renamed = {}
    for key, value in source.state_dict().items():
        key = key.replace("blocks.", "rev_backbone.layers.").replace(
            "patch_embed.", "patch_embed.proj."
        )
        for x in "qkv":
            key = key.replace(f"attn.pool_{x}.pool.", f"attn.pool_{x}.")
            key = key.replace(f"attn.pool_{x}.norm.", f"attn.norm_{x}.")
        renamed[key.replace("head.proj.", "head.projection.")] = value
    assert any(k.endswith("F.attn.qkv.weight") for k in renamed)
    torch.save({"model_state": renamed}, tmp_path / "rev.pyth")
    model = _small_rev(make_cfg, **{**_REV_MVIT, "REV.PRE_Q_FUSION": "concat_linear_2"}).eval()
    load_checkpoint(str(tmp_path / "rev.pyth"), model)
    clip = torch.randn(2, 3, 4, 16, 16, dtype=torch.double)
    with torch.no_grad():
        torch.testing.assert_close(model([clip]), source([clip]))
