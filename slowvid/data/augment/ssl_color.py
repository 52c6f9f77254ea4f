"""The colour augmentation of contrastive video learning (SimCLR / MoCo v2 on clips).

Papers: "A Simple Framework for Contrastive Learning of Visual Representations", Chen et al.,
arXiv:2002.05709 (colour jitter, random grayscale, blur); "Improved Baselines with Momentum
Contrastive Learning", Chen et al., arXiv:2003.04297 (MoCo v2's probabilities); their video form
is PySlowFast's ``color_jitter_video_ssl`` (DATA.SSL_* keys), written anew here on tensors.

Every frame of a clip gets the same factors. As in PySlowFast, brightness, contrast, saturation
and hue act on the clip as one image (frames stacked), so contrast pulls towards the clip's mean
grey; the blur is applied to each frame on its own.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

__all__ = ["SSLColorJitter"]


@dataclass(frozen=True)
class SSLColorJitter:
    """Colour jitter (in a random order, as torchvision's ``ColorJitter``) and random grayscale.

    Attributes:
        brightness, contrast, saturation: factors drawn from ``[max(0, 1 - s), 1 + s]``.
        hue: shift drawn from ``[-hue, hue]`` (fraction of a turn, at most 0.5).
        grayscale_prob: probability of turning the clip grayscale (3 equal channels).
        mocov2: MoCo v2's recipe: the jitter with probability 0.8, grayscale after it, then a
            Gaussian blur (sigma in [0.1, 2.0]) with probability 0.5; otherwise grayscale first
            and the jitter always.
    """

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_prob: float = 0.0
    mocov2: bool = False

    def __post_init__(self):
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"DATA.SSL_COLOR_HUE must lie in [0, 0.5], got {self.hue}")
        if not 0.0 <= self.grayscale_prob <= 1.0:
            raise ValueError(
                f"DATA.COLOR_RND_GRAYSCALE must lie in [0, 1], got {self.grayscale_prob}"
            )

    def __call__(self, clip: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """Augment a float ``(C, T, H, W)`` clip on [0, 1]."""
        c, t, h, w = clip.shape
        image = clip.reshape(c, t * h, w)
        if self.mocov2:
            if rng.random() < 0.8:
                image = self._jitter(image, rng)
            image = self._grayscale(image, rng)
        else:
            image = self._jitter(self._grayscale(image, rng), rng)
        clip = image.reshape(c, t, h, w)
        if self.mocov2 and rng.random() < 0.5:
            sigma = rng.uniform(0.1, 2.0)
            size = 2 * math.ceil(3 * sigma) + 1
            frames = TF.gaussian_blur(clip.transpose(0, 1), [size, size], [sigma, sigma])
            clip = frames.transpose(0, 1)
        return clip.contiguous()

    def _grayscale(self, image: torch.Tensor, rng: random.Random) -> torch.Tensor:
        if rng.random() < self.grayscale_prob:
            return TF.rgb_to_grayscale(image, num_output_channels=image.shape[0])
        return image

    def _jitter(self, image: torch.Tensor, rng: random.Random) -> torch.Tensor:
        ops = [
            (TF.adjust_brightness, self.brightness),
            (TF.adjust_contrast, self.contrast),
            (TF.adjust_saturation, self.saturation),
        ]
        steps = [(fn, rng.uniform(max(0.0, 1 - s), 1 + s)) for fn, s in ops if s > 0]
        if self.hue > 0:
            steps.append((TF.adjust_hue, rng.uniform(-self.hue, self.hue)))
        rng.shuffle(steps)
        for fn, factor in steps:
            image = fn(image, factor)
        return image.clamp_(0.0, 1.0)
