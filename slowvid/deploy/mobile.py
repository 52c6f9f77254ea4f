"""Rewrites a video network into operators that mobile runtimes delegate.

XNNPACK (ExecuTorch's CPU delegate) has 2D convolutions and pooling but no 3D ones, and
ExecuTorch's portable kernels reject 5-D convolution inputs, so a Conv3d left as is cannot run
at all. :func:`mobile_friendly` returns an eval copy in which

- every batch norm that directly follows a convolution is folded into it (found by data flow
  on one forward pass, so it works for any block layout, not only ``nn.Sequential``), and the
  rest become a per-channel multiply-add;
- every Conv3d becomes 2D convolutions: a ``(1, k, k)`` kernel runs on the frames stacked into
  the batch, a ``(k, 1, 1)`` kernel runs over (time, height x width), and a full ``(k, k, k)``
  kernel is the sum of ``k`` frame-shifted 2D convolutions (same multiply-adds);
- ``(1, k, k)`` max pooling and global average pooling become their 2D / mean forms.

The function is unchanged up to float rounding; :func:`mobile_friendly` checks that on the
example clips and raises if not.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ChannelAffine", "Conv3dAs2d", "MaxPool3dAs2d", "fold_batch_norms", "mobile_friendly"]


def _frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    b, c, t, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


def _batch_to_frames(y: torch.Tensor, b: int) -> torch.Tensor:
    bt, c, h, w = y.shape
    return y.reshape(b, bt // b, c, h, w).permute(0, 2, 1, 3, 4)


class Conv3dAs2d(nn.Module):
    """A Conv3d computed with 2D convolutions (same weights, same output).

    Args:
        conv: the convolution to replace (dilation 1, zero padding).
    """

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        if conv.dilation != (1, 1, 1) or conv.padding_mode != "zeros":
            raise ValueError(f"cannot rewrite {conv}: dilation and non-zero padding unsupported")
        if isinstance(conv.padding, str):
            raise ValueError(f"cannot rewrite {conv}: string padding unsupported")
        self.kernel, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.groups = conv.groups
        weight = conv.weight.detach()
        # 2D weights stored as parameters of their own: a delegate takes a convolution only
        # when its weight is a constant, not a slice computed in the graph.
        kt = self.kernel[0]
        if self._temporal_only:
            taps = [weight[..., 0].clone()]  # (C_out, C_in/g, kt, 1)
        else:
            taps = [weight[:, :, dt].clone() for dt in range(kt)]
        self.taps = nn.ParameterList(nn.Parameter(w, requires_grad=False) for w in taps)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())

    @property
    def _temporal_only(self) -> bool:
        (_, kh, kw), (_, sh, sw), (_, ph, pw) = self.kernel, self.stride, self.padding
        return kh == kw == 1 and sh == sw == 1 and ph == pw == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x: (B, C, T, H, W). Returns: what the Conv3d returns."""
        kt, (st, sh, sw), (pt, ph, pw) = self.kernel[0], self.stride, self.padding
        b, _, t, h, w = x.shape
        if self._temporal_only:  # a (T, H*W) image
            y = F.conv2d(
                x.reshape(b, x.shape[1], t, h * w),
                self.taps[0],
                self.bias,
                (st, 1),
                (pt, 0),
                groups=self.groups,
            )
            return y.reshape(b, y.shape[1], y.shape[2], h, w)
        # Frames first, once: each tap's frames are then a contiguous slice, not a transpose.
        frames = x.permute(0, 2, 1, 3, 4)
        if pt:
            frames = F.pad(frames, (0, 0, 0, 0, 0, 0, pt, pt))
        t_out = (frames.shape[1] - kt) // st + 1
        out = None
        for dt in range(kt):  # one 2D convolution per temporal tap, summed
            tap = frames[:, dt : dt + st * (t_out - 1) + 1 : st] if kt > 1 or st > 1 else frames
            y = F.conv2d(
                tap.reshape(b * t_out, *frames.shape[2:]),
                self.taps[dt],
                self.bias if dt == 0 else None,
                (sh, sw),
                (ph, pw),
                groups=self.groups,
            )
            out = y if out is None else out + y
        return _batch_to_frames(out, b)


