"""Single-pathway 3D ResNets: C2D, I3D and Slow.

Papers: "Deep Residual Learning for Image Recognition", He et al., arXiv:1512.03385;
"Quo Vadis, Action Recognition?", Carreira & Zisserman, arXiv:1705.07750 (I3D);
"Non-local Neural Networks", Wang et al., arXiv:1711.07971 (C2D / I3D baselines);
"SlowFast Networks for Video Recognition", Feichtenhofer et al., arXiv:1812.03982 (Slow).

Stage depths, temporal kernels and the pool after res2 follow PySlowFast's
``video_model_builder.py`` (Apache-2.0) so parameter counts, feature shapes and checkpoints match
its model zoo; the code is written anew.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from slowvid.registry import MODELS

from .base import InputSpec, VideoModel
from .blocks import (
    Bottleneck,
    NonLocal,
    PathwaySpec,
    ResNetStem,
    StageSpec,
    init_weights,
    make_stage,
)
from .build import build_activation, build_head, build_norm, check_trans_func

__all__ = [
    "ARCH_KERNELS",
    "STAGE_DEPTHS",
    "ArchKernels",
    "BottleneckLayout",
    "FixedLayoutResNet",
    "ResNet",
    "make_layout_pathway",
    "make_resnet_pathway",
    "pathway_stride",
]

# Blocks in res2..res5 for each depth; all bottleneck blocks, as PySlowFast builds them.
STAGE_DEPTHS = {
    18: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}


@dataclass(frozen=True)
class ArchKernels:
    """Temporal layout of one pathway of an architecture.

    Attributes:
        stem: temporal kernel of the stem convolution.
        stages: per stage (res2..res5), temporal kernels cycled over its blocks.
        pool1_t: temporal max-pool after res2 (1 = none).
    """

    stem: int
    stages: tuple[tuple[int, ...], ...]
    pool1_t: int = 1


_C2D = ArchKernels(stem=1, stages=((1,), (1,), (1,), (1,)), pool1_t=2)
_I3D = ArchKernels(stem=5, stages=((3,), (3, 1), (3, 1), (1, 3)), pool1_t=2)
# Slow keeps res2/res3 2D: early temporal convs hurt when frames are far apart (SlowFast §3.1).
_SLOW = ArchKernels(stem=1, stages=((1,), (1,), (3,), (3,)))
_FAST = ArchKernels(stem=5, stages=((3,), (3,), (3,), (3,)))

# MODEL.ARCH -> one ArchKernels per pathway (PySlowFast's _TEMPORAL_KERNEL_BASIS and _POOL1).
ARCH_KERNELS: dict[str, tuple[ArchKernels, ...]] = {
    # Image models: every kernel and pool one frame long (inputs may be (B, C, H, W) images).
    "2d": (ArchKernels(stem=1, stages=_C2D.stages),),
    "c2d": (_C2D,),
    "c2d_nopool": (ArchKernels(stem=1, stages=_C2D.stages),),
    "i3d": (_I3D,),
    "i3d_nopool": (ArchKernels(stem=5, stages=_I3D.stages),),
    "slow": (_SLOW,),
    "slowfast": (_SLOW, _FAST),
}


def make_resnet_pathway(
    dim_in: int,
    depth: int,
    kernels: ArchKernels,
    width_per_group: int = 64,
    num_groups: int = 1,
    spatial_strides: Sequence[int] = (1, 2, 2, 2),
    spatial_dilations: Sequence[int] = (1, 1, 1, 1),
    num_block_temp_kernel: Sequence[int | None] = (None, None, None, None),
    stride_1x1: bool = False,
    width_divisor: int = 1,
    nonlocal_location: Sequence[Sequence[int]] = ((), (), (), ()),
    nonlocal_pool: Sequence[Sequence[int]] = ((1, 2, 2),) * 4,
    nonlocal_instantiation: str = "softmax",
    nonlocal_group: Sequence[int] = (1, 1, 1, 1),
) -> PathwaySpec:
    """The spec of one ResNet pathway: widths double per stage, bottleneck expansion 4.

    Args:
        dim_in: input channels.
        depth: 18, 50, 101 or 152.
        kernels: temporal layout of this pathway.
        width_per_group: stem width; the res2 bottleneck width is num_groups * width_per_group.
        num_groups: groups of the 3x3 convolutions.
        spatial_strides: stride of the first block of res2..res5.
        spatial_dilations: dilation of res2..res5.
        num_block_temp_kernel: per stage, blocks using temporal kernels (None = all).
        stride_1x1: stride on the 1x1 convolution (Caffe2 MSRA style).
        width_divisor: divides every width; the SlowFast fast pathway uses beta_inv.
        nonlocal_location: per stage, the blocks followed by a non-local block.
        nonlocal_pool: per stage, the (t, h, w) key/value pool of its non-local blocks.
        nonlocal_instantiation: "softmax" or "dot_product".
        nonlocal_group: per stage, chunks of time its non-local blocks attend within.
    """
    if depth not in STAGE_DEPTHS:
        raise ValueError(f"RESNET.DEPTH must be one of {sorted(STAGE_DEPTHS)}, got {depth}")
    stages = tuple(
        StageSpec(
            depth=STAGE_DEPTHS[depth][i],
            dim_out=width_per_group * 4 * 2**i // width_divisor,
            dim_inner=num_groups * width_per_group * 2**i // width_divisor,
            t_kernels=kernels.stages[i],
            num_temporal_blocks=num_block_temp_kernel[i],
            stride=spatial_strides[i],
            dilation=spatial_dilations[i],
            groups=num_groups,
            stride_1x1=stride_1x1,
            nonlocal_blocks=tuple(nonlocal_location[i]),
            nonlocal_pool=tuple(nonlocal_pool[i]),
            nonlocal_instantiation=nonlocal_instantiation,
            nonlocal_group=nonlocal_group[i],
        )
        for i in range(4)
    )
    return PathwaySpec(
        dim_in=dim_in,
        stem_dim=width_per_group // width_divisor,
        stem_t_kernel=kernels.stem,
        stages=stages,
        pool1_t=kernels.pool1_t,
    )


@dataclass(frozen=True)
class BottleneckLayout:
    """A ResNet variant whose layout is fixed by its architecture (ir-CSN, R(2+1)D): only the
    depth, the width and the input channels come from the config.

    Every block is a bottleneck of width ``dim_out / 4`` whose middle convolution spans
    ``t_kernel_b = 3`` frames; the first block of each stage strides in space and time.

    Attributes:
        spatial_strides: per stage res2..res5.
        temporal_strides: per stage, of the first block's middle conv and shortcut.
        stem_t_kernel: temporal size of the stem convolution.
        stem_pool: end the stem with its (1, 3, 3) max-pool.
        channelwise: one group per channel in the middle conv (what makes CSN channel-separated).
        block: :class:`Bottleneck` or a subclass (``Bottleneck2Plus1D``).
    """

    spatial_strides: tuple[int, int, int, int]
    temporal_strides: tuple[int, int, int, int]
    stem_t_kernel: int
    stem_pool: bool = True
    channelwise: bool = False
    block: type[Bottleneck] = Bottleneck


def make_layout_pathway(
    layout: BottleneckLayout, dim_in: int, depth: int, width_per_group: int = 64
) -> PathwaySpec:
    """The pathway of a fixed-layout ResNet variant.

    Args:
        layout: the variant.
        dim_in: input channels.
        depth: 18, 50, 101 or 152 (bottleneck blocks throughout).
        width_per_group: stem width; res2 has bottleneck width ``width_per_group`` and output
            ``4 * width_per_group``, doubling per stage.
    """
    if depth not in STAGE_DEPTHS:
        raise ValueError(f"RESNET.DEPTH must be one of {sorted(STAGE_DEPTHS)}, got {depth}")
    stages = tuple(
        StageSpec(
            depth=STAGE_DEPTHS[depth][i],
            dim_out=width_per_group * 4 * 2**i,
            dim_inner=width_per_group * 2**i,
            t_kernels=(1,),
            stride=layout.spatial_strides[i],
            groups=width_per_group * 2**i if layout.channelwise else 1,
            t_kernel_b=3,
            temporal_stride=layout.temporal_strides[i],
        )
        for i in range(4)
    )
    return PathwaySpec(
        dim_in=dim_in,
        stem_dim=width_per_group,
        stem_t_kernel=layout.stem_t_kernel,
        stages=stages,
        stem_pool=layout.stem_pool,
        block=layout.block,
    )


def pathway_stride(spec: PathwaySpec) -> int:
    """Input pixels per feature pixel after res5: the stem's (4, or 2 without its max-pool)
    times each stage's stride."""
    return (4 if spec.stem_pool else 2) * math.prod(s.stride for s in spec.stages)


