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

from .blocks import Bottleneck2Plus1D, PathwaySpec
from .resnet3d import BottleneckLayout, FixedLayoutResNet, make_layout_pathway

__all__ = ["R2PLUS1D_LAYOUT", "R2Plus1D", "make_r2plus1d_pathway"]

# res2 strides in space because the stem has no max-pool; res4 and res5 halve time.
R2PLUS1D_LAYOUT = BottleneckLayout(
    spatial_strides=(2, 2, 2, 2),
    temporal_strides=(1, 1, 2, 2),
    stem_t_kernel=1,
    stem_pool=False,
    block=Bottleneck2Plus1D,
)


def make_r2plus1d_pathway(dim_in: int, depth: int, width_per_group: int = 64) -> PathwaySpec:
    """The spec of R(2+1)D: a ResNet whose 3x3 conv becomes a 3x1x1 then 1x3x3 conv
    (:class:`Bottleneck2Plus1D`). See :func:`make_layout_pathway`."""
    return make_layout_pathway(R2PLUS1D_LAYOUT, dim_in, depth, width_per_group)


@MODELS.register()
class R2Plus1D(FixedLayoutResNet):
    """R(2+1)D: bottlenecks of 1x1x1 -> (3x1x1 -> 1x3x3) -> 1x1x1 convolutions.

    ::

        clip (B, 3, T, H, W)
          -> stem 1x7x7 /2, no max-pool    (B, w, T, H/2, W/2)
          -> res2, res3, each /2 in space  (B, 8w, T, H/8, W/8)
          -> res4, res5, each /2 in time and space   (B, 32w, T/4, H/32, W/32)
          -> head                          (B, num_classes) logits

    A :class:`~slowvid.models.resnet3d.ResNet` built from :data:`R2PLUS1D_LAYOUT`.
    """

    archs = ("r2plus1d",)
    layout = R2PLUS1D_LAYOUT
