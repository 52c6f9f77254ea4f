"""Masked pre-training: masks, targets, the VideoMAE loss against ``transformers``, PySlowFast's
MaskMViT (MAE-ST and MaskFeat) and how pre-training checkpoints reach fine-tuning models.

Parity: ``transformers.VideoMAEForPreTraining`` with random weights (perturbed so that biases and
norms are not at their initial values), loaded through slowvid's registered converter, must give
the same loss and predictions as slowvid's MaskedAutoencoder for the same clip and mask.
"""

import math

import pytest
import torch

from slowvid.checkpoint import load_checkpoint
from slowvid.config import get_cfg
from slowvid.models import build_model, count_parameters
from slowvid.models.heads import TokenHead
from slowvid.models.ssl import (
    HOG,
    DecoderSpec,
    MAEDecoder,
    MaskedAutoencoder,
    PixelTarget,
    ViTEncoder,
    patchify,
    random_token_mask,
    visible_indices,
)
from slowvid.models.vit import VisionTransformer

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@pytest.mark.parametrize("tube", [True, False])
def test_masks_hide_the_configured_share(tube):
    mask = random_token_mask(3, (4, 5, 5), 0.9, tube)
    assert mask.shape == (3, 100) and mask.dtype == torch.bool
    # VideoMAE masks int(0.9 * 25) = 22 positions per frame; MAE-ST keeps int(100 * (1 - 0.9)),
    # which is 9 in floating point (PySlowFast computes it so too).
    assert (mask.sum(1) == (88 if tube else 91)).all()
    frames = mask.view(3, 4, 25)
    assert (frames == frames[:, :1]).all() == tube  # tubes: the same positions in every frame
    assert not torch.equal(mask[0], mask[1])  # a draw per sample
    visible = visible_indices(mask)
    assert (visible.diff(dim=1) > 0).all()  # raster order
    assert torch.equal(torch.gather(mask, 1, visible), torch.zeros_like(visible, dtype=torch.bool))
    with pytest.raises(ValueError, match="MASK_RATIO"):
        random_token_mask(1, (2, 2, 2), 1.0, False)


def test_patchify_layout_is_frame_row_column_channel():
    clip = torch.arange(2 * 3 * 4 * 4 * 6, dtype=torch.float).view(2, 3, 4, 4, 6)
    tokens = patchify(clip, (2, 2, 3))
    assert tokens.shape == (2, 2 * 2 * 2, 2 * 2 * 3 * 3)
    # Token (t=1, h=0, w=1) of sample 1; its element (frame 1, row 0, column 2, channel 2).
    token = 1 * 4 + 0 * 2 + 1
    element = ((1 * 2 + 0) * 3 + 2) * 3 + 2
    assert tokens[1, token, element] == clip[1, 2, 2 + 1, 0 + 0, 3 + 2]


def test_pixel_targets_normalise_per_channel_or_per_patch():
    torch.manual_seed(0)
    pixels = torch.rand(2, 3, 4, 8, 8)  # on [0, 1]
    mean, std = IMAGENET
    normalised = (pixels - torch.tensor(mean).view(3, 1, 1, 1)) / torch.tensor(std).view(3, 1, 1, 1)
    videomae = PixelTarget((2, 4, 4), norm="channel", mean=mean, std=std)(normalised)
    per_channel = videomae.view(2, 8, 32, 3)
    torch.testing.assert_close(per_channel.mean(2), torch.zeros(2, 8, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_channel.std(2), torch.ones(2, 8, 3), atol=1e-4, rtol=0)
    # Un-normalised first: the same as targets of the raw pixels.
    torch.testing.assert_close(videomae, PixelTarget((2, 4, 4), norm="channel")(pixels))
    patch = PixelTarget((2, 4, 4), time_stride=True, norm="patch")(pixels)
    assert patch.shape == (2, 8, 48)  # one frame of each 2-frame tubelet
    raw = patchify(pixels[:, :, ::2], (1, 4, 4))
    expected = (raw - raw.mean(-1, keepdim=True)) / (raw.var(-1, keepdim=True) + 1e-6).sqrt()
    torch.testing.assert_close(patch, expected)


def test_hog_puts_a_ramp_in_its_orientation_bin():
    hog = HOG(num_bins=9, cell=8)
    x = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 3, 16, 16)  # brightness grows to the right
    for image, bin_ in ((x, 4), (x.transpose(-1, -2), 0)):  # gradient along x, then along y
        cells = hog(image.contiguous())
        assert cells.shape == (1, 3, 9, 2, 2)
        torch.testing.assert_close(cells[:, :, bin_], torch.ones(1, 3, 2, 2))
        assert cells.sum() == pytest.approx(12.0)  # nothing in the other bins


