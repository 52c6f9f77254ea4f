"""Interaction-reduced Channel-Separated Networks (ir-CSN).

Paper: "Video Classification with Channel-Separated Convolutional Networks", Tran et al.,
arXiv:1904.02811.

The layout follows PyTorchVideo's ``create_csn`` with the ``csn_r101`` hub settings (Apache-2.0):
a 3x7x7 stem with the (1, 3, 3) max-pool, bottleneck width dim_out / 4, a depthwise 3x3x3
conv_b that halves time in res3..res5, and no temporal pool. Parameter counts and FLOPs match its
model zoo (CSN_32x2_R101); the code is written anew.
"""

from slowvid.registry import MODELS

from .blocks import PathwaySpec, StageSpec
from .resnet3d import STAGE_DEPTHS, ResNet, single_pathway_args

__all__ = ["CSN", "VARIANTS", "make_csn_pathway"]

# Per stage res2..res5: spatial stride, as a ResNet (the stem's max-pool does the first /2).
_SPATIAL_STRIDES = (1, 2, 2, 2)
# Per stage res2..res5: temporal stride of the first block's depthwise conv and shortcut.
_TEMPORAL_STRIDES = (1, 2, 2, 2)


def make_csn_pathway(dim_in: int, depth: int, width_per_group: int = 64) -> PathwaySpec:
    """The spec of ir-CSN: a ResNet whose 3x3 conv becomes a depthwise 3x3x3 conv.

    Args:
        dim_in: input channels.
        depth: 18, 50, 101 or 152 (bottleneck blocks throughout).
        width_per_group: stem width; res2 has bottleneck width ``width_per_group`` and output
            ``4 * width_per_group``, doubling per stage.

    Returns:
        The stem and res2..res5 specs. ``groups == dim_inner`` in every stage: one channel per
        group is what makes the block channel-separated.
    """
    if depth not in STAGE_DEPTHS:
        raise ValueError(f"RESNET.DEPTH must be one of {sorted(STAGE_DEPTHS)}, got {depth}")
    stages = tuple(
        StageSpec(
            depth=STAGE_DEPTHS[depth][i],
            dim_out=width_per_group * 4 * 2**i,
            dim_inner=width_per_group * 2**i,
            t_kernels=(1,),
            stride=_SPATIAL_STRIDES[i],
            groups=width_per_group * 2**i,
            t_kernel_b=3,
            temporal_stride=_TEMPORAL_STRIDES[i],
        )
        for i in range(4)
    )
    return PathwaySpec(dim_in=dim_in, stem_dim=width_per_group, stem_t_kernel=3, stages=stages)


@MODELS.register()
class CSN(ResNet):
    """ir-CSN: bottlenecks of 1x1x1 -> depthwise 3x3x3 -> 1x1x1 convolutions.

    ::

        clip (B, 3, T, H, W)
          -> stem 3x7x7 /2 + max-pool /2   (B, w, T, H/4, W/4)
          -> res2                          (B, 4w, T, H/4, W/4)
          -> res3..res5, each /2 in time and space   (B, 32w, T/8, H/32, W/32)
          -> head                          (B, num_classes) logits

    A :class:`~slowvid.models.resnet3d.ResNet` built from :func:`make_csn_pathway`; only the
    config translation differs.
    """

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH ("csn"), RESNET.DEPTH / WIDTH_PER_GROUP / ZERO_INIT_FINAL_BN,
        DATA.INPUT_CHANNEL_NUM, BN.* and the head's keys.

        The other RESNET keys (NUM_GROUPS, strides, temporal kernels) do not apply: the groups
        are the channels and the strides are the architecture's.
        """
        return single_pathway_args(cfg, "csn", "CSN", make_csn_pathway)


# Zoo variants: RESNET.DEPTH and the clip (DATA.NUM_FRAMES x DATA.SAMPLING_RATE) they were
# trained on; weights and checksums belong in slowvid/model_zoo/, not here.
VARIANTS = {"csn_r101_32x2": {"depth": 101, "num_frames": 32, "sampling_rate": 2}}