def _per_stage(values: Sequence, pathway: int, default=None) -> list:
    """Per-stage values for one pathway from a flat ``[a, b, c, d]`` or a PySlowFast-style
    per-pathway ``[[a_slow, a_fast], ...]`` list; ``[]`` gives ``default`` for all four stages."""
    if len(values) == 0:
        return [default] * 4
    if len(values) != 4:
        raise ValueError(f"expected 4 per-stage values (res2..res5), got {list(values)}")
    return [v[min(pathway, len(v) - 1)] if isinstance(v, list | tuple) and v else v for v in values]


def pathway_from_config(
    cfg, pathway: int, dim_in: int, kernels: ArchKernels, width_divisor: int = 1
) -> PathwaySpec:
    """The RESNET.* part of ResNet / SlowFast ``from_config`` for one pathway of ``dim_in``
    input channels."""
    r = cfg.RESNET
    return make_resnet_pathway(
        dim_in=dim_in,
        depth=r.DEPTH,
        kernels=kernels,
        width_per_group=r.WIDTH_PER_GROUP,
        num_groups=r.NUM_GROUPS,
        spatial_strides=_per_stage(r.SPATIAL_STRIDES, pathway),
        spatial_dilations=_per_stage(r.SPATIAL_DILATIONS, pathway),
        num_block_temp_kernel=_per_stage(r.NUM_BLOCK_TEMP_KERNEL, pathway),
        stride_1x1=r.STRIDE_1X1,
        width_divisor=width_divisor,
        nonlocal_location=_per_stage(cfg.NONLOCAL.LOCATION, pathway, default=()),
        nonlocal_pool=_per_stage(cfg.NONLOCAL.POOL, pathway, default=(1, 2, 2)),
        nonlocal_instantiation=cfg.NONLOCAL.INSTANTIATION,
        nonlocal_group=_per_stage(cfg.NONLOCAL.GROUP, pathway, default=1),
    )


