"""Grad-CAM: maps lie on the demo video's moving shape; one map per SlowFast pathway; MViT's
token grids; clear errors for wrong layer names or counts; heat-map overlays."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slowvid.config import load_config
from slowvid.data.demo import CLASSNAMES, DemoSpec, render_video
from slowvid.models import build_model
from slowvid.visualization import GradCAM, default_target_layers, overlay_heatmap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _demo_clips(per_class: int, seed: int):
    """Demo videos (4 frames, 64 px rendered, 32 px seen): normalised clips (N, 3, 4, 32, 32),
    labels, and where the shape is (N, 4, 32, 32)."""
    rng = np.random.default_rng(seed)
    clips, labels, masks = [], [], []
    for label in range(len(CLASSNAMES)):
        for _ in range(per_class):
            frames = render_video(label, DemoSpec(size=64, num_frames=16), rng)[::4]
            # The shape is near-white or near-black; the textured background never gets there.
            masks.append((frames.min(-1) >= 200) | (frames.max(-1) <= 45))
            clips.append(frames)
            labels.append(label)
    x = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3).float() / 255
    x = F.avg_pool3d((x - 0.45) / 0.225, (1, 2, 2))
    masks = F.max_pool2d(torch.from_numpy(np.stack(masks)).float(), 2) > 0
    return x, torch.tensor(labels), masks


def _build(config: str, opts: list[str]):
    torch.manual_seed(0)
    return build_model(load_config(os.path.join(REPO, config), opts)).eval()


def _peak_cell_on_shape(maps, masks, stride: int) -> float:
    """Share of frames whose hottest feature cell (stride x stride pixels) holds shape pixels."""
    heat = F.avg_pool2d(maps, stride).flatten(2)
    cells = (F.max_pool2d(masks.float(), stride) > 0).flatten(2)
    return cells.gather(2, heat.argmax(2, keepdim=True)).float().mean().item()


@pytest.mark.timeout(120)
def test_map_peaks_on_the_moving_shape():
    x, _, masks = _demo_clips(2, seed=0)
    opts = ["RESNET.DEPTH", "18", "RESNET.WIDTH_PER_GROUP", "4", "MODEL.NUM_CLASSES", "8"]
    model = _build("configs/Kinetics/SLOW_8x8_R50.yaml", opts)
    (maps,), logits = GradCAM(model, ["stages.1"])([x])  # stride 8: a 4x4 grid
    assert maps.shape == (16, 4, 32, 32) and logits.shape == (16, 8)
    assert maps.min() >= 0 and maps.max() <= 1
    hits = _peak_cell_on_shape(maps, masks, 8)
    chance = (F.max_pool2d(masks.float(), 8) > 0).float().mean().item()
    mirrored = _peak_cell_on_shape(maps.flip(-1), masks, 8)  # a map that is not the shape's
    assert hits >= 0.6 and hits >= chance + 0.25, (hits, chance)
    assert mirrored < hits - 0.2, (mirrored, hits)


def test_slowfast_gets_one_map_per_pathway_and_the_target_class_matters():
    opts = ["RESNET.WIDTH_PER_GROUP", "4", "DATA.NUM_FRAMES", "8"]
    model = _build("configs/Demo/SLOWFAST_DEMO.yaml", opts)
    assert default_target_layers(model) == ["slow_stages.3", "fast_stages.3"]
    clips = [torch.randn(2, 3, 2, 32, 32), torch.randn(2, 3, 8, 32, 32)]
    cam = GradCAM(model, ["slow_stages.2", "fast_stages.2"])
    (slow, fast), logits = cam(clips)
    assert slow.shape == (2, 2, 32, 32) and fast.shape == (2, 8, 32, 32)
    other = (logits.argmax(1) + 1) % 8
    (slow_other, _), _ = cam(clips, other)
    assert not torch.allclose(slow, slow_other)
    with pytest.raises(ValueError, match="one layer per pathway"):
        GradCAM(model, ["slow_stages.2"])(clips)
    with pytest.raises(ValueError, match=r"not in SlowFast: \['slow_stage.9'\]"):
        GradCAM(model, ["slow_stage.9", "fast_stages.2"])


def test_mvit_tokens_are_read_as_their_grid():
    opts = ["MVIT.DEPTH", "2", "MVIT.EMBED_DIM", "16", "MVIT.DIM_MUL", "[[1, 2.0]]"]
    opts += ["MVIT.HEAD_MUL", "[[1, 2.0]]", "MVIT.POOL_Q_STRIDE", "[[1, 1, 2, 2]]"]
    opts += ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "MODEL.NUM_CLASSES", "5"]
    model = _build("configs/Kinetics/MVIT_B_16x4.yaml", opts)
    assert default_target_layers(model) == ["blocks.0"]  # the last one feeds only its cls token
    (maps,), _ = GradCAM(model, default_target_layers(model))([torch.randn(2, 3, 4, 32, 32)])
    assert maps.shape == (2, 4, 32, 32) and maps.amax(dim=(1, 2, 3)).allclose(torch.ones(2))


def test_overlay_colours_hot_and_cold_regions_apart():
    frames = torch.full((2, 8, 8, 3), 128, dtype=torch.uint8)
    heat = torch.zeros(2, 8, 8)
    heat[:, :4] = 1
    out = overlay_heatmap(frames, heat, "jet")
    assert out.shape == frames.shape and out.dtype == torch.uint8
    assert out[0, 0, 0, 0] > out[0, 7, 0, 0] and out[0, 0, 0, 2] < out[0, 7, 0, 2]  # red vs blue
    assert not torch.equal(overlay_heatmap(frames, heat, "viridis"), out)
    with pytest.raises(ValueError, match="unknown colormap 'nope'"):
        overlay_heatmap(frames, heat, "nope")
