"""Decomposed relative-position bias of MViTv2's pooling attention.

Paper: "MViTv2: Improved Multiscale Vision Transformers", Li et al., arXiv:2112.01526, §4.1.

The bias between a query at (t, h, w) and a key at (t', h', w') is ``q · (R_t[t - t'] +
R_h[h - h'] + R_w[w - w'])``: one table per axis instead of one per (t, h, w) offset. Queries and
keys may sit on grids of different resolution (pooled keys); offsets are then measured on the
finer grid, as in the paper and PySlowFast, so checkpoints of either behave the same here.
"""

import torch
import torch.nn.functional as F

__all__ = ["add_relative_position_bias", "relative_offsets", "resize_table"]

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


def add_relative_position_bias(
    logits: torch.Tensor,
    q: torch.Tensor,
    q_grid: Size3,
    k_grid: Size3,
    tables: dict[str, torch.Tensor],
    has_cls: bool,
) -> torch.Tensor:
    """Adds the decomposed bias to attention logits; the class token's rows and columns get none.

    Args:
        logits: (B, heads, N_q, N_k) scaled dot products.
        q: (B, heads, N_q, C) queries, unscaled.
        q_grid: (T, H, W) of the queries; ``k_grid`` likewise for the keys.
        tables: any of "t", "h", "w" -> (L, C) tables of that axis.
        has_cls: the first query and key are class tokens.

    Returns:
        (B, heads, N_q, N_k) logits with the bias added.
    """
    skip = int(has_cls)
    b, heads, _, c = q.shape
    grid_q = q[:, :, skip:].reshape(b, heads, *q_grid, c)
    bias = 0
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
        bias = bias + term.reshape(shape)
    if isinstance(bias, int):
        return logits
    n_q, n_k = q_grid[0] * q_grid[1] * q_grid[2], k_grid[0] * k_grid[1] * k_grid[2]
    grid_logits = logits[:, :, skip:, skip:].reshape(b, heads, *q_grid, *k_grid) + bias
    grid_logits = grid_logits.reshape(b, heads, n_q, n_k)
    if not has_cls:
        return grid_logits
    return torch.cat(
        [logits[:, :, :1], torch.cat([logits[:, :, 1:, :1], grid_logits], dim=3)], dim=2
    )
