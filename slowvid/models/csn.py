"""Interaction-reduced Channel-Separated Networks (ir-CSN).

Paper: "Video Classification with Channel-Separated Convolutional Networks", Tran et al.,
arXiv:1904.02811.

The layout follows PyTorchVideo's ``create_csn`` with the ``csn_r101`` hub settings (Apache-2.0):
a 3x7x7 stem with the (1, 3, 3) max-pool, bottleneck width dim_out / 4, a depthwise 3x3x3
conv_b that halves time in res3..res5, and no temporal pool. Parameter counts and FLOPs match its
model zoo (CSN_32x2_R101); the code is written anew.
"""

from slowvid.registry import MODELS

from .blocks import PathwaySpec
from .resnet3d import BottleneckLayout, FixedLayoutResNet, make_layout_pathway

__all__ = ["CSN", "CSN_LAYOUT", "make_csn_pathway"]

# Spatial strides as a ResNet (the stem's max-pool does the first /2); res3..res5 halve time.
CSN_LAYOUT = BottleneckLayout(
    spatial_strides=(1, 2, 2, 2), temporal_strides=(1, 2, 2, 2), stem_t_kernel=3, channelwise=True
)


def make_csn_pathway(dim_in: int, depth: int, width_per_group: int = 64) -> PathwaySpec:
    """The spec of ir-CSN: a ResNet whose 3x3 conv becomes a depthwise 3x3x3 conv
    (``groups == dim_inner`` in every stage). See :func:`make_layout_pathway`."""
    return make_layout_pathway(CSN_LAYOUT, dim_in, depth, width_per_group)


@MODELS.register()
class CSN(FixedLayoutResNet):
    """ir-CSN: bottlenecks of 1x1x1 -> depthwise 3x3x3 -> 1x1x1 convolutions.

    ::

        clip (B, 3, T, H, W)
          -> stem 3x7x7 /2 + max-pool /2   (B, w, T, H/4, W/4)
          -> res2                          (B, 4w, T, H/4, W/4)
          -> res3..res5, each /2 in time and space   (B, 32w, T/8, H/32, W/32)
          -> head                          (B, num_classes) logits

    A :class:`~slowvid.models.resnet3d.ResNet` built from :data:`CSN_LAYOUT`.
    """

    archs = ("csn",)
    layout = CSN_LAYOUT
