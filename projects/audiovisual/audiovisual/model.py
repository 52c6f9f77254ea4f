"""Audiovisual SlowFast Networks for Video Recognition (Xiao, Lee, Grauman, Malik,
Feichtenhofer; arXiv:2001.08740).

A third, audio pathway (a 2D ResNet over the log-mel spectrogram) runs beside SlowFast's slow
and fast pathways; audio features flow into the slow pathway through lateral connections after
chosen stages (the paper's A->FS connections, here into the slow pathway only), and the head
pools and concatenates all three (late fusion). Everything is made of slowvid's blocks: the
visual part is slowvid's :class:`~slowvid.models.slowfast.SlowFast` itself (its parameter names
under ``visual.``), the audio pathway is a C2D pathway over a one-frame "image" of
(time, frequency). Written anew, not adapted from the authors' code.

Differences from the paper: audio is added to the slow pathway (the paper concatenates into
slow and fast), no DropPathway and no hierarchical audio-visual synchronisation loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from slowvid.models.base import InputSpec, VideoModel
from slowvid.models.blocks import PathwaySpec, init_weights
from slowvid.models.build import build_head, build_norm
from slowvid.models.resnet3d import (
    ArchKernels,
    make_pathway_modules,
    make_resnet_pathway,
)
from slowvid.models.slowfast import SlowFast
from slowvid.registry import MODELS

__all__ = ["MODES", "AVSlowFast", "FuseAudioToSlow"]

MODES = ("av", "visual", "audio")
# 2D everywhere: the (time, frequency) plane is the "image", the clip axis has one frame.
AUDIO_KERNELS = ArchKernels(stem=1, stages=((1,), (1,), (1,), (1,)))


class FuseAudioToSlow(nn.Module):
    """Adds audio features to the slow pathway at the slow frame rate.

    ::

        audio (B, C_a, 1, T_a, F) -> mean over F -> resample T_a to T -> 1x1x1 conv -> norm
        slow  (B, C_s, T, H, W)   + ─ broadcast over H, W ─> (B, C_s, T, H, W)

    Args:
        dim_in: audio channels, C_a.
        dim_out: slow channels, C_s.
        norm: builds a normalisation layer from a channel count.
    """

    def __init__(self, dim_in: int, dim_out: int, norm: Callable[[int], nn.Module]):
        super().__init__()
        self.conv = nn.Conv3d(dim_in, dim_out, kernel_size=1, bias=False)
        self.norm = norm(dim_out)

    def forward(self, slow: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Args: slow (B, C_s, T, H, W); audio (B, C_a, 1, T_a, F). Returns: (B, C_s, T, H, W)."""
        a = F.adaptive_avg_pool1d(audio.mean(dim=(2, 4)), slow.shape[2])
        return slow + self.norm(self.conv(a[..., None, None]))


