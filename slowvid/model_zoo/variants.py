"""The one table naming each model-zoo variant's config.

hubconf.py (its ``torch.hub`` entry points), ``tools/model_zoo.py`` and MODEL_ZOO.md (the
published rows each variant reproduces) and the tests all read :data:`VARIANTS`; no other file
maps a variant to its yaml or restates the yaml's values.
"""

from dataclasses import dataclass

__all__ = ["VARIANTS", "ZooConfig", "hub_variants"]


@dataclass(frozen=True)
class ZooConfig:
    """One named variant: its config and, where there is one, the published row it reproduces.

    Attributes:
        config: yaml path relative to the repository root.
        convention: key of ``CONVENTIONS`` (slowvid.model_zoo.table) the published GFLOPs use;
            None if none published.
        opts: ``KEY VALUE`` overrides applied after the yaml.
        note: why the row differs from the published figures, or how it is built.
        measured_top1: top-1 (or mAP) measured with this code, "" until someone trains the row.
        row: ``(dataset, arch, depth, frames_x_rate)`` of the published row (zoo_targets.csv or
            extra_targets.csv) it reproduces; None for a variant without one.
        hub: a ``torch.hub`` entry point of hubconf.py carries the variant's name.
        params_excluded: parameter-name prefixes the published count leaves out.
        params_truncated: the published count is truncated, not rounded (34.96 -> "34.9").
        gflops_rounding: how far the published per-view GFLOPs may lie from the exact figure
            when it was published coarser than its cell shows (e.g. TFLOPs for several views).
    """

    config: str
    convention: str | None
    opts: tuple[str, ...] = ()
    note: str = ""
    measured_top1: str = ""
    row: tuple[str, str, str, str] | None = None
    hub: bool = False
    params_excluded: tuple[str, ...] = ()
    params_truncated: bool = False
    gflops_rounding: float = 0.0


_AVA_NOTE = (
    "Detector (configs/AVA): the Kinetics backbone with res5 dilated instead of strided, and an "
    "ROI head whose only parameters are a {dim}->80 linear layer. No GFLOPs are published (they "
    "depend on the frame size and the number of boxes)."
)
_ETC = "configs/Kinetics/"

