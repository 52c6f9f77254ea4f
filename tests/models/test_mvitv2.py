"""MViTv2: the decomposed relative-position bias, residual pooling, width grown in attention.

The zoo sizes (S 16x4 34.5 M / 64.5 GFLOPs, B 32x3 51.2 M / 225) are checked with the other rows
in test_model_zoo.py, from slowvid/model_zoo/extra_targets.csv.
"""

import itertools

import pytest
import torch

from slowvid.models import build_model
from slowvid.models.blocks.attention import MultiScaleAttention, MViTv2Options, PoolSpec
from slowvid.models.blocks.relative_position import add_relative_position_bias, relative_offsets
from slowvid.models.mvit import make_mvit_blocks


def test_width_grows_in_the_attention_of_the_marked_block():
    v1, v2 = make_mvit_blocks(), make_mvit_blocks(dim_mul_in_att=True)
    assert [(s.dim, s.dim_out) for s in v1[:4]] == [(96, 192), (192, 192), (192, 384), (384, 384)]
    assert [(s.dim, s.dim_out) for s in v2[:4]] == [(96, 96), (96, 192), (192, 192), (192, 384)]
    assert [s.num_heads for s in v1] == [s.num_heads for s in v2]


def test_offsets_count_positions_on_the_finer_grid():
    assert relative_offsets(3, 3).tolist() == [[2, 1, 0], [3, 2, 1], [4, 3, 2]]
    # Keys pooled 2x: key j sits at fine position 2j.
    assert relative_offsets(4, 2).tolist() == [[2, 0], [3, 1], [4, 2], [5, 3]]


def _naive_bias(q, q_grid, k_grid, tables):
    """The bias entry by entry: q · (R_t[dt] + R_h[dh] + R_w[dw]) for every query-key pair."""
    b, heads, _, _ = q.shape
    q_pos = list(itertools.product(*map(range, q_grid)))
    k_pos = list(itertools.product(*map(range, k_grid)))
    bias = torch.zeros(b, heads, len(q_pos), len(k_pos))
    for i, qp in enumerate(q_pos):
        for j, kp in enumerate(k_pos):
            rel = 0
            for axis, name in enumerate("thw"):
                qs, ks = q_grid[axis], k_grid[axis]
                q_scale, k_scale = max(ks / qs, 1.0), max(qs / ks, 1.0)
                offset = int(qp[axis] * q_scale - kp[axis] * k_scale + (ks - 1) * k_scale)
                rel = rel + tables[name][offset]
            bias[:, :, i, j] = (q[:, :, i] * rel).sum(-1)
    return bias


@pytest.mark.parametrize("has_cls", [True, False])
@pytest.mark.parametrize("k_grid", [(2, 4, 4), (2, 2, 2)])
def test_relative_bias_equals_the_entrywise_definition(has_cls, k_grid):
    q_grid, c = (2, 4, 4), 5
    n_q, n_k = 32 + has_cls, k_grid[0] * k_grid[1] * k_grid[2] + has_cls
    q = torch.randn(2, 3, n_q, c)
    logits = torch.randn(2, 3, n_q, n_k)
    tables = {
        "t": torch.randn(2 * 2 - 1, c),
        "h": torch.randn(2 * 4 - 1, c),
        "w": torch.randn(2 * 4 - 1, c),
    }
    out = add_relative_position_bias(logits, q, q_grid, k_grid, tables, has_cls)
    s = int(has_cls)
    expected = logits.clone()
    expected[:, :, s:, s:] += _naive_bias(q[:, :, s:], q_grid, k_grid, tables)
    torch.testing.assert_close(out, expected)


def test_residual_pooling_adds_the_pooled_queries():
    pool = PoolSpec((3, 3, 3), (1, 2, 2), (3, 3, 3), (1, 2, 2))
    v2 = MViTv2Options(residual_pooling=True)
    attn = MultiScaleAttention(8, 2, pool=pool, v2=v2).eval()
    for layer in (attn.v,):  # zero values: attention contributes nothing, the residual remains
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    attn.proj = torch.nn.Identity()
    x = torch.randn(2, 1 + 2 * 4 * 4, 8)
    out, grid = attn(x, (2, 4, 4))
    q, _ = attn.pool_q(attn._heads(attn.q(x)), (2, 4, 4))
    q = q.transpose(1, 2).reshape(2, -1, 8)
    assert grid == (2, 2, 2)
    torch.testing.assert_close(out[:, 1:], q[:, 1:])
    assert torch.equal(out[:, 0], torch.zeros_like(out[:, 0]))  # no residual on the class token


def test_tiny_v2_trains_and_tests_at_another_size(make_cfg):
    cfg = make_cfg(
        "MViT",
        "mvit",
        **{
            "MVIT.EMBED_DIM": 16,
            "MVIT.DEPTH": 3,
            "MVIT.DIM_MUL": [[1, 2.0]],
            "MVIT.HEAD_MUL": [[1, 2.0]],
            "MVIT.POOL_Q_STRIDE": [[0, 1, 1, 1], [1, 1, 2, 2], [2, 1, 1, 1]],
            "MVIT.POOL_KV_STRIDE_ADAPTIVE": [1, 4, 4],
            "MVIT.USE_ABS_POS": False,
            "MVIT.REL_POS_SPATIAL": True,
            "MVIT.REL_POS_TEMPORAL": True,
            "MVIT.RESIDUAL_POOLING": True,
            "MVIT.DIM_MUL_IN_ATT": True,
            "MVIT.PATCH_PADDING": [1, 3, 3],
            "MVIT.POOL_KVQ_KERNEL": [3, 3, 3],
            "DATA.NUM_FRAMES": 8,
            "DATA.TRAIN_CROP_SIZE": 64,
            "MODEL.NUM_CLASSES": 5,
        },
    )
    model = build_model(cfg)
    # Block 1 strides its queries 16 -> 8 while keys stay pooled at 4: tables of 2*8-1 rows.
    assert model.blocks[1].attn.rel_pos_h.shape == (2 * 8 - 1, 16)
    assert model.blocks[0].attn.rel_pos_t.shape == (2 * 4 - 1, 16)
    out = model([torch.randn(2, 3, 8, 64, 64)])
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.sum().backward()
    # The head reads the class token, which takes no bias: only earlier blocks' tables learn.
    assert model.blocks[1].attn.rel_pos_w.grad.abs().sum() > 0
    assert model.blocks[2].attn.rel_pos_w.grad.abs().sum() == 0
    with torch.no_grad():  # tables are resampled for a 96 px, 4-frame test clip
        assert model.eval()([torch.randn(1, 3, 4, 96, 96)]).shape == (1, 5)
