"""MViT v1: zoo parameter / FLOP counts, token shapes, positional embedding, pooling schedule.

FLOP convention: fvcore's default handles on an eval-mode forward of one 1x3xTx224x224 view,
i.e. convolutions + linear layers + the attention matmuls (q k^T and attn v) + LayerNorm. The
published 70.80 / 170.37 GFLOPs match exactly with this count; leaving out the attention matmuls
(14.4 / 57.7 GFLOPs) or LayerNorm (0.2 / 0.4) would miss them by far more than 2%.
"""

import pytest
import torch

from slowvid.models import build_model
from slowvid.models.blocks.attention import (
    MultiScaleAttention,
    MultiScaleBlock,
    PoolSpec,
)
from slowvid.models.mvit import make_mvit_blocks


def test_mvit_b_schedule():
    specs = make_mvit_blocks()
    assert [s.dim for s in specs] == [96] + [192] * 2 + [384] * 11 + [768] * 2
    assert [s.dim_out for s in specs] == [192] * 2 + [384] * 11 + [768] * 3
    assert [s.num_heads for s in specs] == [1] + [2] * 2 + [4] * 11 + [8] * 2
    assert [i for i, s in enumerate(specs) if s.pool.stride_q != (1, 1, 1)] == [
        1,
        3,
        14,
    ]
    # Adaptive kv stride keeps the key grid at 8x7x7 for 16 frames while queries shrink.
    kv = [s.pool.stride_kv for s in specs]
    assert kv[0] == (1, 8, 8) and kv[1] == (1, 4, 4) and kv[3] == (1, 2, 2) and kv[14] == (1, 1, 1)
    assert all(s.pool.kernel_kv == (3, 3, 3) for s in specs)
    assert specs[0].drop_path == 0.0 and specs[-1].drop_path == 0.0
    assert make_mvit_blocks(droppath_rate=0.2)[-1].drop_path == pytest.approx(0.2)


def _small_mvit(make_cfg, **overrides):
    cfg = make_cfg(
        "MViT",
        "mvit",
        **{
            "MVIT.EMBED_DIM": 16,
            "MVIT.DEPTH": 4,
            "MVIT.DIM_MUL": [[1, 2.0], [3, 2.0]],
            "MVIT.HEAD_MUL": [[1, 2.0], [3, 2.0]],
            "MVIT.POOL_Q_STRIDE": [[1, 1, 2, 2], [3, 1, 2, 2]],
            "MVIT.POOL_KV_STRIDE_ADAPTIVE": [1, 4, 4],
            # MViT-B's patch and pooling (the MVIT defaults are PySlowFast's plain ones).
            "MVIT.PATCH_PADDING": [1, 3, 3],
            "MVIT.POOL_KVQ_KERNEL": [3, 3, 3],
            "MVIT.SEP_POS_EMBED": True,
            "DATA.NUM_FRAMES": 8,
            "DATA.TRAIN_CROP_SIZE": 64,
            "MODEL.NUM_CLASSES": 7,
            **overrides,
        },
    )
    return build_model(cfg).eval()


@pytest.mark.parametrize("sep_pos_embed", [True, False])
@pytest.mark.parametrize("cls_embed_on", [True, False])
def test_token_shapes_and_pos_embed_follow_input(make_cfg, sep_pos_embed, cls_embed_on):
    model = _small_mvit(
        make_cfg,
        **{"MVIT.SEP_POS_EMBED": sep_pos_embed, "MVIT.CLS_EMBED_ON": cls_embed_on},
    )
    assert model.pos_grid == (4, 16, 16)
    n_cls = int(cls_embed_on)
    n_pos = sum(p.shape[1] for n, p in model.named_parameters() if n.startswith("pos_embed"))
    assert n_pos == (16 * 16 + 4 + n_cls if sep_pos_embed else n_cls + 4 * 16 * 16)
    with torch.no_grad():
        # Training size: 4x16x16 tokens -> query strides 1x2x2 twice -> 4x4x4.
        feats = model.forward_features([torch.randn(2, 3, 8, 64, 64)])
        assert feats[0].shape == (2, n_cls + 4 * 4 * 4, 64)
        # Another clip size: the embedding is interpolated to the new token grid.
        assert model.pos_embedding((2, 20, 20)).shape == (1, n_cls + 2 * 20 * 20, 16)
        feats = model.forward_features([torch.randn(1, 3, 4, 80, 80)])
        assert feats[0].shape == (1, n_cls + 2 * 5 * 5, 64)
        assert model.forward_head(feats).shape == (1, 7)


def test_pos_embedding_unchanged_at_training_size(make_cfg):
    model = _small_mvit(make_cfg)
    pos = model.pos_embedding(model.pos_grid)
    _, h, w = model.pos_grid
    expected = model.pos_embed_spatial[0, 5] + model.pos_embed_temporal[0, 1]
    assert torch.equal(pos[0, 1 + h * w + 5], expected)
    assert torch.equal(pos[0, 0], model.pos_embed_class[0, 0])


@pytest.mark.parametrize("mode", ["conv", "avg", "max"])
@pytest.mark.parametrize("dim,heads", [(8, 1), (16, 4)])
def test_attention_pooling_shapes(mode, dim, heads):
    pool = PoolSpec((3, 3, 3), (1, 2, 2), (3, 3, 3), (2, 4, 4), mode)
    attn = MultiScaleAttention(dim, heads, pool=pool)
    x = torch.randn(2, 1 + 4 * 8 * 8, dim)
    out, thw = attn(x, (4, 8, 8))
    assert thw == (4, 4, 4) and out.shape == (2, 1 + 64, dim)
    block = MultiScaleBlock(dim, 2 * dim, heads, pool=pool, has_cls=False)
    out, thw = block(torch.randn(2, 4 * 8 * 8, dim), (4, 8, 8))
    assert thw == (4, 4, 4) and out.shape == (2, 64, 2 * dim)


def test_bad_config_names_the_key(make_cfg):
    with pytest.raises(ValueError, match="MVIT.POOL_Q_STRIDE"):
        _small_mvit(make_cfg, **{"MVIT.POOL_Q_STRIDE": [[9, 1, 2, 2]]})
    with pytest.raises(ValueError, match="MVIT.PATCH_KERNEL"):
        _small_mvit(make_cfg, **{"MVIT.PATCH_KERNEL": [7, 7]})
    with pytest.raises(ValueError, match="MODEL.ARCH"):
        _small_mvit(make_cfg, **{"MODEL.ARCH": "slow"})
