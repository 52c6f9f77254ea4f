"""The project's own config node; slowvid's defaults are not edited."""

from fvcore.common.config import CfgNode


def add_config(cfg: CfgNode) -> None:
    """Add the EFFICIENT_X3D node to ``cfg`` (called before any yaml is merged)."""
    cfg.EFFICIENT_X3D = CfgNode()
    # Activation after each block's channelwise conv: "hardswish" (mobile) or "swish" (X3D).
    cfg.EFFICIENT_X3D.ACTIVATION = "hardswish"
    # Activation inside squeeze-excitation: "relu" or "hardswish".
    cfg.EFFICIENT_X3D.SE_ACTIVATION = "relu"
    # Squeeze-excitation gate: "hardsigmoid" (mobile) or "sigmoid" (X3D).
    cfg.EFFICIENT_X3D.SE_GATE = "hardsigmoid"