def make_pathway_modules(
    spec: PathwaySpec,
    norm: Callable[[int], nn.Module],
    activation: Callable[[], nn.Module],
    lateral_dims: Sequence[int] = (0, 0, 0, 0),
) -> tuple[nn.Module, nn.ModuleList, nn.Module]:
    """Stem, stages and post-res2 pool of one pathway.

    Args:
        spec: the pathway.
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
        lateral_dims: channels concatenated to each stage's input by lateral connections.
    """
    stem = ResNetStem(
        spec.dim_in,
        spec.stem_dim,
        spec.stem_t_kernel,
        pool=spec.stem_pool,
        norm=norm,
        activation=activation,
    )
    dims_in = [spec.stem_dim] + [s.dim_out for s in spec.stages[:-1]]
    stages = nn.ModuleList(
        make_stage(s, d + lat, norm=norm, activation=activation, block=spec.block)
        for s, d, lat in zip(spec.stages, dims_in, lateral_dims, strict=True)
    )
    # Kernel = stride: halves time once, as in the Non-local paper's C2D / I3D baselines.
    pool1 = (
        nn.MaxPool3d(kernel_size=(spec.pool1_t, 1, 1), stride=(spec.pool1_t, 1, 1))
        if spec.pool1_t > 1
        else nn.Identity()
    )
    return stem, stages, pool1


