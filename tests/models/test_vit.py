"""Video ViT against transformers' VideoMAE, the VideoMAE / PySlowFast checkpoint layouts, token
subsets (masked encoding) and position-embedding interpolation.

Parity: ``transformers.VideoMAEForVideoClassification`` with random weights (perturbed so that
biases and norms are not at their initial values), converted by slowvid's registered converter
through ``load_checkpoint``, must give the same logits (max abs <= 1e-4) on the same clip.
"""

import copy

import pytest
import torch
from torch import nn

from slowvid.checkpoint import load_checkpoint
from slowvid.config import load_config
from slowvid.engine.parallel import checkpoint_blocks
from slowvid.model_zoo import REPO, VARIANTS
from slowvid.models import build_model, count_parameters
from slowvid.models.heads import TokenHead
from slowvid.models.mvit import MViT
from slowvid.models.vit import VisionTransformer

transformers = pytest.importorskip("transformers")


def vit(num_classes=5, mean_pooling=True, cls_token=False, head_norm_eps=1e-6, **kwargs):
    """A VisionTransformer with the head from_config would give it."""
    width = kwargs.get("embed_dim", 768)
    head = TokenHead(
        [width],
        num_classes,
        use_cls=not mean_pooling,
        skip_tokens=int(cls_token),
        norm=nn.LayerNorm(width, eps=head_norm_eps) if mean_pooling else None,
    )
    return VisionTransformer(head=head, mean_pooling=mean_pooling, cls_token=cls_token, **kwargs)


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.mark.parametrize(
    "width,depth,heads,frames,size",
    [
        (64, 2, 4, 4, 32),  # small
        # ViT-B's widths (768, 12 heads, MLP 3072) with 2 of its 12 identical layers, on a small
        # clip: the full depth only adds initialisation time; its size is checked below.
        (768, 2, 12, 2, 32),
    ],
)
def test_matches_transformers_videomae(tmp_path, width, depth, heads, frames, size):
    config = transformers.VideoMAEConfig(
        image_size=size,
        num_frames=frames,
        hidden_size=width,
        num_hidden_layers=depth,
        num_attention_heads=heads,
        intermediate_size=4 * width,
        num_labels=7,
    )
    reference = _perturbed(transformers.VideoMAEForVideoClassification(config))
    path = tmp_path / "videomae.bin"
    torch.save(reference.state_dict(), path)
    # transformers' blocks use layer_norm_eps (1e-12) and its fc_norm nn.LayerNorm's 1e-5.
    model = vit(
        num_classes=7,
        depth=depth,
        embed_dim=width,
        num_heads=heads,
        input_size=(frames, size, size),
        norm_eps=config.layer_norm_eps,
        head_norm_eps=1e-5,
    ).eval()
    load_checkpoint(str(path), model)
    clip = torch.randn(2, 3, frames, size, size)
    with torch.no_grad():
        expected = reference(pixel_values=clip.transpose(1, 2)).logits
        assert (model([clip]) - expected).abs().max() <= 1e-4


