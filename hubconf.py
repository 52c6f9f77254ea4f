"""torch.hub entry points: one per model-zoo architecture, built from its shipped config.

    model = torch.hub.load("path/to/slowvid", "slowfast_r50", source="local")
    model = torch.hub.load("path/to/slowvid", "x3d_s", source="local", weights="x3d_s.pyth")

``weights`` is a local checkpoint file in any format ``slowvid.checkpoint.load_checkpoint``
reads. No weights are hosted, so ``pretrained=True`` without ``weights`` is an error rather than
a silent random model.
"""

import os

dependencies = ["torch", "fvcore", "iopath"]

_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")

# entry point -> config under configs/
ARCHITECTURES = {
    "c2d_r50": "Kinetics/C2D_8x8_R50.yaml",
    "i3d_r50": "Kinetics/I3D_8x8_R50.yaml",
    "slow_r50_4x16": "Kinetics/SLOW_4x16_R50.yaml",
    "slow_r50": "Kinetics/SLOW_8x8_R50.yaml",
    "slowfast_r50_4x16": "Kinetics/SLOWFAST_4x16_R50.yaml",
    "slowfast_r50": "Kinetics/SLOWFAST_8x8_R50.yaml",
    "csn_r101": "Kinetics/CSN_32x2_R101.yaml",
    "r2plus1d_r50": "Kinetics/R2PLUS1D_16x4_R50.yaml",
    "x3d_xs": "Kinetics/X3D_XS.yaml",
    "x3d_s": "Kinetics/X3D_S.yaml",
    "x3d_m": "Kinetics/X3D_M.yaml",
    "x3d_l": "Kinetics/X3D_L.yaml",
    "mvit_base_16x4": "Kinetics/MVIT_B_16x4.yaml",
    "mvit_base_32x3": "Kinetics/MVIT_B_32x3.yaml",
    "mvitv2_s_16x4": "Kinetics/MVITv2_S_16x4.yaml",
    "mvitv2_b_32x3": "Kinetics/MVITv2_B_32x3.yaml",
    "rev_mvit_b_16x4": "Kinetics/REV_MVIT_B_16x4.yaml",
    "videomae_vit_s_16x4": "Kinetics/VIT_S_16x4.yaml",
    "videomae_vit_b_16x4": "Kinetics/VIT_B_16x4.yaml",
    "videomae_vit_l_16x4": "Kinetics/VIT_L_16x4.yaml",
    "videomae_vit_h_16x4": "Kinetics/VIT_H_16x4.yaml",
    "mae_st_vit_l_16x4": "Kinetics/MAE_ST_VIT_L_16x4.yaml",
    "mae_st_vit_h_16x4": "Kinetics/MAE_ST_VIT_H_16x4.yaml",
    "timesformer_8x32": "Kinetics/TIMESFORMER_8x32.yaml",
    "timesformer_hr_16x16": "Kinetics/TIMESFORMER_HR_16x16.yaml",
    "timesformer_l_96x4": "Kinetics/TIMESFORMER_L_96x4.yaml",
}


def _build(name: str, pretrained: bool, weights: str | None, **overrides):
    from slowvid.checkpoint import load_checkpoint
    from slowvid.config import load_config
    from slowvid.models import build_model

    if pretrained and weights is None:
        raise ValueError(
            f"{name}: slowvid hosts no weights; pass weights='path/to/checkpoint' "
            "(any format slowvid.checkpoint.load_checkpoint reads) or pretrained=False"
        )
    opts = []
    for key, value in overrides.items():
        opts += [key, repr(value)]
    model = build_model(load_config(os.path.join(_CONFIGS, ARCHITECTURES[name]), opts))
    if weights is not None:
        load_checkpoint(weights, model)
    return model


def _entry_point(name: str):
    def entry(pretrained: bool = False, weights: str | None = None, num_classes: int = 400):
        return _build(name, pretrained, weights, **{"MODEL.NUM_CLASSES": num_classes})

    entry.__name__ = name
    entry.__doc__ = (
        f"{name}, as configs/{ARCHITECTURES[name]} builds it.\n\n"
        "Args:\n"
        "    pretrained: must come with ``weights``: no weights are hosted.\n"
        "    weights: a local checkpoint file to load.\n"
        "    num_classes: classes of the head (400 = Kinetics-400).\n"
    )
    return entry


for _name in ARCHITECTURES:
    globals()[_name] = _entry_point(_name)
