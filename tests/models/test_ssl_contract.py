"""The VideoModel contract as self-supervised models keep it: the input spec of the network they
pre-train (read before building, SlowFast's two pathways included), its features and feature
layers, a loss instead of logits, no classifier; every registered one is covered."""

import copy

import pytest
import torch

from slowvid.config import get_cfg
from slowvid.engine.parallel import checkpoint_blocks
from slowvid.models import VideoModel, build_model, input_spec_of, model_class
from slowvid.models.ssl import SelfSupervisedModel
from slowvid.registry import MODELS

_VIT = {
    "DATA.NUM_FRAMES": 4,
    "DATA.TRAIN_CROP_SIZE": 32,
    "VIT.DEPTH": 2,
    "VIT.EMBED_DIM": 32,
    "VIT.NUM_HEADS": 2,
    "VIT.PATCH_SIZE": [2, 16, 16],
}
CASES = {
    "MaskedAutoencoder-vit": {
        **_VIT,
        "MODEL.MODEL_NAME": "MaskedAutoencoder",
        "MODEL.ARCH": "vit",
        "MODEL.LOSS_FUNC": "multi_mse",
        "MASK.ENABLE": True,
        "MASK.DECODER_EMBED_DIM": 16,
        "MASK.DECODER_DEPTH": 1,
        "MASK.PRETRAIN_DEPTH": [1],
        "AUG.MASK_RATIO": 0.5,
    },
    "MaskMViT-maskmvit": {
        "MODEL.MODEL_NAME": "MaskMViT",
        "MODEL.ARCH": "maskmvit",
        "MODEL.LOSS_FUNC": "multi_mse",
        "DATA.NUM_FRAMES": 4,
        "DATA.TRAIN_CROP_SIZE": 32,
        "MVIT.PATCH_KERNEL": [2, 16, 16],
        "MVIT.PATCH_STRIDE": [2, 16, 16],
        "MVIT.PATCH_PADDING": [0, 0, 0],
        "MVIT.EMBED_DIM": 16,
        "MVIT.NUM_HEADS": 2,
        "MVIT.DEPTH": 2,
        "MASK.ENABLE": True,
        "MASK.MAE_ON": True,
        "MASK.MAE_RND_MASK": True,
        "MASK.PRETRAIN_DEPTH": [1],
        "MASK.HEAD_TYPE": "separate_xformer",
        "MASK.DECODER_DEPTH": 1,
        "MASK.DECODER_EMBED_DIM": 16,
        "AUG.MASK_RATIO": 0.5,
    },
    "ContrastiveModel-vit": {
        **_VIT,
        "MODEL.MODEL_NAME": "ContrastiveModel",
        "MODEL.ARCH": "vit",
        "MODEL.LOSS_FUNC": "contrastive_loss",
        "MODEL.NUM_CLASSES": 8,
        "CONTRASTIVE.DIM": 8,
        "CONTRASTIVE.MLP_DIM": 16,
        "DATA.TRAIN_CROP_NUM_TEMPORAL": 2,
    },
    "ContrastiveModel-slowfast": {
        "MODEL.MODEL_NAME": "ContrastiveModel",
        "MODEL.ARCH": "slowfast",
        "MODEL.LOSS_FUNC": "contrastive_loss",
        "MODEL.NUM_CLASSES": 8,
        "CONTRASTIVE.DIM": 8,
        "CONTRASTIVE.MLP_DIM": 16,
        "CONTRASTIVE.TYPE": "byol",
        "CONTRASTIVE.PREDICTOR_DEPTHS": [2],
        "DATA.TRAIN_CROP_NUM_TEMPORAL": 2,
        "DATA.NUM_FRAMES": 8,
        "DATA.TRAIN_CROP_SIZE": 32,
        "DATA.INPUT_CHANNEL_NUM": [3, 3],
        "RESNET.DEPTH": 18,
        "RESNET.WIDTH_PER_GROUP": 8,
        "SLOWFAST.ALPHA": 4,
    },
}


def _cfg(case: str):
    cfg = get_cfg()
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    for key, value in CASES[case].items():
        node, leaf = key.split(".")
        cfg[node][leaf] = value
    return cfg


def test_every_self_supervised_model_is_covered():
    registered = {name for name, cls in MODELS if issubclass(cls, SelfSupervisedModel)}
    assert registered == {case.split("-")[0] for case in CASES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_declared_interface(case):
    torch.manual_seed(0)
    cfg = _cfg(case)
    model = build_model(cfg)
    assert isinstance(model, VideoModel) and isinstance(model, SelfSupervisedModel)
    assert model.input_spec == type(model).input_spec_from_config(cfg) == input_spec_of(cfg)
    views = cfg.DATA.TRAIN_CROP_NUM_TEMPORAL
    inputs, _ = model.example_inputs(2 * views, cfg.DATA.NUM_FRAMES, 32)
    assert len(inputs) == model.input_spec.num_pathways == len(cfg.DATA.INPUT_CHANNEL_NUM)

    out = model(inputs)
    assert set(out) == {"loss"} and out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert any(p.grad is not None for p in model.parameters())

    hooked = {}
    for layer in model.feature_layers:
        model.get_submodule(layer).register_forward_hook(
            lambda _m, _a, o, layer=layer: hooked.__setitem__(layer, o)
        )
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        features = model.forward_features(inputs)
        model(inputs)  # evaluation changes no state
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert len(features) == len(model.feature_dims) == len(model.feature_layers)
    for feature, dim in zip(features, model.feature_dims, strict=True):
        assert feature.shape[0] == 2 * views
        assert (feature.shape[1] if feature.dim() == 5 else feature.shape[-1]) == dim
    with pytest.raises(TypeError, match="ssl_eval"):
        model.reset_head(3)


@pytest.mark.parametrize("case", sorted(CASES))
def test_architecture_and_pathways_are_checked(case):
    cfg = _cfg(case)
    cls = model_class(cfg)
    cfg.MODEL.ARCH = "no_such_arch"
    with pytest.raises(ValueError, match="MODEL.ARCH 'no_such_arch'"):
        cls.arch_of(cfg)
    cfg = _cfg(case)
    cfg.DATA.INPUT_CHANNEL_NUM = [3] * (len(cfg.DATA.INPUT_CHANNEL_NUM) + 1)
    with pytest.raises(ValueError, match="DATA.INPUT_CHANNEL_NUM"):
        cls.input_spec_from_config(cfg)


@pytest.mark.parametrize("case", sorted(CASES))
def test_activation_checkpointing_keeps_the_loss_and_gradients(case):
    # MODEL.ACT_CHECKPOINT wraps the declared blocks (encoder's and decoder's); masks drawn in
    # the forward pass are redrawn identically when a block is recomputed.
    torch.manual_seed(0)
    cfg = _cfg(case)
    plain = build_model(cfg)
    wrapped = copy.deepcopy(plain)
    assert checkpoint_blocks(wrapped) >= 2
    inputs, _ = plain.example_inputs(2 * cfg.DATA.TRAIN_CROP_NUM_TEMPORAL, cfg.DATA.NUM_FRAMES, 32)
    losses = []
    for model in (plain, wrapped):
        torch.manual_seed(1)
        loss = model(inputs)["loss"]
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    grads = {n: p.grad for n, p in plain.named_parameters() if p.grad is not None}
    assert grads
    compared = 0
    for name, p in wrapped.named_parameters():
        name = name.replace("._checkpoint_wrapped_module", "")
        if name in grads:
            torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-6)
            compared += 1
    assert compared == len(grads)