@pytest.mark.parametrize("size", "SBLH")
def test_sizes_equal_transformers(size):
    # The shipped VideoMAE ViT-S/B/L/H configs (400 classes) against transformers with the same
    # widths, both built on the meta device. The clip size does not change the count (the
    # sin-cos table is no parameter); a small one keeps transformers from filling its table in
    # a Python loop.
    variant = VARIANTS[f"videomae_vit_{size.lower()}_16x4"]
    opts = ["DATA.NUM_FRAMES", "2", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES"]
    cfg = load_config(str(REPO / variant.config), [*opts, "[32, 40]"])
    v = cfg.VIT
    config = transformers.VideoMAEConfig(
        image_size=32,
        num_frames=2,
        hidden_size=v.EMBED_DIM,
        num_hidden_layers=v.DEPTH,
        num_attention_heads=v.NUM_HEADS,
        intermediate_size=int(v.MLP_RATIO * v.EMBED_DIM),
        num_labels=cfg.MODEL.NUM_CLASSES,
    )
    with torch.device("meta"):
        reference = transformers.VideoMAEForVideoClassification(config)
        model = build_model(cfg)
    assert count_parameters(model) == count_parameters(reference)


def _tiny_vit(**kwargs) -> VisionTransformer:
    args = {"num_classes": 5, "depth": 2, "embed_dim": 32, "num_heads": 4}
    return vit(input_size=(4, 32, 32), **{**args, **kwargs}).eval()


def test_original_videomae_layouts_load(tmp_path):
    # VideoMAE's release names (fc_norm, head, patch_embed.proj) under "module"; its
    # pre-training files prefix the encoder and carry a decoder, which is dropped.
    source = _perturbed(_tiny_vit())
    renamed = {
        k.replace("head.norm.", "fc_norm.")
        .replace("head.proj.", "head.")
        .replace("patch_embed.", "patch_embed.proj."): v
        for k, v in source.state_dict().items()
    }
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        expected = source([clip])
    torch.save({"module": renamed}, tmp_path / "finetuned.pth")
    model = _tiny_vit()
    load_checkpoint(str(tmp_path / "finetuned.pth"), model)
    with torch.no_grad():
        torch.testing.assert_close(model([clip]), expected)
    backbone = {f"encoder.{k}": v for k, v in renamed.items() if not k.startswith(("fc_", "head"))}
    backbone["decoder.blocks.0.attn.qkv.weight"] = torch.zeros(12, 4)
    backbone["encoder_to_decoder.weight"] = torch.zeros(4, 32)
    torch.save({"model": backbone}, tmp_path / "pretrain.pth")
    model = _tiny_vit()
    load_checkpoint(str(tmp_path / "pretrain.pth"), model)  # head kept at its initial values
    assert torch.equal(model.blocks[1].attn.qkv.weight, source.blocks[1].attn.qkv.weight)


@pytest.mark.parametrize("separate_qkv", [False, True])
def test_pyslowfast_vit_checkpoint_loads_into_both_implementations(
    tmp_path, make_cfg, separate_qkv
):
    # PySlowFast's ViT is its MViT with an empty schedule (the MVIT defaults); its MAE-ST
    # fine-tuning checkpoints, in its own names, load into slowvid's MViT built the same way
    # (fused or separate q/k/v) and into VisionTransformer, and both give the source's logits.
    kwargs = {"pos_embed": "separate", "cls_token": True, "k_bias": True, "patch": (2, 8, 8)}
    source = _perturbed(_tiny_vit(**kwargs))
    pyslowfast = {
        k.replace("head.proj.", "head.projection.")
        .replace("head.norm.", "norm.")
        .replace("patch_embed.", "patch_embed.proj."): v
        for k, v in source.state_dict().items()
    }
    torch.save({"model_state": pyslowfast}, tmp_path / "vit.pyth")
    cfg = make_cfg(
        "MViT",
        "mvit",
        **{
            "MODEL.NUM_CLASSES": 5,
            "DATA.NUM_FRAMES": 4,
            "DATA.TRAIN_CROP_SIZE": 32,
            "MVIT.EMBED_DIM": 32,
            "MVIT.NUM_HEADS": 4,
            "MVIT.DEPTH": 2,
            "MVIT.PATCH_KERNEL": [2, 8, 8],
            "MVIT.PATCH_STRIDE": [2, 8, 8],
            "MVIT.PATCH_PADDING": [0, 0, 0],
            "MVIT.SEP_POS_EMBED": True,
            "MVIT.USE_MEAN_POOLING": True,
            "MVIT.SEPARATE_QKV": separate_qkv,
        },
    )
    mvit = build_model(cfg).eval()
    assert isinstance(mvit, MViT) and (mvit.blocks[0].attn.qkv is None) == separate_qkv
    vit = _tiny_vit(**kwargs)
    for model in (mvit, vit):
        load_checkpoint(str(tmp_path / "vit.pyth"), model)
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        expected = source([clip])
        torch.testing.assert_close(vit([clip]), expected)
        torch.testing.assert_close(mvit([clip]), expected, atol=1e-5, rtol=1e-5)


def test_encoder_runs_on_a_subset_of_tokens():
    model = _tiny_vit(pos_embed="learned", cls_token=True)
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        tokens, grid = model.embed(clip)
        assert grid == (2, 2, 2) and tokens.shape == (2, 8, 32)
        # All tokens: the same as the whole forward pass.
        torch.testing.assert_close(model.encode(tokens), model.forward_features([clip])[0])
        # Visible tokens only (as masked pre-training feeds them): class token + 3 tokens.
        keep = torch.tensor([[0, 3, 5], [1, 2, 7]])
        visible = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, 32))
        assert model.encode(visible).shape == (2, 4, 32)