@MODELS.register()
class AVSlowFast(VideoModel):
    """SlowFast plus an audio pathway; either side may be left out for ablations.

    ::

        slow (B,3,T,H,W)   fast (B,3,aT,H,W)   audio (B,1,1,T_a,n_mels)
          SlowFast stem, res2..res5             stem, res2..res5 (2D)
          <─────── slow += FuseAudioToSlow(audio) after each fusion stage ──┤
          └──── head: pool each, concat, linear (the pathways present) ────┘

    Args:
        slow: slow pathway, or None for audio only.
        fast: fast pathway, or None for audio only.
        audio: audio pathway, or None for visual only.
        alpha: frame-rate ratio of the fast to the slow pathway.
        fusion_conv_channel_ratio: SlowFast's lateral conv width, as a multiple of fast channels.
        fusion_kernel_sz: temporal kernel of SlowFast's lateral conv.
        audio_fusion_stages: stages (2..5 for res2..res5) after which audio joins the slow
            pathway; only used when both sides are present.
        head: maps the present pathways' features ``[slow, fast, audio]`` to logits.
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
        zero_init_final_norm: start each residual branch's last norm at zero.
        clip_channels: channels of the slow and fast clips the dataset gives (in every mode).
    """

    archs = ("slowfast",)

    def __init__(
        self,
        *,
        slow: PathwaySpec | None,
        fast: PathwaySpec | None,
        audio: PathwaySpec | None,
        alpha: int,
        fusion_conv_channel_ratio: int,
        fusion_kernel_sz: int,
        audio_fusion_stages: Sequence[int],
        head: nn.Module,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
        zero_init_final_norm: bool = True,
        clip_channels: Sequence[int] = (3, 3),
    ):
        super().__init__()
        if (slow is None) != (fast is None) or (slow is None and audio is None):
            raise ValueError("AVSlowFast needs slow and fast pathways, an audio one, or all three")
        self.mode = "audio" if slow is None else "visual" if audio is None else "av"
        self.visual = None
        if slow is not None:
            self.visual = SlowFast(
                slow=slow,
                fast=fast,
                alpha=alpha,
                fusion_conv_channel_ratio=fusion_conv_channel_ratio,
                fusion_kernel_sz=fusion_kernel_sz,
                head=nn.Identity(),  # the pathways' features go to this model's head
                norm=norm,
                activation=activation,
                zero_init_final_norm=zero_init_final_norm,
            )
        if audio is not None:
            self.audio_stem, self.audio_stages, self.audio_pool1 = make_pathway_modules(
                audio, norm, activation
            )
        stages = list(audio_fusion_stages) if self.mode == "av" else []
        if any(not 2 <= s <= 5 for s in stages):
            raise ValueError(f"audio fusion stages must lie in 2..5 (res2..res5), got {stages}")
        self.audio_fusion_stages = stages
        self.audio_fusions = nn.ModuleList(
            FuseAudioToSlow(audio.stages[s - 2].dim_out, slow.stages[s - 2].dim_out, norm)
            for s in stages
        )
        self.head = head
        # The dataset (AVKinetics) gives the clips and the audio in every mode; each mode uses
        # its part.
        self.input_spec = InputSpec((alpha, 1), tuple(clip_channels), extra_pathways=("audio",))
        parts = [] if self.visual is None else list(self.visual.feature_dims)
        layers = [] if self.visual is None else [f"visual.{n}" for n in self.visual.feature_layers]
        if audio is not None:
            parts.append(audio.stages[-1].dim_out)
            layers.append(f"audio_stages.{len(self.audio_stages) - 1}")
        self.feature_dims = tuple(parts)
        self.feature_layers = tuple(layers)
        self.feature_stride = None  # the audio features do not lie on the image grid
        init_weights(self.audio_fusions)
        if audio is not None:
            init_weights(
                nn.ModuleList([self.audio_stem, self.audio_stages]),
                zero_init_final_norm=zero_init_final_norm,
            )
        init_weights(self.head)

    @classmethod
    def frame_strides_from_config(cls, cfg) -> tuple[int, ...]:
        return SlowFast.frame_strides_from_config(cfg)

    @classmethod
    def extra_inputs_from_config(cls, cfg) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return ("audio",), ()

    @classmethod
    def from_config(cls, cfg) -> dict:
        """SlowFast's keys (MODEL.ARCH slowfast, RESNET.*, SLOWFAST.*) plus AVSLOWFAST.*."""
        mode = cfg.AVSLOWFAST.MODE
        if mode not in MODES:
            raise ValueError(f"AVSLOWFAST.MODE must be one of {MODES}, got {mode!r}")
        visual = SlowFast.from_config(cfg)
        slow, fast = (None, None) if mode == "audio" else (visual["slow"], visual["fast"])
        audio = None
        if mode != "visual":
            audio = make_resnet_pathway(
                dim_in=1,
                depth=cfg.RESNET.DEPTH,
                kernels=AUDIO_KERNELS,
                width_per_group=cfg.RESNET.WIDTH_PER_GROUP,
                width_divisor=cfg.AVSLOWFAST.AUDIO_WIDTH_DIVISOR,
            )
        dims = [p.stages[-1].dim_out for p in (slow, fast, audio) if p is not None]
        return {
            "slow": slow,
            "fast": fast,
            "audio": audio,
            "alpha": visual["alpha"],
            "fusion_conv_channel_ratio": visual["fusion_conv_channel_ratio"],
            "fusion_kernel_sz": visual["fusion_kernel_sz"],
            "audio_fusion_stages": list(cfg.AVSLOWFAST.FUSION_STAGES),
            "head": build_head(cfg, dim_in=dims),
            "norm": build_norm(cfg),
            "zero_init_final_norm": cfg.RESNET.ZERO_INIT_FINAL_BN,
            "clip_channels": cls.input_spec_from_config(cfg).channels,
        }

    def _audio_stage(self, i: int, audio: torch.Tensor) -> torch.Tensor:
        audio = self.audio_stages[i](audio)
        return self.audio_pool1(audio) if i == 0 else audio

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Args: inputs: ``[slow, fast, audio (B, 1, 1, T_a, n_mels)]``; visual-only models
        also take ``[slow, fast]``, audio-only ones use the last tensor only.

        Returns: the present pathways' features, in the order slow, fast, audio.
        """
        if self.mode == "audio":
            audio = self.audio_stem(inputs[-1])
            for i in range(len(self.audio_stages)):
                audio = self._audio_stage(i, audio)
            return [audio]
        if self.mode == "visual":
            return self.visual.forward_features(inputs[:2])
        if len(inputs) != 3:
            raise ValueError(f"AVSlowFast takes [slow, fast, audio], got {len(inputs)} tensors")
        audio = [self.audio_stem(inputs[2])]

        def add_audio(i: int, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
            # The audio pathway advances one stage beside SlowFast's, through its public hook.
            audio[0] = self._audio_stage(i, audio[0])
            if i + 2 in self.audio_fusion_stages:
                fusion = self.audio_fusions[self.audio_fusion_stages.index(i + 2)]
                slow = fusion(slow, audio[0])
            return slow

        slow, fast = self.visual.forward_features(inputs[:2], after_stage=add_audio)
        return [slow, fast, audio[0]]

    def example_inputs(
        self, batch_size: int = 1, num_frames: int = 8, size: int = 32
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """SlowFast's clips, then a (B, 1, 1, 64, 32) spectrogram of 64 frames, 32 bands."""
        spec = self.input_spec
        device = next(self.parameters()).device
        clips = [
            torch.randn(batch_size, c, t, size, size, device=device)
            for c, t in zip(spec.channels, spec.pathway_frames(num_frames))
        ]
        return clips + [torch.randn(batch_size, 1, 1, 64, 32, device=device)], ()