# variant name -> its config and the published row it reproduces.
VARIANTS: dict[str, ZooConfig] = {
    "c2d_r50": ZooConfig(
        _ETC + "C2D_8x8_R50.yaml",
        "train_bn",
        row=("Kinetics-400", "C2D", "R50", "8x8"),
        hub=True,
    ),
    "i3d_r50": ZooConfig(
        _ETC + "I3D_8x8_R50.yaml",
        "train_bn",
        row=("Kinetics-400", "I3D", "R50", "8x8"),
        hub=True,
    ),
    "slow_r50_4x16": ZooConfig(
        _ETC + "SLOW_4x16_R50.yaml",
        "train_bn",
        row=("Kinetics-400", "Slow", "R50", "4x16"),
        hub=True,
    ),
    "slow_r50": ZooConfig(
        _ETC + "SLOW_8x8_R50.yaml",
        "conv_linear",
        row=("Kinetics-400", "Slow", "R50", "8x8"),
        hub=True,
    ),
    "slowfast_r50_4x16": ZooConfig(
        _ETC + "SLOWFAST_4x16_R50.yaml",
        "train_bn",
        row=("Kinetics-400", "SlowFast", "R50", "4x16"),
        hub=True,
    ),
    "slowfast_r50": ZooConfig(
        _ETC + "SLOWFAST_8x8_R50.yaml",
        "conv_linear",
        row=("Kinetics-400", "SlowFast", "R50", "8x8"),
        hub=True,
    ),
    "slowfast_r101_8x8": ZooConfig(
        _ETC + "SLOWFAST_8x8_R101.yaml",
        "train_bn",
        row=("Kinetics-400", "SlowFast", "R101", "8x8"),
    ),
    "slowfast_r101_16x8": ZooConfig(
        _ETC + "SLOWFAST_16x8_R101_50_50.yaml",
        "train_bn",
        note="The published row is PySlowFast's R101 '50_50' model: temporal kernels only in "
        "the first 3/4/6/3 blocks of res2..res5, as in R50 (RESNET.NUM_BLOCK_TEMP_KERNEL).",
        row=("Kinetics-400", "SlowFast", "R101", "16x8"),
    ),
    "csn_r101": ZooConfig(
        _ETC + "CSN_32x2_R101.yaml",
        "train_bn",
        row=("Kinetics-400", "CSN", "R101", "32x2"),
        hub=True,
    ),
    "r2plus1d_r50": ZooConfig(
        _ETC + "R2PLUS1D_16x4_R50.yaml",
        "train_bn",
        row=("Kinetics-400", "R(2+1)D", "R50", "16x4"),
        hub=True,
    ),
    "x3d_xs": ZooConfig(
        _ETC + "X3D_XS.yaml",
        "train_bn",
        row=("Kinetics-400", "X3D", "XS", "4x12"),
        hub=True,
    ),
    "x3d_s": ZooConfig(
        _ETC + "X3D_S.yaml",
        "train_bn",
        row=("Kinetics-400", "X3D", "S", "13x6"),
        hub=True,
    ),
    "x3d_m": ZooConfig(
        _ETC + "X3D_M.yaml",
        "train_bn",
        row=("Kinetics-400", "X3D", "M", "16x5"),
        hub=True,
    ),
    "x3d_l": ZooConfig(
        _ETC + "X3D_L.yaml",
        "train_bn",
        row=("Kinetics-400", "X3D", "L", "16x5"),
        hub=True,
    ),
    "mvit_base_16x4": ZooConfig(
        _ETC + "MVIT_B_16x4.yaml",
        "eval",
        row=("Kinetics-400", "MViT", "B", "16x4"),
        hub=True,
    ),
    "mvit_base_32x3": ZooConfig(
        _ETC + "MVIT_B_32x3.yaml",
        "eval",
        note="16 blocks on 32 frames (paper Table 2); PySlowFast's MVIT_B_32x3_CONV.yaml sets "
        "24 blocks, which is a different, larger model.",
        row=("Kinetics-400", "MViT", "B", "32x3"),
        hub=True,
    ),
    "mvitv2_s_16x4": ZooConfig(
        _ETC + "MVITv2_S_16x4.yaml",
        "eval",
        row=("Kinetics-400", "MViTv2", "S", "16x4"),
        hub=True,
    ),
    "mvitv2_b_32x3": ZooConfig(
        _ETC + "MVITv2_B_32x3.yaml",
        "eval",
        row=("Kinetics-400", "MViTv2", "B", "32x3"),
        hub=True,
    ),
    "rev_mvit_b_16x4": ZooConfig(
        _ETC + "REV_MVIT_B_16x4.yaml",
        "eval",
        params_truncated=True,
        note="PySlowFast's rev README truncates parameter counts (its ImageNet Rev-MViT-B, 39.69 M "
        "as PySlowFast builds it, is listed as 39): 34.96 M is listed as 34.9. PySlowFast's own "
        "yaml leaves the class token on, which its reversible model refuses; it is off here.",
        row=("Kinetics-400", "Rev-MViT", "B", "16x4"),
        hub=True,
    ),
    **{
        f"videomae_vit_{size.lower()}_16x4": ZooConfig(
            _ETC + f"VIT_{size}_16x4.yaml",
            "eval",
            note="Published parameters as transformers' VideoMAEForVideoClassification builds "
            "them (the paper rounds up); the sin-cos table is a buffer, not a parameter.",
            row=("Kinetics-400", "VideoMAE", f"ViT-{size}", "16x4"),
            hub=True,
        )
        for size in "SBLH"
    },
    **{
        f"ssv2_videomae_vit_{size.lower()}": ZooConfig(
            f"configs/SSv2/VIT_{size}_16x2.yaml",
            "eval",
            note="No 174-class size is published (the paper repeats the Kinetics backbone sizes).",
            row=("SSv2", "VideoMAE", f"ViT-{size}", "16x2"),
        )
        for size in "SB"
    },
    # PySlowFast's MAE-ST fine-tuning networks; no published row is reproduced here.
    "mae_st_vit_l_16x4": ZooConfig(_ETC + "MAE_ST_VIT_L_16x4.yaml", None, hub=True),
    "mae_st_vit_h_16x4": ZooConfig(_ETC + "MAE_ST_VIT_H_16x4.yaml", None, hub=True),
    **{
        variant: ZooConfig(
            _ETC + config,
            "eval",
            params_excluded=("pos_embed", "time_embed", "cls_token"),
            gflops_rounding=5 / 3,
            note="The paper counts 121.4 M for every size, without the position and time "
            "embeddings and the class token (which grow with the clip); GFLOPs are published as "
            "TFLOPs for 3 views (0.59, 5.11, 7.14), so a view is that / 3, +-1.7 G of rounding. "
            "Top-1 / top-5 are the released models' (the TimeSformer README).",
            row=("Kinetics-400", name, "ViT-B", rate),
            hub=True,
        )
        for variant, name, rate, config in (
            ("timesformer_8x32", "TimeSformer", "8x32", "TIMESFORMER_8x32.yaml"),
            ("timesformer_hr_16x16", "TimeSformer-HR", "16x16", "TIMESFORMER_HR_16x16.yaml"),
            ("timesformer_l_96x4", "TimeSformer-L", "96x4", "TIMESFORMER_L_96x4.yaml"),
        )
    },
    "ssv2_slow_r50": ZooConfig(
        "configs/SSv2/SLOW_8x8_R50.yaml",
        "train_bn",
        note="Published 31.96 M is the 157-class Charades size; 174 classes give 31.99 M (+0.1%).",
        row=("SSv2", "Slow", "R50", "8x8"),
    ),
    "ssv2_slowfast_r50": ZooConfig(
        "configs/SSv2/SLOWFAST_8x8_R50.yaml",
        "train_bn",
        row=("SSv2", "SlowFast", "R50", "8x8"),
    ),
    "charades_slow_r50": ZooConfig(
        "configs/Charades/SLOW_8x8_R50.yaml",
        "train_bn",
        row=("Charades", "Slow", "R50", "8x8"),
    ),
    "charades_slowfast_r50": ZooConfig(
        "configs/Charades/SLOWFAST_8x8_R50.yaml",
        "train_bn",
        row=("Charades", "SlowFast", "R50", "8x8"),
    ),
    "ava_slow_r50_4x16": ZooConfig(
        "configs/AVA/SLOW_4x16_R50.yaml",
        None,
        note=_AVA_NOTE.format(dim=2048),
        row=("AVA-v2.2", "Slow", "R50", "4x16"),
    ),
    "ava_slowfast_r50": ZooConfig(
        "configs/AVA/SLOWFAST_8x8_R50.yaml",
        None,
        note=_AVA_NOTE.format(dim="2048+256"),
        row=("AVA-v2.2", "SlowFast", "R50", "8x8"),
    ),
}


def hub_variants() -> dict[str, ZooConfig]:
    """The variants hubconf.py exposes, by entry-point name."""
    return {name: v for name, v in VARIANTS.items() if v.hub}
