"""Random token masks for masked video modelling, drawn on the model's device.

Papers: "VideoMAE", Tong et al., arXiv:2203.12602 (tube masking: the same spatial positions in
every frame, so a masked patch cannot be copied from its neighbour in time); "Masked Autoencoders
As Spatiotemporal Learners", Feichtenhofer et al., arXiv:2205.09113 (MAE-ST: positions drawn over
space and time at random, 90% masked).

Masks are boolean ``(B, N)`` over the tokens in ``(t, h, w)`` raster order, True = masked. Every
sample masks the same number of tokens, so the visible tokens of a batch stack into one
``(B, n_visible, C)`` tensor. Randomness comes from torch's generator (seeded per epoch and rank by
the trainer), so a resumed run draws the same masks.
"""

import torch

__all__ = ["masked_count", "random_token_mask", "visible_indices"]

Size3 = tuple[int, int, int]


def masked_count(grid: Size3, ratio: float, tube: bool) -> int:
    """Tokens masked per sample on a ``(T, H, W)`` grid.

    Tube masking masks ``int(ratio * H * W)`` positions of each frame (VideoMAE's count); random
    masking keeps ``int(N * (1 - ratio))`` of the ``N`` tokens (MAE-ST's count).

    Raises:
        ValueError: ``ratio`` outside [0, 1), or a mask leaving no token visible.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"AUG.MASK_RATIO must lie in [0, 1), got {ratio}")
    t, h, w = grid
    n = t * h * w
    masked = t * int(ratio * h * w) if tube else n - int(n * (1 - ratio))
    if masked >= n:
        raise ValueError(f"mask ratio {ratio} leaves no visible token of a {grid} grid")
    return masked


def random_token_mask(
    batch: int, grid: Size3, ratio: float, tube: bool, device: torch.device | None = None
) -> torch.Tensor:
    """A random mask per sample.

    Args:
        batch: samples B.
        grid: token grid (T, H, W).
        ratio: fraction to mask (see :func:`masked_count` for the exact count).
        tube: mask the same spatial positions in every frame.
        device: where to draw it.

    Returns:
        bool (B, T*H*W), True where masked; each row masks :func:`masked_count` tokens.
    """
    t, h, w = grid
    count = masked_count(grid, ratio, tube)
    if tube:
        # Rank positions of one frame by noise; the highest-ranked are masked in all frames.
        noise = torch.rand(batch, h * w, device=device)
        per_frame = count // t
        ranks = noise.argsort(dim=1).argsort(dim=1)
        frame_mask = ranks >= h * w - per_frame
        return frame_mask.unsqueeze(1).expand(batch, t, h * w).reshape(batch, t * h * w)
    noise = torch.rand(batch, t * h * w, device=device)
    ranks = noise.argsort(dim=1).argsort(dim=1)
    return ranks >= t * h * w - count


def visible_indices(mask: torch.Tensor) -> torch.Tensor:
    """Indices (B, n_visible) of the unmasked tokens of each row, in raster order.

    Raises:
        ValueError: rows mask different numbers of tokens.
    """
    counts = (~mask).sum(1)
    if (counts != counts[0]).any():
        raise ValueError(f"every sample must keep as many tokens; got {counts.tolist()}")
    # A stable sort puts the False (visible) entries first, in their original order.
    order = mask.to(torch.uint8).argsort(dim=1, stable=True)
    return order[:, : int(counts[0])]
