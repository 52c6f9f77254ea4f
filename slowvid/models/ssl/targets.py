"""What masked models predict for each token: its pixels, or HOG features of its region.

Papers: "Masked Autoencoders Are Scalable Vision Learners", He et al., arXiv:2111.06377 (pixels
normalised per patch); "VideoMAE", Tong et al., arXiv:2203.12602 (the same per channel, on
un-normalised pixels); "Masked Feature Prediction for Self-Supervised Visual Pre-Training",
Wei et al., arXiv:2112.09133 (MaskFeat: HOG of each masked region).

Tokens are laid out ``(t, h, w)`` in raster order, one per ``patch = (pt, ph, pw)`` tubelet. A
token's pixel vector is ordered ``(frame, row, column, channel)``, as VideoMAE's and PySlowFast's
decoders emit it, so their released decoder weights predict the same layout.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HOG", "PixelTarget", "hog_token_targets", "patchify"]

Size3 = tuple[int, int, int]


def patchify(clip: torch.Tensor, patch: Size3) -> torch.Tensor:
    """Cut a clip into tubelets.

    Args:
        clip: (B, C, T, H, W).
        patch: (pt, ph, pw) dividing (T, H, W).

    Returns:
        (B, N, pt * ph * pw * C), N = (T/pt)(H/ph)(W/pw) tokens in (t, h, w) raster order, each
        vector ordered (frame, row, column, channel).
    """
    b, c, t, h, w = clip.shape
    pt, ph, pw = patch
    if t % pt or h % ph or w % pw:
        raise ValueError(f"clip {(t, h, w)} does not divide into {patch} patches")
    x = clip.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(b, (t // pt) * (h // ph) * (w // pw), pt * ph * pw * c)


@dataclass(frozen=True)
class PixelTarget:
    """How pixel targets are made from the (normalised) input clip.

    Attributes:
        patch: (pt, ph, pw) tubelet of one token.
        time_stride: one frame per tubelet (its first; PySlowFast's ``TIME_STRIDE_LOSS``)
            instead of all ``pt``.
        norm: "none"; "patch" (MAE-ST: each token's vector has its mean removed and is divided
            by ``sqrt(var + 1e-6)``); "channel" (VideoMAE: the same per channel, divided by
            ``std + 1e-6``). Variances are unbiased, as both references compute them.
        mean: per-channel mean the loader normalised with; with ``std``, targets are computed on
            the un-normalised [0, 1] pixels (VideoMAE). None keeps the normalised input.
        std: per-channel standard deviation.
    """

    patch: Size3 = (2, 16, 16)
    time_stride: bool = False
    norm: str = "channel"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.norm not in ("none", "patch", "channel"):
            raise ValueError(f"norm must be 'none', 'patch' or 'channel', got {self.norm!r}")

    def num_outputs(self, channels: int = 3) -> int:
        """Width of one token's target vector."""
        pt, ph, pw = self.patch
        return (1 if self.time_stride else pt) * ph * pw * channels

    @torch.no_grad()
    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        """Targets of every token.

        Args:
            clip: (B, C, T, H, W) as the model received it.

        Returns:
            (B, N, num_outputs) float32.
        """
        clip = clip.float()
        if self.mean is not None and self.std is not None:
            shape = (1, -1, 1, 1, 1)
            mean = torch.tensor(self.mean, device=clip.device).view(shape)
            std = torch.tensor(self.std, device=clip.device).view(shape)
            clip = clip * std + mean
        pt, ph, pw = self.patch
        if self.time_stride:
            clip, pt = clip[:, :, ::pt], 1
        c = clip.shape[1]
        tokens = patchify(clip, (pt, ph, pw))
        if self.norm == "patch":
            mean = tokens.mean(-1, keepdim=True)
            var = tokens.var(-1, keepdim=True)
            return (tokens - mean) / (var + 1e-6).sqrt()
        if self.norm == "channel":
            x = tokens.unflatten(-1, (-1, c))
            x = (x - x.mean(-2, keepdim=True)) / (x.var(-2, keepdim=True).sqrt() + 1e-6)
            return x.flatten(-2)
        return tokens


class HOG(nn.Module):
    """Histograms of oriented gradients per colour channel, as MaskFeat predicts them.

    Gradients come from 3x3 Sobel filters (reflect-padded) on each channel; every pixel adds
    its gradient magnitude to one of ``num_bins`` orientation bins (unsigned orientation,
    ``180 / num_bins`` degrees each; the angle is ``atan2(gx, gy)``, PySlowFast's convention);
    bins are summed over non-overlapping ``cell`` x ``cell`` cells and L2-normalised per cell and
    channel.

    Args:
        num_bins: orientation bins.
        cell: cell side in pixels.
    """

    def __init__(self, num_bins: int = 9, cell: int = 8):
        super().__init__()
        self.num_bins = num_bins
        self.cell = cell
        sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.register_buffer("weight_x", sobel.view(1, 1, 3, 3), persistent=False)
        self.register_buffer("weight_y", sobel.t().reshape(1, 1, 3, 3), persistent=False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Args: images: (B, C, H, W).

        Returns: (B, C, num_bins, H // cell, W // cell), unit L2 norm over the bins.
        """
        b, c, h, w = images.shape
        x = F.pad(images.float(), (1, 1, 1, 1), mode="reflect")
        gx = F.conv2d(x, self.weight_x.expand(c, 1, 3, 3), groups=c)
        gy = F.conv2d(x, self.weight_y.expand(c, 1, 3, 3), groups=c)
        magnitude = torch.hypot(gx, gy)
        # atan2 in (-pi, pi] spans 2 * num_bins units: opposite directions share a bin.
        units = torch.atan2(gx, gy) / math.pi * self.num_bins
        bins = units.floor().long() % self.num_bins
        hist = torch.zeros(b, c, self.num_bins, h, w, device=images.device)
        hist.scatter_add_(2, bins.unsqueeze(2), magnitude.unsqueeze(2))
        rows, cols = h // self.cell, w // self.cell
        hist = hist[..., : rows * self.cell, : cols * self.cell]
        hist = hist.reshape(b, c, self.num_bins, rows, self.cell, cols, self.cell).sum((4, 6))
        return F.normalize(hist, p=2, dim=2)


def hog_token_targets(
    hog: HOG, clip: torch.Tensor, frame_stride: int, grid: Sequence[int]
) -> torch.Tensor:
    """HOG targets of every token of a (t, h, w) token grid (MaskFeat).

    Args:
        hog: the descriptor.
        clip: (B, C, T, H, W) as the model received it.
        frame_stride: one frame is described per this many (the patch embedding's time stride).
        grid: (t, h, w) tokens whose targets are wanted; the HOG cells of a token's region are
            concatenated.

    Returns:
        (B, t * h * w, C * num_bins * cells); a token's vector is ordered (channel, bin, cell
        row, cell column), PySlowFast's layout.
    """
    frames = clip[:, :, ::frame_stride]
    b, c, t = frames.shape[:3]
    if t != grid[0]:
        raise ValueError(f"{t} described frames but a token grid of {grid[0]} in time")
    cells = hog(frames.transpose(1, 2).flatten(0, 1)).flatten(1, 2)  # (BT, C*bins, rows, cols)
    rows, cols = cells.shape[-2:]
    gh, gw = grid[1], grid[2]
    if rows % gh or cols % gw:
        raise ValueError(f"{rows}x{cols} HOG cells do not divide into a {gh}x{gw} token grid")
    sh, sw = rows // gh, cols // gw
    x = cells.reshape(b, t, -1, gh, sh, gw, sw).permute(0, 1, 3, 5, 2, 4, 6)
    return x.reshape(b, t * gh * gw, -1)