@pytest.mark.parametrize("pos_embed", ["sincos", "learned", "separate"])
def test_position_embeddings_follow_the_clip_and_the_checkpoint(tmp_path, pos_embed):
    model = _tiny_vit(pos_embed=pos_embed)
    with torch.no_grad():
        # Another clip size at run time: 4x3x3 tokens instead of 2x2x2.
        assert model.forward_features([torch.randn(1, 3, 8, 48, 48)])[0].shape == (1, 36, 32)
    # A checkpoint trained at 4 x 32^2 fine-tuned at 8 x 48^2: learned embeddings interpolate.
    torch.save({"model_state": model.state_dict()}, tmp_path / "small.pyth")
    bigger = vit(
        num_classes=5,
        depth=2,
        embed_dim=32,
        num_heads=4,
        input_size=(8, 48, 48),
        pos_embed=pos_embed,
    )
    load_checkpoint(str(tmp_path / "small.pyth"), bigger)
    if pos_embed == "separate":
        spatial = bigger.pos_embed_spatial.reshape(3, 3, 32)
        # Bicubic 2x2 -> 3x3 keeps the mean of the corners at the centre.
        source = model.pos_embed_spatial.reshape(2, 2, 32)
        torch.testing.assert_close(spatial[1, 1], source.mean((0, 1)), atol=1e-6, rtol=1e-5)
    if pos_embed == "learned":
        assert bigger.pos_embed.shape == (1, 36, 32)


def test_vit_config_errors_name_the_key(make_cfg):
    base = {"MODEL.NUM_CLASSES": 5, "DATA.TRAIN_CROP_SIZE": 32, "VIT.EMBED_DIM": 32}
    cfg = make_cfg("VisionTransformer", "vit", **base, **{"VIT.NUM_HEADS": 4})
    assert build_model(cfg)([torch.randn(1, 3, 8, 32, 32)]).shape == (1, 5)
    with pytest.raises(ValueError, match="MODEL.ARCH"):
        build_model(make_cfg("VisionTransformer", "mvit", **base))
    with pytest.raises(ValueError, match="VIT.PATCH_SIZE"):
        build_model(make_cfg("VisionTransformer", "vit", **base, **{"VIT.PATCH_SIZE": [16, 16]}))
    with pytest.raises(ValueError, match="W=40 does not divide by 16"):
        build_model(make_cfg("VisionTransformer", "vit", **{**base, "DATA.TRAIN_CROP_SIZE": 40}))


@pytest.mark.parametrize("family", ["vit", "timesformer"])
def test_checkpointed_blocks_give_the_plain_gradients(family):
    # MODEL.ACT_CHECKPOINT / FSDP work per declared block; drop path must replay its draws.
    torch.manual_seed(0)
    if family == "vit":
        plain = _tiny_vit(droppath_rate=0.5).train()
    else:
        from slowvid.models.timesformer import TimeSformer

        plain = TimeSformer(
            head=TokenHead([32], 5),
            depth=2,
            embed_dim=32,
            num_heads=4,
            input_size=(4, 32, 32),
            droppath_rate=0.5,
        ).train()
    ckpt = copy.deepcopy(plain)
    assert checkpoint_blocks(ckpt) == len(plain.blocks) == 2
    clip = torch.randn(2, 3, 4, 32, 32)
    for model in (plain, ckpt):
        torch.manual_seed(1)
        model([clip]).logsumexp(1).sum().backward()
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for name, param in ckpt.named_parameters():
        assert torch.equal(param.grad, grads[name.replace("._checkpoint_wrapped_module", "")])
