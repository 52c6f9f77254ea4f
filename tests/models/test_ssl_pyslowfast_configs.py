"""PySlowFast's configs/masked_ssl and configs/contrastive_ssl build PySlowFast's networks.

The yamls below are the network-defining keys of those files (facebookresearch/SlowFast at
287ec00), written out here; the counts are what PySlowFast's own code builds from them
(/work/shared/pyslowfast_reference_params.json, trainable parameters). The three ViT
fine-tuning yamls of masked_ssl are in test_reversible.py. Left out here: keys slowvid has no
use for (PySlowFast's MODEL.HEAD_ACT "none" is what slowvid's heads always do; DETECTION.ENABLE
of the AVA fine-tuning does not change the count) until the PySlowFast compatibility layer
accepts them. ``tools/check_pyslowfast_configs.py`` runs
the same check on a checkout's unmodified files.
"""

import pytest
import torch
import yaml

from slowvid.config import load_config
from slowvid.models import build_model, count_parameters


def _nest(flat: dict) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        node, leaf = key.split(".")
        tree.setdefault(node, {})[leaf] = value
    return tree


_VIDEO = {
    "DATA.NUM_FRAMES": 16,
    "DATA.TRAIN_CROP_SIZE": 224,
    "DATA.TEST_CROP_SIZE": 224,
    "MVIT.ZERO_DECAY_POS_CLS": False,
    "MVIT.MODE": "conv",
    "MVIT.QKV_BIAS": True,
    "MVIT.CLS_EMBED_ON": True,
}
_MAE_PT = {
    "TEST.ENABLE": False,
    **_VIDEO,
    "MODEL.MODEL_NAME": "MaskMViT",
    "MODEL.ARCH": "maskmvit",
    "MODEL.LOSS_FUNC": "multi_mse",
    "TASK": "ssl",
    "MVIT.SEP_POS_EMBED": True,
    "MVIT.PATCH_KERNEL": [2, 16, 16],
    "MVIT.PATCH_STRIDE": [2, 16, 16],
    "MVIT.PATCH_PADDING": [0, 0, 0],
    "MVIT.MLP_RATIO": 4.0,
    "MVIT.NORM": "layernorm",
    "MASK.ENABLE": True,
    "MASK.MAE_ON": True,
    "MASK.MAE_RND_MASK": True,
    "MASK.HEAD_TYPE": "separate_xformer",
    "MASK.DECODER_DEPTH": 4,
    "MASK.DECODER_EMBED_DIM": 512,
    "AUG.MASK_RATIO": 0.9,
    "DATA.TRAIN_CROP_NUM_TEMPORAL": 4,
}
_IN1K = {
    **_VIDEO,
    "DATA.NUM_FRAMES": 1,
    "MVIT.PATCH_2D": True,
    "MVIT.PATCH_KERNEL": [16, 16],
    "MVIT.PATCH_STRIDE": [16, 16],
    "MVIT.PATCH_PADDING": [0, 0],
    "MVIT.MLP_RATIO": 4.0,
    "MVIT.NORM": "layernorm",
}
_IN1K_PT = {
    "TEST.ENABLE": False,
    **_IN1K,
    "MODEL.MODEL_NAME": "MaskMViT",
    "MODEL.ARCH": "maskmvit",
    "MODEL.LOSS_FUNC": "multi_mse",
    "TASK": "ssl",
    "MASK.ENABLE": True,
    "MASK.HEAD_TYPE": "separate",
    "MASK.PRED_HOG": True,
    "AUG.GEN_MASK_LOADER": True,
    "AUG.MASK_RATIO": 0.4,
}
_IN1K_FT = {
    **_IN1K,
    "MODEL.MODEL_NAME": "MViT",
    "MODEL.ARCH": "mvit",
    "MODEL.NUM_CLASSES": 1000,
    "MVIT.LAYER_SCALE_INIT_VALUE": 0.0,
    "MVIT.HEAD_INIT_SCALE": 0.001,
    "MVIT.USE_MEAN_POOLING": True,
}


def _q_stride(depth: int, pooled: tuple[int, ...]) -> list[list[int]]:
    return [[i, 1, 2, 2] if i in pooled else [i, 1, 1, 1] for i in range(depth)]


