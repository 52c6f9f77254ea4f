"""TimeSformer against transformers' TimesformerForVideoClassification, the original release's
checkpoint layout, and its clip-size handling."""

import pytest
import torch

from slowvid.checkpoint import load_checkpoint
from slowvid.models import build_model, count_parameters
from slowvid.models.heads import TokenHead
from slowvid.models.timesformer import TimeSformer


def timesformer(num_classes=5, embed_dim=768, **kwargs):
    """A TimeSformer with the head from_config gives it (class token, no dropout)."""
    return TimeSformer(head=TokenHead([embed_dim], num_classes), embed_dim=embed_dim, **kwargs)


transformers = pytest.importorskip("transformers")


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    # Random weights away from their initial values (zero biases, unit norms, zero temporal_fc).
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.mark.parametrize(
    "attention,width,heads,frames",
    [
        ("divided_space_time", 64, 4, 4),
        ("joint_space_time", 64, 4, 4),
        # TimeSformer's widths (ViT-B: 768, 12 heads, MLP 3072) with 2 of its 12 layers.
        ("divided_space_time", 768, 12, 2),
    ],
)
def test_matches_transformers_timesformer(tmp_path, attention, width, heads, frames):
    config = transformers.TimesformerConfig(
        image_size=32,
        num_frames=frames,
        hidden_size=width,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=4 * width,
        attention_type=attention,
        num_labels=7,
    )
    reference = _perturbed(transformers.TimesformerForVideoClassification(config))
    torch.save(reference.state_dict(), tmp_path / "timesformer.bin")
    model = timesformer(
        num_classes=7,
        depth=2,
        embed_dim=width,
        num_heads=heads,
        input_size=(frames, 32, 32),
        attention_type=attention,
    ).eval()
    load_checkpoint(str(tmp_path / "timesformer.bin"), model)
    clip = torch.randn(2, 3, frames, 32, 32)
    with torch.no_grad():
        expected = reference(pixel_values=clip.transpose(1, 2)).logits
        assert (model([clip]) - expected).abs().max() <= 1e-4


def test_size_equals_transformers():
    # TimeSformer 8 x 224 with 400 classes: 121.57 M as transformers builds it.
    with torch.device("meta"):
        reference = transformers.TimesformerForVideoClassification(
            transformers.TimesformerConfig(num_labels=400)
        )
        model = timesformer(num_classes=400)
    assert count_parameters(model) == count_parameters(reference) == 121_566_352


def test_original_release_layout_and_other_clip_sizes(tmp_path):
    # The TimeSformer release's .pyth: "model." prefix, patch_embed.proj, head.
    source = _perturbed(
        timesformer(num_classes=5, depth=2, embed_dim=32, num_heads=4, input_size=(4, 32, 32))
    )
    release = {
        "model." + k.replace("patch_embed.", "patch_embed.proj.").replace("head.proj.", "head."): v
        for k, v in source.state_dict().items()
    }
    torch.save({"model_state": release}, tmp_path / "TimeSformer_divST.pyth")
    clip = torch.randn(1, 3, 4, 32, 32)
    model = timesformer(num_classes=5, depth=2, embed_dim=32, num_heads=4, input_size=(4, 32, 32))
    load_checkpoint(str(tmp_path / "TimeSformer_divST.pyth"), model)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()([clip]), source([clip]))
        # 8 frames at 64: time and space embeddings resized (nearest, as the reference).
        assert source([torch.randn(1, 3, 8, 64, 64)]).shape == (1, 5)
    # Fine-tuning the 4 x 32^2 weights at 8 x 64^2: the embeddings are resized on load.
    bigger = timesformer(num_classes=5, depth=2, embed_dim=32, num_heads=4, input_size=(8, 64, 64))
    load_checkpoint(str(tmp_path / "TimeSformer_divST.pyth"), bigger)
    assert bigger.pos_embed.shape == (1, 17, 32) and bigger.time_embed.shape == (1, 8, 32)
    torch.testing.assert_close(bigger.time_embed[0, ::2], source.time_embed[0])


def test_space_only_averages_frames(make_cfg):
    cfg = make_cfg(
        "TimeSformer",
        "vit",
        **{
            "MODEL.NUM_CLASSES": 5,
            "DATA.NUM_FRAMES": 4,
            "DATA.TRAIN_CROP_SIZE": 32,
            "TIMESFORMER.ATTENTION_TYPE": "space_only",
            "VIT.EMBED_DIM": 32,
            "VIT.NUM_HEADS": 4,
            "VIT.DEPTH": 2,
            "VIT.PATCH_SIZE": [1, 16, 16],
            "VIT.POS_EMBED": "separate",
            "VIT.CLS_EMBED_ON": True,
            "VIT.USE_MEAN_POOLING": False,
            "VIT.K_BIAS": True,
        },
    )
    model = build_model(cfg).eval()
    model.norm = torch.nn.Identity()  # compare before the final norm
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        tokens = model.forward_features([clip])[0]
        # Frames attend only within themselves; their outputs are averaged.
        per_frame = [
            model.forward_features([clip[:, :, i : i + 1].expand(-1, -1, 4, -1, -1)])[0]
            for i in range(4)
        ]
    assert tokens.shape == (2, 5, 32) and not hasattr(model, "time_embed")
    torch.testing.assert_close(tokens, torch.stack(per_frame).mean(0), atol=1e-5, rtol=1e-5)


def test_config_must_describe_a_timesformer(make_cfg):
    cfg = make_cfg("TimeSformer", "vit", **{"VIT.PATCH_SIZE": [2, 16, 16]})
    with pytest.raises(ValueError, match=r"VIT.PATCH_SIZE\[0\] is 2, needs 1.*VIT.POS_EMBED"):
        build_model(cfg)