class MaxPool3dAs2d(nn.Module):
    """A MaxPool3d whose temporal kernel and stride are 1, as a 2D max pool over frames."""

    def __init__(self, pool: nn.MaxPool3d):
        super().__init__()
        kernel, stride, padding = (
            nn.modules.utils._triple(v) for v in (pool.kernel_size, pool.stride, pool.padding)
        )
        if kernel[0] != 1 or stride[0] != 1 or padding[0] != 0 or pool.ceil_mode:
            raise ValueError(f"cannot rewrite {pool}: only (1, k, k) pooling is supported")
        self.kernel, self.stride, self.padding = kernel[1:], stride[1:], padding[1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(_frames_to_batch(x), self.kernel, self.stride, self.padding)
        return _batch_to_frames(y, x.shape[0])


class _GlobalMean(nn.Module):
    """AdaptiveAvgPool3d(1) as the mean over the last two axes of a 4-D view (XNNPACK's mean)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x.reshape(b, c, 1, -1).mean(dim=(2, 3), keepdim=True).reshape(b, c, 1, 1, 1)


class ChannelAffine(nn.Module):
    """An eval-mode batch norm as ``x * scale + shift`` per channel (N-D inputs)."""

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        scale, shift = _norm_scale_shift(norm)
        shape = (-1,) + (1,) * 3
        self.register_buffer("scale", scale.reshape(shape))
        self.register_buffer("shift", shift.reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def _norm_scale_shift(norm: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return scale.detach(), shift.detach()


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


@torch.no_grad()
def _conv_norm_pairs(model: nn.Module, example: Sequence[torch.Tensor]) -> dict[str, str]:
    """norm name -> conv name, for every norm whose input is exactly a conv's output tensor,
    and that tensor feeds nothing else (so folding cannot change another consumer)."""
    produced: dict[int, tuple[str, torch.Tensor]] = {}
    consumers: dict[int, int] = {}
    pairs: dict[str, str] = {}
    handles = []

    def conv_hook(name):
        def hook(_module, _inputs, output):
            produced[id(output)] = (name, output)  # the tensor is kept alive: ids stay unique

        return hook

    alive: list[torch.Tensor] = []  # every tensor seen stays alive, so no id is reused

    def count_inputs(_module, inputs):
        for x in inputs:
            if isinstance(x, torch.Tensor):
                alive.append(x)
                consumers[id(x)] = consumers.get(id(x), 0) + 1

    def norm_hook(name):
        def hook(_module, inputs):
            source = produced.get(id(inputs[0]))
            if source is not None:
                pairs[name] = source[0]

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d | nn.Conv2d | nn.Conv1d):
            handles.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_pre_hook(norm_hook(name)))
        if not list(module.children()):
            handles.append(module.register_forward_pre_hook(count_inputs))
    try:
        model(list(example))
    finally:
        for h in handles:
            h.remove()
    # A conv output used by a module besides its norm (or twice) keeps its norm unfolded.
    conv_out = {name: key for key, (name, _) in produced.items()}
    return {n: c for n, c in pairs.items() if consumers.get(conv_out[c], 0) == 1}


@torch.no_grad()
def fold_batch_norms(model: nn.Module, example: Sequence[torch.Tensor]) -> nn.Module:
    """An eval copy of ``model`` with each batch norm that follows a convolution folded into it.

    Args:
        model: takes a list of per-pathway clips.
        example: per-pathway clips, run once to find which norm follows which conv.
    """
    model = copy.deepcopy(model).eval()
    for norm_name, conv_name in _conv_norm_pairs(model, example).items():
        conv, norm = model.get_submodule(conv_name), model.get_submodule(norm_name)
        scale, shift = _norm_scale_shift(norm)
        weight = conv.weight * scale.reshape((-1,) + (1,) * (conv.weight.dim() - 1))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        conv.weight = nn.Parameter(weight, requires_grad=False)
        conv.bias = nn.Parameter(bias, requires_grad=False)
        _set_module(model, norm_name, nn.Identity())
    return model


@torch.no_grad()
def mobile_friendly(
    model: nn.Module, example: Sequence[torch.Tensor], atol: float = 1e-4
) -> nn.Module:
    """An eval copy of ``model`` made of 2D and element-wise operators only (see module doc).

    Args:
        model: takes a list of per-pathway clips.
        example: per-pathway clips (B, C, T, H, W).
        atol: largest absolute logit difference accepted against ``model``.

    Raises:
        ValueError: a layer cannot be rewritten, or the rewritten model computes otherwise.
    """
    model = model.eval()
    out = fold_batch_norms(model, example)
    for name, module in list(out.named_modules()):
        if isinstance(module, nn.Conv3d):
            _set_module(out, name, Conv3dAs2d(module))
        elif isinstance(module, nn.MaxPool3d):
            _set_module(out, name, MaxPool3dAs2d(module))
        elif isinstance(module, nn.AdaptiveAvgPool3d):
            if nn.modules.utils._triple(module.output_size) != (1, 1, 1):
                raise ValueError(f"{name}: only global adaptive average pooling is supported")
            _set_module(out, name, _GlobalMean())
        elif isinstance(module, nn.BatchNorm3d):
            _set_module(out, name, ChannelAffine(module))
    expected, got = model(list(example)), out(list(example))
    error = (expected - got).abs().max().item()
    if error > atol:
        raise ValueError(f"the mobile rewrite changed the logits by {error:.3g} (> {atol})")
    return out
