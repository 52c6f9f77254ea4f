"""Decomposed relative-position bias of MViTv2's pooling attention.

Paper: "MViTv2: Improved Multiscale Vision Transformers", Li et al., arXiv:2112.01526, §4.1.

The bias between a query at (t, h, w) and a key at (t', h', w') is ``q · (R_t[t - t'] +
R_h[h - h'] + R_w[w - w'])``: one table per axis instead of one per (t, h, w) offset. Queries and
keys may sit on grids of different resolution (pooled keys); offsets are then measured on the
finer grid, as in the paper and PySlowFast, so checkpoints of either behave the same here.
"""

import math

import torch
import torch.nn.functional as F

__all__ = [
    "add_relative_position_bias",
    "relative_offsets",
    "relative_position_bias",
    "resize_table",
]

Size3 = tuple[int, int, int]

# q (B, heads, T, H, W, C) against one axis' table (q_axis, k_axis, C) -> (B, heads, T, H, W, k)
_EINSUM = {axis: f"bnthwc,{axis}kc->bnthwk" for axis in "thw"}


def relative_offsets(q_size: int, k_size: int, device=None) -> torch.Tensor:
    """Indices (q_size, k_size) into a table of ``2 * max(q_size, k_size) - 1`` rows.

    Positions on the coarser grid are scaled to the finer one, so the offset of query i and key
    j is ``i * q_scale - j * k_scale``, shifted to start at 0.
    """
    q_scale = max(k_size / q_size, 1.0)
    k_scale = max(q_size / k_size, 1.0)
    q_pos = torch.arange(q_size, device=device)[:, None] * q_scale
    k_pos = torch.arange(k_size, device=device)[None, :] * k_scale
    return (q_pos - k_pos + (k_size - 1) * k_scale).long()


def resize_table(table: torch.Tensor, length: int) -> torch.Tensor:
    """``table`` (L, C) linearly resampled to ``length`` rows (a clip of another size)."""
    if table.shape[0] == length:
        return table
    resized = F.interpolate(table.t().unsqueeze(0), size=length, mode="linear")
    return resized.squeeze(0).t()


def relative_position_bias(
    q: torch.Tensor,
    q_grid: Size3,
    k_grid: Size3,
    tables: dict[str, torch.Tensor],
    has_cls: bool,
) -> torch.Tensor:
    """The decomposed bias of every query-key pair; the class token's row and column are zero.

    Args:
        q: (B, heads, N_q, C) queries, unscaled.
        q_grid: (T, H, W) of the queries; ``k_grid`` likewise for the keys.
        tables: any of "t", "h", "w" -> (L, C) tables of that axis (at least one).
        has_cls: the first query and key are class tokens.

    Returns:
        (B, heads, N_q, N_k) bias, to add to the attention logits.
    """
    skip = int(has_cls)
    b, heads, _, c = q.shape
    grid_q = q[:, :, skip:].reshape(b, heads, *q_grid, c)
    bias = None
    # Each axis contributes (B, heads, Tq, Hq, Wq, K_axis), broadcast over the other key axes.
    for axis, name in enumerate("thw"):
        if name not in tables:
            continue
        q_size, k_size = q_grid[axis], k_grid[axis]
        table = resize_table(tables[name], 2 * max(q_size, k_size) - 1)
        rel = table[relative_offsets(q_size, k_size, q.device)]  # (q_size, k_size, C)
        term = torch.einsum(_EINSUM[name], grid_q, rel)
        shape = [b, heads, *q_grid, 1, 1, 1]
        shape[5 + axis] = k_size
        term = term.reshape(shape)
        bias = term if bias is None else bias + term
    n_q, n_k = math.prod(q_grid), math.prod(k_grid)
    bias = bias.expand(b, heads, *q_grid, *k_grid).reshape(b, heads, n_q, n_k)
    return F.pad(bias, (skip, 0, skip, 0)) if skip else bias


def add_relative_position_bias(
    logits: torch.Tensor,
    q: torch.Tensor,
    q_grid: Size3,
    k_grid: Size3,
    tables: dict[str, torch.Tensor],
    has_cls: bool,
) -> torch.Tensor:
    """``logits`` (B, heads, N_q, N_k) plus :func:`relative_position_bias`."""
    return logits + relative_position_bias(q, q_grid, k_grid, tables, has_cls)