def _vit(num_classes: int, embed_dim: int, **kwargs) -> VisionTransformer:
    """A mean-pooling ViT with the head its from_config gives it."""
    norm = torch.nn.LayerNorm(embed_dim, eps=1e-6)
    head = TokenHead([embed_dim], num_classes, use_cls=False, norm=norm)
    return VisionTransformer(head=head, embed_dim=embed_dim, **kwargs)


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.mark.parametrize(
    "width,heads,decoder_width,ratio", [(64, 4, 128, 0.75), (768, 12, 384, 0.9)]
)
def test_loss_equals_transformers_videomae_pretraining(
    tmp_path, width, heads, decoder_width, ratio
):
    # A small model, then ViT-B's widths with VideoMAE-B's decoder (384, 6 heads) on 1 + 1
    # blocks of a small clip; the depth only repeats the same layers.
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.VideoMAEConfig(
        image_size=32,
        num_frames=4,
        hidden_size=width,
        num_hidden_layers=2 if width < 128 else 1,
        num_attention_heads=heads,
        intermediate_size=4 * width,
        decoder_hidden_size=decoder_width,
        decoder_num_hidden_layers=2 if width < 128 else 1,
        decoder_num_attention_heads=decoder_width // 64,
        decoder_intermediate_size=4 * decoder_width,
        use_mean_pooling=False,
        norm_pix_loss=True,
    )
    reference = _perturbed(transformers.VideoMAEForPreTraining(config))
    torch.save(reference.state_dict(), tmp_path / "videomae.bin")
    encoder = ViTEncoder(
        depth=config.num_hidden_layers,
        embed_dim=width,
        num_heads=heads,
        input_size=(4, 32, 32),
        norm_eps=config.layer_norm_eps,
    )
    target = PixelTarget((2, 16, 16), norm="channel", mean=IMAGENET[0], std=IMAGENET[1])
    # transformers' decoder blocks use layer_norm_eps, its last norm nn.LayerNorm's 1e-5.
    spec = DecoderSpec(
        decoder_width,
        config.decoder_num_hidden_layers,
        decoder_width // 64,
        norm_eps=config.layer_norm_eps,
        final_norm_eps=1e-5,
    )
    decoder = MAEDecoder(width, target.num_outputs(), encoder.pos_grid, spec)
    model = MaskedAutoencoder(encoder=encoder, decoder=decoder, target=target).eval()
    load_checkpoint(str(tmp_path / "videomae.bin"), model)
    clip = torch.randn(2, 3, 4, 32, 32)
    mask = random_token_mask(2, encoder.pos_grid, ratio, tube=True)
    with torch.no_grad():
        expected = reference(pixel_values=clip.transpose(1, 2), bool_masked_pos=mask)
        predictions, targets, _ = model.reconstruct(clip, mask)
    loss = torch.nn.functional.mse_loss(predictions, targets)
    assert abs(loss.item() - expected.loss.item()) <= 1e-5 * expected.loss.item()
    assert (predictions - expected.logits).abs().max() <= 1e-4


def _tiny_mae(**spec) -> MaskedAutoencoder:
    encoder = ViTEncoder(
        depth=2, embed_dim=32, num_heads=2, input_size=(4, 32, 32), patch=(2, 8, 8)
    )
    target = PixelTarget((2, 8, 8))
    decoder = MAEDecoder(32, target.num_outputs(), encoder.pos_grid, DecoderSpec(16, 1, 1, **spec))
    return MaskedAutoencoder(encoder=encoder, decoder=decoder, target=target, mask_ratio=0.75)


def test_pretraining_checkpoint_fine_tunes_a_vit_without_its_decoder(tmp_path):
    mae = _perturbed(_tiny_mae())
    torch.save({"model_state": mae.state_dict(), "epoch": 3}, tmp_path / "pretrain.pyth")
    vit = _vit(5, 32, depth=2, num_heads=2, input_size=(4, 32, 32), patch=(2, 8, 8))
    head = vit.head.proj.weight.clone()
    load_checkpoint(str(tmp_path / "pretrain.pyth"), vit)
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit.embed(clip)[0], mae.encoder.embed(clip)[0])
        tokens = vit.embed(clip)[0]
        # The blocks are the encoder's; its final norm is dropped (the head normalises).
        x, y = tokens, tokens
        for a, b in zip(vit.blocks, mae.encoder.blocks, strict=True):
            x, y = a(x), b(y)
        torch.testing.assert_close(x, y)
    assert torch.equal(vit.head.proj.weight, head)