@MODELS.register()
class ResNet(VideoModel):
    """Single-pathway 3D ResNet (C2D, I3D, Slow), as PySlowFast's ``ResNet``; CSN and R(2+1)D
    are this network with other pathway specs.

    ::

        clip (B, 3, T, H, W)
          -> stem        (B, w, T, H/4, W/4)
          -> res2        (B, 4w, T, H/4, W/4) -> pool1 (T/2 for c2d, i3d)
          -> res3..res5  (B, 32w, T', H/32, W/32)
          -> head        (B, num_classes) logits

    Args:
        pathway: the stem and stage specs.
        head: maps ``[(B, pathway.stages[-1].dim_out, T', H', W')]`` to logits.
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
        zero_init_final_norm: start each residual branch's last norm at zero.
        fc_init_std: standard deviation of the classifier's initial weights.
    """

    # Slow first: PySlowFast's default ARCH "slowfast" builds a ResNet with the slow kernels.
    archs = ("slow", "c2d", "c2d_nopool", "i3d", "i3d_nopool", "2d")

    # The repeated blocks: units of activation checkpointing and of FSDP sharding.
    block_types: tuple[type[nn.Module], ...] = (Bottleneck, NonLocal)

    def __init__(
        self,
        *,
        pathway: PathwaySpec,
        head: nn.Module,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
        zero_init_final_norm: bool = True,
        fc_init_std: float = 0.01,
    ):
        super().__init__()
        self.stem, self.stages, self.pool1 = make_pathway_modules(pathway, norm, activation)
        self.head = head
        self.input_spec = InputSpec((1,), (pathway.dim_in,))
        self.feature_dims = (pathway.stages[-1].dim_out,)
        self.feature_stride = pathway_stride(pathway)
        self.feature_layers = (f"stages.{len(self.stages) - 1}",)
        init_weights(self, zero_init_final_norm=zero_init_final_norm, fc_std=fc_init_std)

    @classmethod
    def pathway_spec_from_config(cls, cfg, dim_in: int) -> PathwaySpec:
        """The pathway MODEL.ARCH and RESNET.* describe; subclasses with a fixed layout (CSN,
        R(2+1)D) override this and keep everything else."""
        return pathway_from_config(cfg, 0, dim_in, ARCH_KERNELS[cls.arch_of(cfg)][0])

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH, RESNET.*, NONLOCAL.*, DATA.INPUT_CHANNEL_NUM, BN.*,
        MODEL.FC_INIT_STD and the head's keys."""
        check_trans_func(cfg, "bottleneck_transform", cls.__name__)
        spec = cls.input_spec_from_config(cfg)
        pathway = cls.pathway_spec_from_config(cfg, spec.channels[0])
        return {
            "pathway": pathway,
            "head": build_head(cfg, dim_in=[pathway.stages[-1].dim_out]),
            "norm": build_norm(cfg),
            "activation": build_activation(cfg),
            "zero_init_final_norm": cfg.RESNET.ZERO_INIT_FINAL_BN,
            "fc_init_std": cfg.MODEL.FC_INIT_STD,
        }

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Args: inputs: ``[clip]``, clip (B, C, T, H, W), or an image (B, C, H, W) taken as
        one frame (MODEL.ARCH 2d).

        Returns: ``[(B, 32w, T', H/32, W/32)]``, T' = T/2 for c2d and i3d.
        """
        if len(inputs) != 1:
            raise ValueError(
                f"{type(self).__name__} takes one pathway, got {len(inputs)} input tensors"
            )
        clip = inputs[0] if inputs[0].dim() == 5 else inputs[0].unsqueeze(2)
        x = self.stem(clip)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == 0:
                x = self.pool1(x)
        return [x]


class FixedLayoutResNet(ResNet):
    """A :class:`ResNet` whose pathway is its class's :class:`BottleneckLayout` (CSN, R(2+1)D).

    Of the RESNET keys only DEPTH, WIDTH_PER_GROUP and ZERO_INIT_FINAL_BN apply: the groups,
    strides and temporal kernels are the architecture's.
    """

    layout: BottleneckLayout

    @classmethod
    def pathway_spec_from_config(cls, cfg, dim_in: int) -> PathwaySpec:
        cls.arch_of(cfg)  # checked, though the layout does not depend on it
        return make_layout_pathway(cls.layout, dim_in, cfg.RESNET.DEPTH, cfg.RESNET.WIDTH_PER_GROUP)
