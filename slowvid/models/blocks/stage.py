"""Per-stage and per-pathway specs of a 3D ResNet, and the factory that turns a spec into blocks.

Architectures (ResNet, SlowFast, CSN, R(2+1)D) describe themselves as a tuple of
:class:`StageSpec` per pathway and build their stages in one loop with :func:`make_stage`.
"""

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .bottleneck import Bottleneck
from .nonlocal_block import NonLocal

__all__ = ["PathwaySpec", "StageSpec", "make_stage"]


@dataclass(frozen=True)
class StageSpec:
    """One residual stage (res2..res5) of one pathway.

    Attributes:
        depth: number of blocks.
        dim_out: output channels of every block.
        dim_inner: inner (bottleneck) channels of every block.
        t_kernels: temporal kernels of conv_a, cycled over the blocks: ``(3, 1)`` alternates
            3, 1, 3, ... as in I3D.
        num_temporal_blocks: only the first this-many blocks use ``t_kernels``; the rest use 1.
            ``None`` means all blocks (PySlowFast's NUM_BLOCK_TEMP_KERNEL).
        stride: spatial stride of the first block (the others have stride 1).
        dilation: spatial dilation of every block.
        groups: groups of every block's 3x3 convolution.
        stride_1x1: put the stride on the 1x1 convolution (Caffe2 MSRA style).
        t_kernel_b: temporal size of every block's middle (3x3) convolution.
        temporal_stride: temporal stride of the first block (the others have stride 1).
        nonlocal_blocks: indices of the blocks followed by a non-local block.
        nonlocal_pool: (t, h, w) max-pool of the non-local blocks' keys and values.
        nonlocal_instantiation: "softmax" or "dot_product" (see :class:`NonLocal`).
        nonlocal_group: chunks of time the non-local blocks attend within.
    """

    depth: int
    dim_out: int
    dim_inner: int
    t_kernels: tuple[int, ...] = (1,)
    num_temporal_blocks: int | None = None
    stride: int = 2
    dilation: int = 1
    groups: int = 1
    stride_1x1: bool = False
    t_kernel_b: int = 1
    temporal_stride: int = 1
    nonlocal_blocks: tuple[int, ...] = ()
    nonlocal_pool: tuple[int, int, int] = (1, 2, 2)
    nonlocal_instantiation: str = "softmax"
    nonlocal_group: int = 1

    def block_t_kernels(self) -> list[int]:
        """Temporal kernel of each block, first to last."""
        limit = self.depth if self.num_temporal_blocks is None else self.num_temporal_blocks
        return [
            self.t_kernels[i % len(self.t_kernels)] if i < limit else 1 for i in range(self.depth)
        ]


@dataclass(frozen=True)
class PathwaySpec:
    """One pathway of a 3D ResNet: its stem and its residual stages.

    Attributes:
        dim_in: input channels (3 for RGB).
        stem_dim: output channels of the stem.
        stem_t_kernel: temporal size of the stem convolution.
        stages: res2..res5 specs.
        pool1_t: temporal max-pool (kernel = stride) after the first stage; C2D and I3D halve
            time there (PySlowFast's ``_POOL1``), 1 disables it.
        stem_pool: end the stem with its (1, 3, 3) max-pool (R(2+1)D's stem has none).
        block: the residual block class of every stage (:class:`Bottleneck` or a subclass).
    """

    dim_in: int
    stem_dim: int
    stem_t_kernel: int
    stages: tuple[StageSpec, ...]
    pool1_t: int = 1
    stem_pool: bool = True
    block: type[Bottleneck] = Bottleneck


def make_stage(
    spec: StageSpec,
    dim_in: int,
    norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
    activation: Callable[[], nn.Module] = nn.ReLU,
    block: type[Bottleneck] = Bottleneck,
) -> nn.Sequential:
    """Builds the bottleneck blocks of one stage.

    Args:
        spec: the stage's shape.
        dim_in: input channels of the first block (may include fused lateral channels).
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
        block: the block class, :class:`Bottleneck` or a subclass with its signature
            (``Bottleneck2Plus1D``).

    Returns:
        A module mapping (B, dim_in, T, H, W) to
        (B, spec.dim_out, T/temporal_stride, H/stride, W/stride). Blocks are named "0", "1",
        ...; a non-local block after block i is named "nonlocal{i}", so block names (and
        checkpoints) are the same with and without non-local blocks.
    """
    bad = [i for i in spec.nonlocal_blocks if not 0 <= i < spec.depth]
    if bad:
        raise ValueError(f"NONLOCAL.LOCATION: blocks {bad} are outside a {spec.depth}-block stage")
    blocks: dict[str, nn.Module] = {}
    for i, t_kernel in enumerate(spec.block_t_kernels()):
        blocks[str(i)] = block(
            dim_in if i == 0 else spec.dim_out,
            spec.dim_out,
            spec.dim_inner,
            t_kernel=t_kernel,
            stride=spec.stride if i == 0 else 1,
            groups=spec.groups,
            dilation=spec.dilation,
            stride_1x1=spec.stride_1x1,
            t_kernel_b=spec.t_kernel_b,
            temporal_stride=spec.temporal_stride if i == 0 else 1,
            norm=norm,
            activation=activation,
        )
        if i in spec.nonlocal_blocks:
            blocks[f"nonlocal{i}"] = NonLocal(
                spec.dim_out,
                spec.dim_out // 2,
                spec.nonlocal_pool,
                spec.nonlocal_instantiation,
                norm=norm,
                group=spec.nonlocal_group,
            )
    return nn.Sequential(OrderedDict(blocks))
