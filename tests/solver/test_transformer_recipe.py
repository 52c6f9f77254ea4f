"""The ViT fine-tuning recipe keys (PySlowFast's names): SOLVER.LAYER_DECAY,
SOLVER.ZERO_WD_1D_PARAM, VIT/MVIT.ZERO_DECAY_POS_CLS and SOLVER.COSINE_AFTER_WARMUP, each
checked by what it does to a real optimizer step or schedule."""

import math

import pytest
import torch

from slowvid.config import get_cfg
from slowvid.models import build_model
from slowvid.solver import build_lr_schedule, build_optimizer, layer_ids, set_lr


def _vit_cfg(**solver):
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES = "VisionTransformer", "vit", 4
    cfg.DATA.INPUT_CHANNEL_NUM, cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = [3], 4, 32
    cfg.VIT.DEPTH, cfg.VIT.EMBED_DIM, cfg.VIT.NUM_HEADS = 3, 16, 2
    cfg.VIT.POS_EMBED, cfg.VIT.CLS_EMBED_ON = "separate", True
    cfg.SOLVER.OPTIMIZING_METHOD, cfg.SOLVER.BASE_LR, cfg.SOLVER.WEIGHT_DECAY = "sgd", 0.1, 0.5
    cfg.SOLVER.MOMENTUM, cfg.SOLVER.NESTEROV = 0.0, False
    for key, value in solver.items():
        setattr(cfg.SOLVER, key, value)
    return cfg


def _step_with_unit_grads(model, optimizer, lr):
    set_lr(optimizer, lr)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    return {n: (before[n] - p.detach()) for n, p in model.named_parameters()}


def test_layer_decay_scales_each_blocks_step():
    cfg = _vit_cfg(LAYER_DECAY=0.5)
    cfg.SOLVER.WEIGHT_DECAY = 0.0
    model = build_model(cfg)
    ids, depth = layer_ids(model)
    assert depth == 3
    assert ids["patch_embed.weight"] == ids["cls_token"] == ids["pos_embed_spatial"] == 0
    assert ids["blocks.2.attn.qkv.weight"] == 3 and ids["head.proj.weight"] == 4
    steps = _step_with_unit_grads(model, build_optimizer(model, cfg), lr=0.1)
    # SGD with unit gradients moves each weight by its group's rate: 0.1 * 0.5 ** (4 - layer).
    for name, expected in [
        ("head.proj.weight", 0.1),
        ("blocks.2.mlp.fc1.weight", 0.05),
        ("blocks.0.mlp.fc1.weight", 0.0125),
        ("patch_embed.weight", 0.00625),
    ]:
        torch.testing.assert_close(steps[name], torch.full_like(steps[name], expected))


def test_zero_wd_1d_and_pos_cls():
    # Zero gradients: only weight decay moves a parameter.
    def decayed(**kwargs):
        cfg = _vit_cfg(**kwargs.pop("solver", {}))
        cfg.VIT.ZERO_DECAY_POS_CLS = kwargs.pop("zero_pos_cls")
        model = build_model(cfg)
        optimizer = build_optimizer(model, cfg)
        for p in model.parameters():
            p.data.add_(1.0)  # biases start at 0, which decay leaves alone
            p.grad = torch.zeros_like(p)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        optimizer.step()
        return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}

    plain = decayed(zero_pos_cls=False)
    assert {"blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.bias", "cls_token"} <= plain
    assert "pos_embed_spatial" in plain and "blocks.0.norm1.weight" not in plain  # BN.WEIGHT_DECAY
    recipe = decayed(zero_pos_cls=True, solver={"ZERO_WD_1D_PARAM": True})
    assert "blocks.0.attn.qkv.weight" in recipe and "head.proj.weight" in recipe
    assert not recipe & {"blocks.0.mlp.fc1.bias", "head.proj.bias", "cls_token"}
    assert not any(n.startswith("pos_embed") for n in recipe)


def test_mvit_zero_decay_pos_cls_names_its_embeddings():
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.DATA.INPUT_CHANNEL_NUM = "MViT", "mvit", [3]
    cfg.MVIT.EMBED_DIM, cfg.MVIT.DEPTH, cfg.DATA.TRAIN_CROP_SIZE = 8, 2, 32
    cfg.MVIT.REL_POS_SPATIAL = True
    cfg.MVIT.ZERO_DECAY_POS_CLS = True
    names = build_model(cfg).no_weight_decay()
    assert {"cls_token", "pos_embed", "blocks.0.attn.rel_pos_h"} <= names
    cfg.MVIT.ZERO_DECAY_POS_CLS = False
    assert build_model(cfg).no_weight_decay() == set()


def test_layer_decay_needs_blocks():
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.DATA.INPUT_CHANNEL_NUM = "ResNet", "slow", [3]
    cfg.RESNET.DEPTH, cfg.RESNET.WIDTH_PER_GROUP = 18, 8
    cfg.SOLVER.LAYER_DECAY = 0.75
    with pytest.raises(ValueError, match="LAYER_DECAY.*blocks.N.*ResNet has none"):
        build_optimizer(build_model(cfg), cfg)


def test_cosine_after_warmup():
    cfg = _vit_cfg(
        LR_POLICY="cosine",
        BASE_LR=1.0,
        COSINE_END_LR=0.0,
        MAX_EPOCH=10,
        WARMUP_EPOCHS=2.0,
        WARMUP_START_LR=0.0,
    )
    plain = build_lr_schedule(cfg)
    cfg.SOLVER.COSINE_AFTER_WARMUP = True
    after = build_lr_schedule(cfg)
    # Warm-up ends at the cosine's value at epoch 2 without it, at BASE_LR with it.
    assert plain(2.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.2)))
    assert after(2.0) == pytest.approx(1.0) and after(1.0) == pytest.approx(0.5)
    # Then the cosine spans epochs 2..10: halfway at 6.
    assert after(6.0) == pytest.approx(0.5) and after(10.0) == pytest.approx(0.0)
    cfg.SOLVER.WARMUP_EPOCHS = 10.0
    with pytest.raises(ValueError, match="COSINE_AFTER_WARMUP"):
        build_lr_schedule(cfg)
