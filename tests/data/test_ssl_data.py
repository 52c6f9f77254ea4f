"""The data side of self-supervised training: several clips and crops per item, loader masks
(MaskFeat's cubes, tubes, frames) and contrastive colour augmentation, each by its config keys."""

import random

import pytest
import torch
from synthetic import data_cfg

from slowvid.data import build_dataset
from slowvid.data.augment import build_clip_augment
from slowvid.data.datasets.clip_views import clip_views
from slowvid.data.masks import CubeMasks


def _clip(seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, 4, 16, 16, generator=g) * 0.5 + 0.1  # x 1.5 stays below 1


def _augment(**keys):
    cfg = data_cfg("unused", **{"DATA.SSL_COLOR_JITTER": True, **keys})
    return build_clip_augment(cfg)


def test_colour_keys_change_the_clip_as_they_say():
    clip = _clip()
    still = _augment(**{"DATA.SSL_COLOR_BRI_CON_SAT": [0.0, 0.0, 0.0], "DATA.SSL_COLOR_HUE": 0.0})
    assert torch.allclose(still(clip.clone(), random.Random(0)), clip)
    gray = _augment(**{"DATA.COLOR_RND_GRAYSCALE": 1.0, "DATA.SSL_COLOR_HUE": 0.0})
    out = gray(clip.clone(), random.Random(0))
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])
    # Brightness alone: every pixel of the clip scaled by one factor from [0.5, 1.5].
    bright = _augment(**{"DATA.SSL_COLOR_BRI_CON_SAT": [0.5, 0.0, 0.0], "DATA.SSL_COLOR_HUE": 0.0})
    ratios = {
        round(float((bright(clip.clone(), random.Random(s)) / clip).mean()), 4) for s in range(5)
    }
    assert len(ratios) == 5 and all(0.5 <= r <= 1.5 for r in ratios)
    out = bright(clip.clone(), random.Random(1))
    torch.testing.assert_close(out / clip, torch.full_like(clip, float((out / clip).mean())))
    hue = _augment(**{"DATA.SSL_COLOR_BRI_CON_SAT": [0.0, 0.0, 0.0], "DATA.SSL_COLOR_HUE": 0.3})
    assert not torch.allclose(hue(clip.clone(), random.Random(0)), clip, atol=1e-3)


def test_mocov2_recipe_blurs_half_the_clips():
    blur = _augment(
        **{
            "DATA.SSL_COLOR_BRI_CON_SAT": [0.0, 0.0, 0.0],
            "DATA.SSL_COLOR_HUE": 0.0,
            "DATA.SSL_MOCOV2_AUG": True,
        }
    )
    clip = _clip()
    changed = [not torch.allclose(blur(clip.clone(), random.Random(s)), clip) for s in range(40)]
    assert 10 <= sum(changed) <= 30  # p = 0.5


@pytest.mark.parametrize(
    "keys,message",
    [
        ({"DATA.SSL_COLOR_BRI_CON_SAT": [0.4, 0.4]}, "SSL_COLOR_BRI_CON_SAT"),
        ({"DATA.SSL_COLOR_HUE": 0.7}, "SSL_COLOR_HUE"),
        ({"DATA.COLOR_RND_GRAYSCALE": 1.5}, "COLOR_RND_GRAYSCALE"),
    ],
)
def test_bad_colour_keys_are_named(keys, message):
    with pytest.raises(ValueError, match=message):
        _augment(**keys)


@pytest.mark.parametrize("mode", ["cube", "tube", "frames"])
def test_loader_masks_by_their_keys(mode):
    cfg = data_cfg(
        "unused",
        **{
            "AUG.GEN_MASK_LOADER": True,
            "AUG.MASK_WINDOW_SIZE": [4, 6, 6],
            "AUG.MASK_RATIO": 0.5,
            "AUG.MASK_TUBE": mode == "tube",
            "AUG.MASK_FRAMES": mode == "frames",
        },
    )
    masks = clip_views(cfg, training=True).masks
    assert isinstance(masks, CubeMasks)
    mask = masks(random.Random(0))
    assert mask.shape == (1, 4, 6, 6) and set(mask.unique().tolist()) <= {0.0, 1.0}
    per_frame = mask[0].sum((1, 2))
    if mode == "frames":  # 2 whole frames of 4
        assert sorted(per_frame.tolist()) == [0, 0, 36, 36]
    elif mode == "tube":  # the same positions in every frame, about half of them
        assert (mask[0] == mask[0, :1]).all() and 14 <= per_frame[0] <= 18
    else:  # space-time cubes: about half the grid (never over), not the same in every frame
        assert 60 <= mask.sum() <= 72 and not (mask[0] == mask[0, :1]).all()
    assert clip_views(data_cfg("unused"), training=True).masks is None


@pytest.mark.timeout(60)
def test_items_hold_clips_crops_and_masks_clip_major(demo_dir):
    cfg = data_cfg(
        demo_dir,
        **{
            "MODEL.MODEL_NAME": "ResNet",  # one pathway
            "MODEL.ARCH": "slow",
            "DATA.INPUT_CHANNEL_NUM": [3],
            "DATA.TRAIN_CROP_NUM_TEMPORAL": 2,
            "DATA.TRAIN_CROP_NUM_SPATIAL": 2,
            "AUG.GEN_MASK_LOADER": True,
            "AUG.MASK_WINDOW_SIZE": [4, 7, 7],
            "AUG.MASK_RATIO": 0.4,
        },
    )
    ds = build_dataset(cfg, "train")
    random.seed(0)
    clips, masks = ds[0]["inputs"]
    assert clips.shape == (4, 3, 8, 56, 56) and masks.shape == (4, 1, 4, 7, 7)
    # Every clip and crop differs (random times, random crops); masks are drawn per copy.
    assert all(not torch.equal(clips[i], clips[j]) for i in range(4) for j in range(i))
    assert not torch.equal(masks[0], masks[1])
    # Validation keeps one clip per item (and its mask).
    val_clip, val_mask = build_dataset(cfg, "val")[0]["inputs"]
    assert val_clip.shape == (3, 8, 64, 64) and val_mask.shape == (1, 4, 7, 7)