_MVITV2 = {
    **_VIDEO,
    "MVIT.PATCH_KERNEL": [3, 7, 7],
    "MVIT.PATCH_STRIDE": [2, 4, 4],
    "MVIT.PATCH_PADDING": [1, 3, 3],
    "MVIT.POOL_KVQ_KERNEL": [3, 3, 3],
    "MVIT.POOL_KV_STRIDE_ADAPTIVE": [1, 8, 8],
    "MVIT.USE_ABS_POS": False,
    "MVIT.SEP_POS_EMBED": True,
    "MVIT.REL_POS_SPATIAL": True,
    "MVIT.REL_POS_TEMPORAL": True,
    "MVIT.RESIDUAL_POOLING": True,
}
_MVITV2_S = {
    **_MVITV2,
    "MVIT.DEPTH": 16,
    "MVIT.NUM_HEADS": 1,
    "MVIT.EMBED_DIM": 96,
    "MVIT.DIM_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
    "MVIT.HEAD_MUL": [[1, 2.0], [3, 2.0], [14, 2.0]],
}
_MVITV2_L = {
    **_MVITV2,
    "MVIT.MLP_RATIO": 4.0,
    "MVIT.NORM": "layernorm",
    "MVIT.DEPTH": 48,
    "MVIT.NUM_HEADS": 2,
    "MVIT.EMBED_DIM": 144,
    "MVIT.DIM_MUL": [[2, 2.0], [8, 2.0], [44, 2.0]],
    "MVIT.HEAD_MUL": [[2, 2.0], [8, 2.0], [44, 2.0]],
}
_MASKFEAT_PT = {
    "TEST.ENABLE": False,
    "MODEL.MODEL_NAME": "MaskMViT",
    "MODEL.ARCH": "maskmvit",
    "MODEL.LOSS_FUNC": "multi_mse",
    "TASK": "ssl",
    "MASK.ENABLE": True,
    "MASK.PRED_HOG": True,
    "AUG.GEN_MASK_LOADER": True,
    "AUG.MASK_RATIO": 0.4,
    "AUG.MASK_WINDOW_SIZE": [8, 7, 7],
}
_MVITV2_FT = {
    "MODEL.MODEL_NAME": "MViT",
    "MODEL.ARCH": "mvit",
    "MODEL.NUM_CLASSES": 400,
    "MVIT.LAYER_SCALE_INIT_VALUE": 0.0,
    "MVIT.USE_MEAN_POOLING": True,
    "MVIT.HEAD_INIT_SCALE": 0.001,
}

