"""Video models. Importing this package registers every core model and head."""

from . import (  # noqa: F401  (registration)
    csn,
    detector,
    heads,
    mvit,
    ptv_models,
    r2plus1d,
    resnet3d,
    slowfast,
    ssl,
    timesformer,
    vit,
    x3d,
)
from .base import InputSpec, VideoModel
from .build import build_head, build_model, build_norm, input_spec_of, model_class
from .complexity import (
    count_gflops,
    count_parameters,
    gflops_by_operator,
    meta_gflops_by_operator,
)
from .losses import build_loss, scores_of

__all__ = [
    "InputSpec",
    "VideoModel",
    "build_head",
    "build_loss",
    "build_model",
    "build_norm",
    "count_gflops",
    "count_parameters",
    "gflops_by_operator",
    "input_spec_of",
    "meta_gflops_by_operator",
    "model_class",
    "scores_of",
]
