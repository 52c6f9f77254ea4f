"""X3D: efficient video networks expanded from a tiny 2D base along several axes.

Paper: "X3D: Expanding Architectures for Efficient Video Recognition", Feichtenhofer,
arXiv:2004.04730.

Widths, depths, width rounding, SE placement and the head follow PySlowFast's ``X3D`` in
``video_model_builder.py`` and its ``configs/Kinetics/X3D_*.yaml`` (Apache-2.0), so parameter
counts and checkpoints match its model zoo; the code is written anew.

XS, S and M are one network (width x2, depth x2.2, bottleneck x2.25, 3.79 M parameters) fed
different clips; L is deeper (depth x5, 6.15 M). Their configs are named in
``slowvid.model_zoo.VARIANTS``.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from slowvid.registry import MODELS

from .base import InputSpec, VideoModel
from .blocks import init_weights
from .blocks.squeeze_excitation import round_width
from .blocks.x3d_bottleneck import X3DBottleneck
from .blocks.x3d_stem import X3DStem
from .build import build_activation, build_head, build_norm, check_trans_func

__all__ = ["X3D", "X3DActivations", "X3DStageSpec", "make_x3d_stages"]

# Blocks and width of res2..res5 of the base network before expansion (X3D Table 1).
_BASE_DEPTHS = (1, 2, 5, 3)
# Each stage doubles the width of the previous one.
_STAGE_WIDTH_GROWTH = 2.0


@dataclass(frozen=True)
class X3DActivations:
    """The non-linearities inside X3D's blocks; the defaults are the published X3D's.

    Attributes:
        inner: after the channelwise conv (swish).
        se: inside squeeze-excitation.
        se_gate: the squeeze-excitation gate.
    """

    inner: Callable[[], nn.Module] = nn.SiLU
    se: Callable[[], nn.Module] = nn.ReLU
    se_gate: Callable[[], nn.Module] = nn.Sigmoid


@dataclass(frozen=True)
class X3DStageSpec:
    """One residual stage (res2..res5) of X3D.

    Attributes:
        depth: number of blocks.
        dim_out: output channels of every block.
        dim_inner: channels of every block's channelwise convolution.
        stride: spatial stride of the first block (the others have stride 1).
        t_kernel: temporal size of every block's 3x3 convolution.
    """

    depth: int
    dim_out: int
    dim_inner: int
    stride: int = 2
    t_kernel: int = 3


def make_x3d_stages(
    width_factor: float,
    depth_factor: float,
    bottleneck_factor: float,
    dim_c1: int = 12,
    scale_res2: bool = False,
) -> tuple[int, tuple[X3DStageSpec, ...]]:
    """The stem width and stage specs of an expanded X3D.

    Args:
        width_factor: gamma_w, multiplies every width (rounded to multiples of 8).
        depth_factor: gamma_d, multiplies every stage's block count (rounded up).
        bottleneck_factor: gamma_b, inner width of each block as a multiple of its output width.
        dim_c1: base width of conv1, before ``width_factor``.
        scale_res2: make res2 twice as wide as conv1 (X3D.SCALE_RES2); off, res2 keeps it.

    Returns:
        ``(stem_dim, specs)``: the stem's output channels and the res2..res5 specs.
    """
    base = round_width(dim_c1, _STAGE_WIDTH_GROWTH) if scale_res2 else dim_c1
    base_widths = [base]
    for _ in range(len(_BASE_DEPTHS) - 1):
        base_widths.append(round_width(base_widths[-1], _STAGE_WIDTH_GROWTH))
    specs = []
    for depth, width in zip(_BASE_DEPTHS, base_widths, strict=True):
        dim_out = round_width(width, width_factor)
        specs.append(
            X3DStageSpec(
                depth=math.ceil(depth * depth_factor) if depth_factor else depth,
                dim_out=dim_out,
                dim_inner=int(bottleneck_factor * dim_out),
            )
        )
    return round_width(dim_c1, width_factor), tuple(specs)


def _make_stage(
    spec: X3DStageSpec,
    dim_in: int,
    channelwise: bool,
    se_ratio: float,
    norm: Callable[[int], nn.Module],
    activation: Callable[[], nn.Module],
    block_activations: X3DActivations,
    shortcut_norm_same_width: bool = True,
) -> nn.Sequential:
    """The blocks of one stage; SE on the first block and every other one after it."""
    return nn.Sequential(
        *(
            X3DBottleneck(
                dim_in if i == 0 else spec.dim_out,
                spec.dim_out,
                spec.dim_inner,
                t_kernel=spec.t_kernel,
                stride=spec.stride if i == 0 else 1,
                groups=spec.dim_inner if channelwise else 1,
                # SE on every other block: most of its accuracy at half its cost (X3D §4.1).
                se_ratio=se_ratio if i % 2 == 0 else 0.0,
                norm=norm,
                activation=activation,
                inner_activation=block_activations.inner,
                se_activation=block_activations.se,
                se_gate=block_activations.se_gate,
                shortcut_norm_same_width=shortcut_norm_same_width,
            )
            for i in range(spec.depth)
        )
    )


@MODELS.register()
class X3D(VideoModel):
    """X3D, as PySlowFast's ``X3D``: one pathway, channelwise 3x3x3 bottlenecks, SE and swish.

    ::

        clip (B, 3, T, H, W)
          -> stem  (1,3,3) conv stride 2, channelwise (5,1,1) conv   (B, 24, T, H/2, W/2)
          -> res2..res5, each stride 2                                (B, 192, T, H/32, W/32)
          -> head (X3DHead: conv5 432, pool, fc 2048, fc)             (B, num_classes) logits

    Widths are those of XS..L (width factor 2). Time is never strided.

    Args:
        stem_dim: output channels of the stem.
        stages: res2..res5 specs.
        head: maps ``[(B, stages[-1].dim_out, T, H', W')]`` to logits.
        dim_in: input channels (3 for RGB).
        stem_t_kernel: temporal size of the stem's channelwise convolution.
        channelwise: make every 3x3x3 convolution channelwise (X3D.CHANNELWISE_3x3x3).
        se_ratio: squeeze-excitation ratio of the blocks that have SE (0 disables SE).
        norm: builds a normalisation layer from a channel count.
        activation: builds the activation outside the blocks' swish.
        zero_init_final_norm: start each residual branch's last norm at zero.
        block_activations: the non-linearities inside the blocks (swish, SE's); None = X3D's.
        fc_init_std: standard deviation of the classifier's initial weights.
        shortcut_norm_same_width: see :class:`X3DBottleneck` (False: PyTorchVideo's X3D).
    """

    archs = ("x3d",)

    # Measured faster in channels-last-3D memory on CPUs, slower on GPUs (BENCHMARKS.md); the
    # engine uses it on CPUs when MODEL.CHANNELS_LAST is None.
    channels_last_devices = ("cpu",)

    # The repeated blocks: units of activation checkpointing and of FSDP sharding.
    block_types: tuple[type[nn.Module], ...] = (X3DBottleneck,)

    def __init__(
        self,
        *,
        stem_dim: int,
        stages: Sequence[X3DStageSpec],
        head: nn.Module,
        dim_in: int = 3,
        stem_t_kernel: int = 5,
        channelwise: bool = True,
        se_ratio: float = 0.0625,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
        zero_init_final_norm: bool = True,
        block_activations: X3DActivations | None = None,
        fc_init_std: float = 0.01,
        shortcut_norm_same_width: bool = True,
    ):
        super().__init__()
        block_activations = block_activations or X3DActivations()
        self.stem = X3DStem(dim_in, stem_dim, stem_t_kernel, norm=norm, activation=activation)
        dims_in = [stem_dim] + [s.dim_out for s in stages[:-1]]
        self.stages = nn.ModuleList(
            _make_stage(
                spec,
                d,
                channelwise,
                se_ratio,
                norm,
                activation,
                block_activations,
                shortcut_norm_same_width,
            )
            for spec, d in zip(stages, dims_in, strict=True)
        )
        self.head = head
        self.input_spec = InputSpec((1,), (dim_in,))
        self.feature_dims = (stages[-1].dim_out,)
        # The stem's conv strides 2, every stage's first block 2 more.
        self.feature_stride = 2 * math.prod(spec.stride for spec in stages)
        self.feature_layers = (f"stages.{len(self.stages) - 1}",)
        init_weights(self, zero_init_final_norm=zero_init_final_norm, fc_std=fc_init_std)

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH, X3D.*, DATA.INPUT_CHANNEL_NUM, RESNET.ZERO_INIT_FINAL_BN /
        TRANS_FUNC / INPLACE_RELU, MODEL.FC_INIT_STD, BN.* and the head's keys. The head is
        X3DHead unless MODEL.HEAD_NAME names another single-pathway head."""
        check_trans_func(cfg, "x3d_transform", "X3D")
        cls.arch_of(cfg)
        spec = cls.input_spec_from_config(cfg)
        x = cfg.X3D
        stem_dim, stages = make_x3d_stages(
            width_factor=x.WIDTH_FACTOR,
            depth_factor=x.DEPTH_FACTOR,
            bottleneck_factor=x.BOTTLENECK_FACTOR,
            dim_c1=x.DIM_C1,
            scale_res2=x.SCALE_RES2,
        )
        return {
            "stem_dim": stem_dim,
            "stages": stages,
            "head": build_head(cfg, dim_in=[stages[-1].dim_out], default="X3DHead"),
            "dim_in": spec.channels[0],
            "channelwise": x.CHANNELWISE_3x3x3,
            "norm": build_norm(cfg),
            "activation": build_activation(cfg),
            "zero_init_final_norm": cfg.RESNET.ZERO_INIT_FINAL_BN,
            "fc_init_std": cfg.MODEL.FC_INIT_STD,
        }

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Args: inputs: ``[clip]``, clip (B, C, T, H, W).

        Returns: ``[(B, C_5, T, H/32, W/32)]`` (sizes rounded up), C_5 = stages[-1].dim_out.
        """
        if len(inputs) != 1:
            raise ValueError(f"X3D takes one pathway, got {len(inputs)} input tensors")
        x = self.stem(inputs[0])
        for stage in self.stages:
            x = stage(x)
        return [x]