MASKED = {
    "k400_VIT_B_16x4_MAE_PT": (
        {**_MAE_PT, "MVIT.EMBED_DIM": 768, "MVIT.NUM_HEADS": 12, "MVIT.DEPTH": 12}
        | {"MASK.PRETRAIN_DEPTH": [11]},
        100.596736,
    ),
    "k400_VIT_L_16x4_MAE_PT": (
        {**_MAE_PT, "MVIT.EMBED_DIM": 1024, "MVIT.NUM_HEADS": 16, "MVIT.DEPTH": 24}
        | {"MASK.PRETRAIN_DEPTH": [23]},
        318.42944,
    ),
    "k400_VIT_H_16x4_MAE_PT": (
        {**_MAE_PT, "MVIT.EMBED_DIM": 1280, "MVIT.NUM_HEADS": 16, "MVIT.DEPTH": 32}
        | {"MASK.PRETRAIN_DEPTH": [31]},
        646.375936,
    ),
    "in1k_VIT_B_MaskFeat_PT": (
        {**_IN1K_PT, "MVIT.EMBED_DIM": 768, "MVIT.NUM_HEADS": 12, "MVIT.DEPTH": 12}
        | {"MASK.PRETRAIN_DEPTH": [11]},
        85.882476,
    ),
    "in1k_VIT_L_MaskFeat_PT": (
        {**_IN1K_PT, "MVIT.EMBED_DIM": 1024, "MVIT.NUM_HEADS": 16, "MVIT.DEPTH": 24}
        | {"MASK.PRETRAIN_DEPTH": [23]},
        303.413356,
    ),
    "in1k_VIT_B_MaskFeat_FT": (
        {**_IN1K_FT, "MVIT.EMBED_DIM": 768, "MVIT.NUM_HEADS": 12, "MVIT.DEPTH": 12},
        86.567656,
    ),
    "in1k_VIT_L_MaskFeat_FT": (
        {**_IN1K_FT, "MVIT.EMBED_DIM": 1024, "MVIT.NUM_HEADS": 16, "MVIT.DEPTH": 24},
        304.326632,
    ),
    "k400_MVITv2_S_16x4_MaskFeat_PT": (
        {**_MVITV2_S, **_MASKFEAT_PT, "MASK.PRETRAIN_DEPTH": [15], "MASK.HEAD_TYPE": "separate"}
        | {"MVIT.POOL_Q_STRIDE": _q_stride(16, (1, 3))},
        36.253356,
    ),
    "k400_MVITv2_L_16x4_MaskFeat_PT": (
        {**_MVITV2_L, **_MASKFEAT_PT, "MASK.PRETRAIN_DEPTH": [47]}
        | {"MVIT.POOL_Q_STRIDE": _q_stride(48, (2, 8))},
        217.24758,
    ),
    "k400_MVITv2_S_16x4_FT": (
        {**_MVITV2_S, **_MVITV2_FT, "MVIT.POOL_Q_STRIDE": _q_stride(16, (1, 3, 14))},
        36.47512,
    ),
    "k400_MVITv2_L_16x4_FT": (
        {**_MVITV2_L, **_MVITV2_FT, "MVIT.POOL_Q_STRIDE": _q_stride(48, (2, 8, 44))},
        217.578064,
    ),
}

_SLOW = {
    "MODEL.ARCH": "slow",
    "DATA.NUM_FRAMES": 8,
    "DATA.TRAIN_CROP_SIZE": 224,
    "DATA.TEST_CROP_SIZE": 256,
}
_SSL = {
    **_SLOW,
    "TASK": "ssl",
    "MODEL.MODEL_NAME": "ContrastiveModel",
    "MODEL.LOSS_FUNC": "contrastive_loss",
    "MODEL.DROPOUT_RATE": 0.0,
    # PySlowFast's yamls keep their kNN test (CONTRASTIVE.KNN_ON, on by default).
    "TEST.ENABLE": True,
}
# The pre-trained checkpoint comes on the command line, as with PySlowFast.
_EVAL = {**_SLOW, "MODEL.MODEL_NAME": "ResNet", "MODEL.DROPOUT_RATE": 0.5}
_EVAL["TRAIN.CHECKPOINT_FILE_PATH"] = "pretrain.pyth"
_AVA = {
    **_EVAL,
    "TASK": "ssl_eval_ava",
    "MODEL.NUM_CLASSES": 80,
    "MODEL.LOSS_FUNC": "bce",
    "DETECTION.ALIGNED": True,
    "RESNET.NUM_BLOCK_TEMP_KERNEL": [[3], [4], [6], [3]],
    "RESNET.SPATIAL_DILATIONS": [[1], [1], [1], [2]],
    "RESNET.SPATIAL_STRIDES": [[1], [2], [2], [1]],
}
CONTRASTIVE = {
    "BYOL_SlowR50_8x8": (
        {**_SSL, "MODEL.NUM_CLASSES": 256, "CONTRASTIVE.TYPE": "byol", "CONTRASTIVE.DIM": 256}
        | {"CONTRASTIVE.NUM_MLP_LAYERS": 2, "CONTRASTIVE.BN_MLP": True}
        | {"CONTRASTIVE.MLP_DIM": 4096, "CONTRASTIVE.PREDICTOR_DEPTHS": [2]}
        | {"CONTRASTIVE.SEQUENTIAL": True, "DATA.TRAIN_CROP_NUM_TEMPORAL": 2},
        43.185728,
    ),
    "MoCo_SlowR50_8x8": (
        {**_SSL, "MODEL.NUM_CLASSES": 128, "CONTRASTIVE.TYPE": "moco"}
        | {"CONTRASTIVE.NUM_MLP_LAYERS": 3, "CONTRASTIVE.SEQUENTIAL": True}
        | {"CONTRASTIVE.MOCO_MULTI_VIEW_QUEUE": True, "DATA.TRAIN_CROP_NUM_TEMPORAL": 4},
        40.289472,
    ),
    "SimCLR_SlowR50_8x8": (
        {**_SSL, "MODEL.NUM_CLASSES": 128, "CONTRASTIVE.TYPE": "simclr", "CONTRASTIVE.DIM": 128}
        | {"CONTRASTIVE.NUM_MLP_LAYERS": 3, "CONTRASTIVE.SEQUENTIAL": True}
        | {"DATA.TRAIN_CROP_NUM_TEMPORAL": 4},
        40.289472,
    ),
    "SwAV_Slow_R50_8x8": (
        {**_SSL, "MODEL.NUM_CLASSES": 128, "CONTRASTIVE.TYPE": "swav", "CONTRASTIVE.DIM": 128}
        | {"CONTRASTIVE.NUM_MLP_LAYERS": 3, "CONTRASTIVE.BN_MLP": True}
        | {"DATA.TRAIN_CROP_NUM_TEMPORAL": 2},
        40.421568,
    ),
    "finetune_SSv2_Slow_R50": (
        {**_EVAL, "MODEL.NUM_CLASSES": 174, "TASK": "ssl_eval_ssv2"},
        31.991022,
    ),
    "finetune_ucf_Slow_R50": (
        {**_EVAL, "MODEL.NUM_CLASSES": 101, "TASK": "ssl_eval_ucf"},
        31.841445,
    ),
    "finetune_ava_Slow_R50": (_AVA, 31.798416),
    "linear_k400_Slow_8x8_R50": (
        {**_EVAL, "MODEL.NUM_CLASSES": 400, "MODEL.DROPOUT_RATE": 0.0}
        | {"MODEL.DETACH_FINAL_FC": True, "TASK": "ssl_eval_k400"},
        32.454096,
    ),
}


