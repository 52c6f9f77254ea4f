"""The project's own config node; slowvid's defaults are not edited."""

from fvcore.common.config import CfgNode


def add_config(cfg: CfgNode) -> None:
    """Add the TSM node to ``cfg`` (called before any yaml is merged)."""
    cfg.TSM = CfgNode()
    # 1/SHIFT_DIV of the channels shift one step back in time, another 1/SHIFT_DIV forward.
    cfg.TSM.SHIFT_DIV = 8
