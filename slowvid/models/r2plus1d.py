"""R(2+1)D with bottleneck blocks.

Paper: "A Closer Look at Spatiotemporal Convolutions for Action Recognition", Tran et al.,
arXiv:1711.11248.

The layout follows PyTorchVideo's ``create_r2plus1d`` with the ``r2plus1d_r50`` hub settings
(Apache-2.0): a 1x7x7 stem without max-pool, spatial stride 2 in every stage (res2 included),
temporal stride 2 in res4 and res5, bottleneck width dim_out / 4, and a (2+1)D conv_b whose
intermediate width is that bottleneck width. Parameter counts and FLOPs match its model zoo
(R2PLUS1D_16x4_R50); the code is written anew.
"""

from slowvid.registry import MODELS

from .blocks import Bottleneck2Plus1D, PathwaySpec, StageSpec
from .resnet3d import STAGE_DEPTHS, ResNet, single_pathway_args

__all__ = ["VARIANTS", "R2Plus1D", "make_r2plus1d_pathway"]

# Per stage res2..res5: spatial stride; res2 strides because the stem has no max-pool.
_SPATIAL_STRIDES = (2, 2, 2, 2)
# Per stage res2..res5: temporal stride of the first block's conv_t and shortcut.
_TEMPORAL_STRIDES = (1, 1, 2, 2)


def make_r2plus1d_pathway(dim_in: int, depth: int, width_per_group: int = 64) -> PathwaySpec:
    """The spec of R(2+1)D: a ResNet whose 3x3 conv becomes a 3x1x1 then 1x3x3 conv.

    Args:
        dim_in: input channels.
        depth: 18, 50, 101 or 152 (bottleneck blocks throughout).
        width_per_group: stem width; res2 has bottleneck width ``width_per_group`` and output
            ``4 * width_per_group``, doubling per stage.

    Returns:
        The stem and res2..res5 specs; build the stages with ``block=Bottleneck2Plus1D``.
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
            t_kernel_b=3,
            temporal_stride=_TEMPORAL_STRIDES[i],
        )
        for i in range(4)
    )
    return PathwaySpec(
        dim_in=dim_in,
        stem_dim=width_per_group,
        stem_t_kernel=1,
        stages=stages,
        stem_pool=False,
        block=Bottleneck2Plus1D,
    )


@MODELS.register()
class R2Plus1D(ResNet):
    """R(2+1)D: bottlenecks of 1x1x1 -> (3x1x1 -> 1x3x3) -> 1x1x1 convolutions.

    ::

        clip (B, 3, T, H, W)
          -> stem 1x7x7 /2, no max-pool    (B, w, T, H/2, W/2)
          -> res2, res3, each /2 in space  (B, 8w, T, H/8, W/8)
          -> res4, res5, each /2 in time and space   (B, 32w, T/4, H/32, W/32)
          -> head                          (B, num_classes) logits

    A :class:`~slowvid.models.resnet3d.ResNet` built from :func:`make_r2plus1d_pathway`; only
    the config translation differs.
    """

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH ("r2plus1d"), RESNET.DEPTH / WIDTH_PER_GROUP / ZERO_INIT_FINAL_BN,
        DATA.INPUT_CHANNEL_NUM, BN.* and the head's keys.

        The other RESNET keys (NUM_GROUPS, strides, temporal kernels) do not apply: the convs
        are ungrouped and the strides are the architecture's, as in PyTorchVideo.
        """
        return single_pathway_args(cfg, "r2plus1d", "R2Plus1D", make_r2plus1d_pathway)


# Zoo variants: RESNET.DEPTH and the clip (DATA.NUM_FRAMES x DATA.SAMPLING_RATE) they were
# trained on; weights and checksums belong in slowvid/model_zoo/, not here.
VARIANTS = {"r2plus1d_r50_16x4": {"depth": 50, "num_frames": 16, "sampling_rate": 4}}