def _build(tmp_path, flat: dict):
    tree = _nest({k: v for k, v in flat.items() if k != "TASK"})
    tree["DATA"]["INPUT_CHANNEL_NUM"] = [3]
    if "TASK" in flat:
        tree["TASK"] = flat["TASK"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree))
    cfg = load_config(str(path), ["DATA.TRAIN_JITTER_SCALES", "[256, 320]"])
    with torch.device("meta"):
        return build_model(cfg)


@pytest.mark.parametrize("name", sorted(MASKED))
def test_masked_ssl_yamls_build_pyslowfast_networks(tmp_path, name):
    flat, params_m = MASKED[name]
    model = _build(tmp_path, flat)
    assert count_parameters(model, trainable_only=True) == round(params_m * 1e6)


@pytest.mark.parametrize("name", sorted(CONTRASTIVE))
def test_contrastive_ssl_yamls_build_pyslowfast_networks(tmp_path, name):
    flat, params_m = CONTRASTIVE[name]
    model = _build(tmp_path, flat)
    if flat.get("MODEL.DETACH_FINAL_FC"):
        # PySlowFast detaches the classifier's input and leaves every parameter trainable;
        # slowvid freezes all but the classifier: the same network, 400 x 2049 parameters train.
        assert count_parameters(model, trainable_only=True) == 400 * 2049
        assert count_parameters(model) == round(params_m * 1e6)
    else:
        assert count_parameters(model, trainable_only=True) == round(params_m * 1e6)


def test_mask_enable_alone_means_masked_pretraining(tmp_path):
    # PySlowFast pre-trains on MASK.ENABLE whatever TASK says; its in1k_VIT_L_MaskFeat_PT
    # leaves TASK empty.
    flat, params_m = MASKED["in1k_VIT_B_MaskFeat_PT"]
    flat = {k: v for k, v in flat.items() if k != "TASK"}
    model = _build(tmp_path, flat)
    assert count_parameters(model, trainable_only=True) == round(params_m * 1e6)
    cfg = load_config(str(tmp_path / "config.yaml"), ["DATA.TRAIN_JITTER_SCALES", "[256, 320]"])
    assert cfg.TASK == "ssl"