def test_transformers_pretraining_checkpoint_loads_into_a_vit(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.VideoMAEConfig(
        image_size=32,
        num_frames=4,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=128,
        decoder_hidden_size=16,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=1,
        decoder_intermediate_size=32,
        use_mean_pooling=False,
    )
    reference = _perturbed(transformers.VideoMAEForPreTraining(config))
    torch.save(reference.state_dict(), tmp_path / "pretrain.bin")
    vit = _vit(3, 32, depth=1, num_heads=2, input_size=(4, 32, 32))
    load_checkpoint(str(tmp_path / "pretrain.bin"), vit)
    attention = reference.videomae.encoder.layer[0].attention.attention
    assert torch.equal(vit.blocks[0].attn.q_bias, attention.query.bias)
    assert torch.equal(vit.blocks[0].attn.qkv.weight[32:64], attention.key.weight)


def _mae_cfg(**keys):
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.MODEL.LOSS_FUNC = "MaskMViT", "maskmvit", "multi_mse"
    cfg.DATA.INPUT_CHANNEL_NUM, cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = [3], 4, 32
    values = {
        "MVIT.PATCH_KERNEL": [2, 16, 16],
        "MVIT.PATCH_STRIDE": [2, 16, 16],
        "MVIT.PATCH_PADDING": [0, 0, 0],
        "MVIT.EMBED_DIM": 64,
        "MVIT.NUM_HEADS": 2,
        "MVIT.DEPTH": 2,
        "MVIT.SEP_POS_EMBED": True,
        "MVIT.ZERO_DECAY_POS_CLS": True,
        "MASK.ENABLE": True,
        "MASK.MAE_ON": True,
        "MASK.MAE_RND_MASK": True,
        "MASK.PRETRAIN_DEPTH": [1],
        "MASK.HEAD_TYPE": "separate_xformer",
        "MASK.DECODER_DEPTH": 1,
        "MASK.DECODER_EMBED_DIM": 64,
        "AUG.MASK_RATIO": 0.5,
    }
    values.update(keys)
    for key, value in values.items():
        node, leaf = key.split(".")
        cfg[node][leaf] = value
    return cfg


def test_maskmvit_mae_keys_shape_the_decoder():
    model = build_model(_mae_cfg())
    names = {n for n, _ in model.named_parameters()}
    assert "decoder.pos_embed" in names and "decoder.pos_embed_spatial" not in names
    assert len(model.decoder.blocks) == 1 and model.decoder.head.out_features == 16 * 16 * 3
    assert "decoder.pos_embed" in model.no_weight_decay()
    out = model([torch.randn(2, 3, 4, 32, 32)])["loss"]
    out.backward()
    sep = build_model(_mae_cfg(**{"MASK.DECODER_SEP_POS_EMBED": True}))
    assert hasattr(sep.decoder, "pos_embed_spatial") and hasattr(sep.decoder, "pos_embed_class")
    full = build_model(_mae_cfg(**{"MASK.TIME_STRIDE_LOSS": False, "MASK.HEAD_TYPE": "separate"}))
    assert full.decoder.head.out_features == 2 * 16 * 16 * 3 and len(full.decoder.blocks) == 0
    assert full.target.norm == "patch"
    assert build_model(_mae_cfg(**{"MASK.NORM_PRED_PIXEL": False})).target.norm == "none"


@pytest.mark.parametrize(
    "keys,message",
    [
        ({"MASK.ENABLE": False}, "MASK.ENABLE"),
        ({"MASK.MAE_RND_MASK": False}, "MAE_RND_MASK"),
        ({"MASK.PRED_HOG": True}, "PRED_HOG"),
        ({"MASK.PRETRAIN_DEPTH": [5]}, "PRETRAIN_DEPTH"),
        ({"MASK.HEAD_TYPE": "joint"}, "HEAD_TYPE"),
    ],
)
def test_maskmvit_key_conflicts_name_the_key(keys, message):
    with pytest.raises(ValueError, match=message):
        build_model(_mae_cfg(**keys))


def _maskfeat_cfg(**keys):
    base = {
        "MASK.MAE_ON": False,
        "MASK.MAE_RND_MASK": False,
        "MASK.PRED_HOG": True,
        "MASK.PRETRAIN_DEPTH": [1, 3],
        "MASK.HEAD_TYPE": "separate",
        "DATA.TRAIN_CROP_SIZE": 32,
        "MVIT.PATCH_KERNEL": [3, 7, 7],
        "MVIT.PATCH_STRIDE": [2, 4, 4],
        "MVIT.PATCH_PADDING": [1, 3, 3],
        "MVIT.EMBED_DIM": 8,
        "MVIT.NUM_HEADS": 1,
        "MVIT.DEPTH": 4,
        "MVIT.DIM_MUL": [[1, 2.0], [3, 2.0]],
        "MVIT.HEAD_MUL": [[1, 2.0], [3, 2.0]],
        "MVIT.POOL_Q_STRIDE": [[1, 1, 2, 2], [3, 1, 2, 2]],
        "MVIT.POOL_KVQ_KERNEL": [3, 3, 3],
        "MVIT.POOL_KV_STRIDE_ADAPTIVE": [1, 4, 4],
        "MVIT.USE_ABS_POS": False,
        "MVIT.REL_POS_SPATIAL": True,
        "MVIT.REL_POS_TEMPORAL": True,
        "MVIT.RESIDUAL_POOLING": True,
        "MVIT.DIM_MUL_IN_ATT": True,
    }
    return _mae_cfg(**{**base, **keys})


@pytest.fixture
def one_thread():
    """Torch on one thread: this tiny MViT's small convolutions spin against other processes
    on a shared 2-core machine with a second thread (33 s against 1 s, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_maskfeat_predicts_hog_of_masked_cubes_and_learns(one_thread):
    torch.manual_seed(0)
    model = build_model(_maskfeat_cfg())
    # Blocks 1 and 3 end on 4x4 and 2x2 grids of 8 and 16 px: 1 and 4 HOG cells per token.
    assert [h[1].out_features for h in model.heads] == [9 * 3 * 1, 9 * 3 * 4]
    assert model.encoder.norm.__class__.__name__ == "Identity"
    clip = torch.randn(2, 3, 4, 32, 32)
    mask = torch.zeros(2, 1, 2, 4, 4)
    mask[:, :, :, :2] = 1  # the top half of each (loader-sized) grid
    with pytest.raises(ValueError, match="GEN_MASK_LOADER"):
        model([clip])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = model([clip, mask])["loss"]
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0], losses
    pixels = build_model(_maskfeat_cfg(**{"MASK.PRED_HOG": False, "MASK.MAE_RND_MASK": True}))
    # Pixels of one frame per tubelet over each block's 8 and 16 px stride.
    assert [h[1].out_features for h in pixels.heads] == [8 * 8 * 3, 16 * 16 * 3]
    assert math.isfinite(pixels([clip])["loss"].item())


def test_masked_autoencoder_reads_its_keys():
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.MODEL.LOSS_FUNC = (
        "MaskedAutoencoder",
        "vit",
        "multi_mse",
    )
    cfg.DATA.INPUT_CHANNEL_NUM, cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = [3], 4, 32
    cfg.VIT.DEPTH, cfg.VIT.EMBED_DIM, cfg.VIT.NUM_HEADS, cfg.VIT.PATCH_SIZE = 3, 32, 2, [2, 8, 8]
    cfg.MASK.ENABLE, cfg.MASK.DECODER_EMBED_DIM, cfg.MASK.DECODER_DEPTH = True, 64, 2
    cfg.MASK.PRETRAIN_DEPTH, cfg.MASK.TIME_STRIDE_LOSS = [1], False
    cfg.AUG.MASK_RATIO, cfg.AUG.MASK_TUBE = 0.5, True
    model = build_model(cfg)
    assert len(model.encoder.blocks) == 2  # cut after block 1
    assert model.decoder.blocks[0].attn.num_heads == 1 and len(model.decoder.blocks) == 2
    assert model.decoder.head.out_features == 2 * 8 * 8 * 3
    _, _, mask = model.reconstruct(torch.randn(2, 3, 4, 32, 32))
    assert (mask.sum(1) == 2 * 8).all()  # half of each 4x4 frame, the same in both frames
    cfg.MASK.ENABLE = False
    with pytest.raises(ValueError, match="MASK.ENABLE"):
        build_model(cfg)
    assert count_parameters(model) > 0
