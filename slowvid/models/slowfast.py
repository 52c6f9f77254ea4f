"""SlowFast networks.

Paper: "SlowFast Networks for Video Recognition", Feichtenhofer, Fan, Malik, He,
arXiv:1812.03982. Layout (pathway widths, lateral connections after the stem and res2..res4)
follows PySlowFast's ``video_model_builder.py`` (Apache-2.0) so parameter counts and checkpoints
match its model zoo; the code is written anew.
"""

from collections.abc import Callable, Sequence

import torch
from torch import nn

from slowvid.registry import MODELS

from .base import InputSpec, VideoModel
from .blocks import Bottleneck, FuseFastToSlow, NonLocal, PathwaySpec, init_weights
from .build import build_activation, build_head, build_norm, check_trans_func
from .resnet3d import ARCH_KERNELS, make_pathway_modules, pathway_from_config, pathway_stride

__all__ = ["AfterStage", "SlowFast"]

# ``after_stage(i, slow, fast) -> slow``: a wrapper's hook after stage i (0 = res2).
AfterStage = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]


@MODELS.register()
class SlowFast(VideoModel):
    """Two-pathway network: a slow, wide pathway and a fast, thin one with lateral fusion.

    ::

        slow clip (B, 3, T, H, W)         fast clip (B, 3, alpha*T, H, W)
          stem                              stem                (B, w/beta_inv, ...)
          <── fuse (conv t-stride alpha) ───┤
          res2 .. res4, each followed by    res2 .. res4
          <── fuse ─────────────────────────┤
          res5                              res5
          └──────────── head: pool each, concat, linear ────────┘  (B, num_classes) logits

    Args:
        slow: the slow pathway; its stage inputs widen by the fused fast channels.
        fast: the fast pathway (widths divided by beta_inv).
        alpha: frame-rate ratio of the fast to the slow pathway.
        fusion_conv_channel_ratio: lateral conv output channels, as a multiple of fast channels.
        fusion_kernel_sz: temporal kernel of the lateral conv.
        head: maps ``[slow features, fast features]`` to logits.
        norm: builds a normalisation layer from a channel count.
        activation: builds an activation layer.
        zero_init_final_norm: start each residual branch's last norm at zero.
        fc_init_std: standard deviation of the classifier's initial weights.
    """

    archs = ("slowfast",)

    # Measured faster in channels-last-3D memory on CPUs and GPUs (BENCHMARKS.md); the engine
    # uses it there when MODEL.CHANNELS_LAST is None.
    channels_last_devices = ("cpu", "cuda")

    # The repeated blocks: units of activation checkpointing and of FSDP sharding.
    block_types: tuple[type[nn.Module], ...] = (Bottleneck, NonLocal)

    def __init__(
        self,
        *,
        slow: PathwaySpec,
        fast: PathwaySpec,
        alpha: int,
        fusion_conv_channel_ratio: int,
        fusion_kernel_sz: int,
        head: nn.Module,
        norm: Callable[[int], nn.Module] = nn.BatchNorm3d,
        activation: Callable[[], nn.Module] = nn.ReLU,
        zero_init_final_norm: bool = True,
        fc_init_std: float = 0.01,
    ):
        super().__init__()
        self.alpha = alpha
        # Laterals leave the stem, res2, res3 and res4; res5 features go straight to the head.
        fast_dims = [fast.stem_dim] + [s.dim_out for s in fast.stages[:-1]]
        self.fusions = nn.ModuleList(
            FuseFastToSlow(d, fusion_conv_channel_ratio, fusion_kernel_sz, alpha, norm, activation)
            for d in fast_dims
        )
        lateral_dims = [f.dim_out for f in self.fusions]
        self.slow_stem, self.slow_stages, self.slow_pool1 = make_pathway_modules(
            slow, norm, activation, lateral_dims=lateral_dims
        )
        self.fast_stem, self.fast_stages, self.fast_pool1 = make_pathway_modules(
            fast, norm, activation
        )
        self.head = head
        self.input_spec = InputSpec((alpha, 1), (slow.dim_in, fast.dim_in))
        self.feature_dims = (slow.stages[-1].dim_out, fast.stages[-1].dim_out)
        # Both pathways share their spatial strides; the slow one's is the network's.
        self.feature_stride = pathway_stride(slow)
        last = len(self.slow_stages) - 1
        self.feature_layers = (f"slow_stages.{last}", f"fast_stages.{last}")
        init_weights(self, zero_init_final_norm=zero_init_final_norm, fc_std=fc_init_std)

    @classmethod
    def frame_strides_from_config(cls, cfg) -> tuple[int, ...]:
        """The slow pathway keeps every SLOWFAST.ALPHA-th frame, the fast one all."""
        return (cfg.SLOWFAST.ALPHA, 1)

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH, RESNET.*, NONLOCAL.*, SLOWFAST.*, DATA.INPUT_CHANNEL_NUM, BN.*,
        MODEL.FC_INIT_STD and the head's keys."""
        check_trans_func(cfg, "bottleneck_transform", "SlowFast")
        slow_kernels, fast_kernels = ARCH_KERNELS[cls.arch_of(cfg)]
        channels = cls.input_spec_from_config(cfg).channels
        sf = cfg.SLOWFAST
        slow = pathway_from_config(cfg, 0, channels[0], slow_kernels)
        fast = pathway_from_config(cfg, 1, channels[1], fast_kernels, width_divisor=sf.BETA_INV)
        return {
            "slow": slow,
            "fast": fast,
            "alpha": sf.ALPHA,
            "fusion_conv_channel_ratio": sf.FUSION_CONV_CHANNEL_RATIO,
            "fusion_kernel_sz": sf.FUSION_KERNEL_SZ,
            "head": build_head(cfg, dim_in=[slow.stages[-1].dim_out, fast.stages[-1].dim_out]),
            "norm": build_norm(cfg),
            "activation": build_activation(cfg),
            "zero_init_final_norm": cfg.RESNET.ZERO_INIT_FINAL_BN,
            "fc_init_std": cfg.MODEL.FC_INIT_STD,
        }

    def forward_features(
        self, inputs: Sequence[torch.Tensor], after_stage: AfterStage | None = None
    ) -> list[torch.Tensor]:
        """Args:
            inputs: ``[slow (B, C, T, H, W), fast (B, C, alpha*T, H, W)]``.
            after_stage: called after each of res2..res5 (after res2's temporal pool, before
                the lateral fusion) with ``(stage index from 0, slow, fast)``; its result
                replaces the slow features. The hook through which a wrapper adds a pathway
                (AVSlowFast's audio) without copying this loop.

        Returns: ``[slow (B, C_s, T', H/32, W/32), fast (B, C_f, alpha*T', H/32, W/32)]``.
        """
        if len(inputs) != 2:
            raise ValueError(f"SlowFast takes [slow, fast] clips, got {len(inputs)} tensors")
        slow, fast = inputs
        if fast.shape[2] != self.alpha * slow.shape[2]:
            raise ValueError(
                f"fast clip has {fast.shape[2]} frames, slow clip {slow.shape[2]}; "
                f"SLOWFAST.ALPHA={self.alpha} needs fast = alpha * slow"
            )
        slow, fast = self.slow_stem(slow), self.fast_stem(fast)
        slow = self.fusions[0](slow, fast)
        for i, (slow_stage, fast_stage) in enumerate(
            zip(self.slow_stages, self.fast_stages, strict=True)
        ):
            slow, fast = slow_stage(slow), fast_stage(fast)
            if i == 0:
                slow, fast = self.slow_pool1(slow), self.fast_pool1(fast)
            if after_stage is not None:
                slow = after_stage(i, slow, fast)
            if i + 1 < len(self.fusions):
                slow = self.fusions[i + 1](slow, fast)
        return [slow, fast]
