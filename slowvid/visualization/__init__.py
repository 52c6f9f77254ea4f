"""Looking inside models: Grad-CAM and TensorBoard galleries of test and training clips."""

from .gradcam import GradCAM, default_target_layers, overlay_heatmap
from .tensorboard_vis import (
    TestGalleries,
    add_gif,
    bar_chart,
    clip_to_frames,
    gallery_class_names,
    write_input_clips,
)

__all__ = [
    "GradCAM",
    "TestGalleries",
    "add_gif",
    "bar_chart",
    "clip_to_frames",
    "default_target_layers",
    "overlay_heatmap",
    "gallery_class_names",
    "write_input_clips",
]
