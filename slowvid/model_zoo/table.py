"""Published model-zoo rows, the shipped config of each, and what this code computes for them.

``zoo_targets.csv`` is a verbatim copy of the published table (PySlowFast's model zoo; params in
millions, GFLOPs per test view with one multiply-add counted as one flop). ``extra_targets.csv``
adds, in the same layout, architectures that table lacks, from their papers and releases (MViTv2:
arXiv 2112.01526, Table 5, which PySlowFast's model zoo repeats; VideoMAE: arXiv 2203.12602 and
MCG-NJU/VideoMAE MODEL_ZOO.md; TimeSformer: arXiv 2102.05095 and the facebookresearch/TimeSformer
README; Rev-MViT: PySlowFast projects/rev/README.md). :data:`ZOO_CONFIGS`
maps each of its rows to a config under ``configs/`` and to the FLOP-counting convention the
published figure was measured with; :func:`measure` counts parameters and GFLOPs of the config's
network on the meta device, so the whole zoo is measured in seconds.

Assumption: the package runs from a source checkout, with ``configs/`` beside ``slowvid/``.
"""

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from fvcore.common.config import CfgNode

from slowvid.config import load_config
from slowvid.models import build_model, count_parameters, meta_gflops_by_operator

__all__ = [
    "CONVENTIONS",
    "REPO",
    "TARGETS_CSV",
    "ZOO_CONFIGS",
    "ZooConfig",
    "ZooMeasure",
    "ZooRow",
    "load_rows",
    "measure",
    "test_view_shapes",
    "zoo_cfg",
]

REPO = Path(__file__).resolve().parents[2]
TARGETS_CSV = Path(__file__).with_name("zoo_targets.csv")
EXTRA_CSV = Path(__file__).with_name("extra_targets.csv")

# How a published GFLOPs figure counted batch norm, as a multiple of fvcore's eval-mode count
# (2 flops per element): "eval" as fvcore counts an eval-mode model, "conv_linear" leaves batch
# norm out, "train_bn" charges fvcore's training-mode 5 flops per element.
CONVENTIONS: dict[str, float] = {"eval": 1.0, "conv_linear": 0.0, "train_bn": 2.5}

_AVA_NOTE = (
    "Detector (configs/AVA): the Kinetics backbone with res5 dilated instead of strided, and an "
    "ROI head whose only parameters are a {dim}->80 linear layer. No GFLOPs are published (they "
    "depend on the frame size and the number of boxes)."
)
_ETC = "configs/Kinetics/"


@dataclass(frozen=True)
class ZooConfig:
    """How one published row is reproduced.

    Attributes:
        config: yaml path relative to the repository root.
        convention: key of :data:`CONVENTIONS` the published GFLOPs use; None if none published.
        opts: ``KEY VALUE`` overrides applied after the yaml.
        note: why the row differs from the published figures, or how it is built.
        measured_top1: top-1 (or mAP) measured with this code, "" until someone trains the row.
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
    params_excluded: tuple[str, ...] = ()
    params_truncated: bool = False
    gflops_rounding: float = 0.0


# (dataset, arch, depth, frames_x_rate) of zoo_targets.csv -> how this code reproduces it.
ZOO_CONFIGS: dict[tuple[str, str, str, str], ZooConfig] = {
    ("Kinetics-400", "C2D", "R50", "8x8"): ZooConfig(_ETC + "C2D_8x8_R50.yaml", "train_bn"),
    ("Kinetics-400", "I3D", "R50", "8x8"): ZooConfig(_ETC + "I3D_8x8_R50.yaml", "train_bn"),
    ("Kinetics-400", "Slow", "R50", "4x16"): ZooConfig(_ETC + "SLOW_4x16_R50.yaml", "train_bn"),
    ("Kinetics-400", "Slow", "R50", "8x8"): ZooConfig(_ETC + "SLOW_8x8_R50.yaml", "conv_linear"),
    ("Kinetics-400", "SlowFast", "R50", "4x16"): ZooConfig(
        _ETC + "SLOWFAST_4x16_R50.yaml", "train_bn"
    ),
    ("Kinetics-400", "SlowFast", "R50", "8x8"): ZooConfig(
        _ETC + "SLOWFAST_8x8_R50.yaml", "conv_linear"
    ),
    ("Kinetics-400", "SlowFast", "R101", "8x8"): ZooConfig(
        _ETC + "SLOWFAST_8x8_R101.yaml", "train_bn"
    ),
    ("Kinetics-400", "SlowFast", "R101", "16x8"): ZooConfig(
        _ETC + "SLOWFAST_16x8_R101_50_50.yaml",
        "train_bn",
        note="The published row is PySlowFast's R101 '50_50' model: temporal kernels only in "
        "the first 3/4/6/3 blocks of res2..res5, as in R50 (RESNET.NUM_BLOCK_TEMP_KERNEL).",
    ),
    ("Kinetics-400", "CSN", "R101", "32x2"): ZooConfig(_ETC + "CSN_32x2_R101.yaml", "train_bn"),
    ("Kinetics-400", "R(2+1)D", "R50", "16x4"): ZooConfig(
        _ETC + "R2PLUS1D_16x4_R50.yaml", "train_bn"
    ),
    ("Kinetics-400", "X3D", "XS", "4x12"): ZooConfig(_ETC + "X3D_XS.yaml", "train_bn"),
    ("Kinetics-400", "X3D", "S", "13x6"): ZooConfig(_ETC + "X3D_S.yaml", "train_bn"),
    ("Kinetics-400", "X3D", "M", "16x5"): ZooConfig(_ETC + "X3D_M.yaml", "train_bn"),
    ("Kinetics-400", "X3D", "L", "16x5"): ZooConfig(_ETC + "X3D_L.yaml", "train_bn"),
    ("Kinetics-400", "MViT", "B", "16x4"): ZooConfig(_ETC + "MVIT_B_16x4.yaml", "eval"),
    ("Kinetics-400", "MViT", "B", "32x3"): ZooConfig(
        _ETC + "MVIT_B_32x3.yaml",
        "eval",
        note="16 blocks on 32 frames (paper Table 2); PySlowFast's MVIT_B_32x3_CONV.yaml sets "
        "24 blocks, which is a different, larger model.",
    ),
    ("Kinetics-400", "MViTv2", "S", "16x4"): ZooConfig(_ETC + "MVITv2_S_16x4.yaml", "eval"),
    ("Kinetics-400", "MViTv2", "B", "32x3"): ZooConfig(_ETC + "MVITv2_B_32x3.yaml", "eval"),
    ("Kinetics-400", "Rev-MViT", "B", "16x4"): ZooConfig(
        _ETC + "REV_MVIT_B_16x4.yaml",
        "eval",
        params_truncated=True,
        note="PySlowFast's rev README truncates parameter counts (its ImageNet Rev-MViT-B, 39.69 M "
        "as PySlowFast builds it, is listed as 39): 34.96 M is listed as 34.9. PySlowFast's own "
        "yaml leaves the class token on, which its reversible model refuses; it is off here.",
    ),
    **{
        ("Kinetics-400", "VideoMAE", f"ViT-{size}", "16x4"): ZooConfig(
            _ETC + f"VIT_{size}_16x4.yaml",
            "eval",
            note="Published parameters as transformers' VideoMAEForVideoClassification builds "
            "them (the paper rounds up); the sin-cos table is a buffer, not a parameter.",
        )
        for size in "SBLH"
    },
    **{
        ("SSv2", "VideoMAE", f"ViT-{size}", "16x2"): ZooConfig(
            f"configs/SSv2/VIT_{size}_16x2.yaml",
            "eval",
            note="No 174-class size is published (the paper repeats the Kinetics backbone sizes).",
        )
        for size in "SB"
    },
    **{
        ("Kinetics-400", name, "ViT-B", rate): ZooConfig(
            _ETC + config,
            "eval",
            params_excluded=("pos_embed", "time_embed", "cls_token"),
            gflops_rounding=5 / 3,
            note="The paper counts 121.4 M for every size, without the position and time "
            "embeddings and the class token (which grow with the clip); GFLOPs are published as "
            "TFLOPs for 3 views (0.59, 5.11, 7.14), so a view is that / 3, +-1.7 G of rounding. "
            "Top-1 / top-5 are the released models' (the TimeSformer README).",
        )
        for name, rate, config in (
            ("TimeSformer", "8x32", "TIMESFORMER_8x32.yaml"),
            ("TimeSformer-HR", "16x16", "TIMESFORMER_HR_16x16.yaml"),
            ("TimeSformer-L", "96x4", "TIMESFORMER_L_96x4.yaml"),
        )
    },
    ("SSv2", "Slow", "R50", "8x8"): ZooConfig(
        "configs/SSv2/SLOW_8x8_R50.yaml",
        "train_bn",
        note="Published 31.96 M is the 157-class Charades size; 174 classes give 31.99 M (+0.1%).",
    ),
    ("SSv2", "SlowFast", "R50", "8x8"): ZooConfig("configs/SSv2/SLOWFAST_8x8_R50.yaml", "train_bn"),
    ("Charades", "Slow", "R50", "8x8"): ZooConfig(
        "configs/Charades/SLOW_8x8_R50.yaml",
        "train_bn",
    ),
    ("Charades", "SlowFast", "R50", "8x8"): ZooConfig(
        "configs/Charades/SLOWFAST_8x8_R50.yaml",
        "train_bn",
    ),
    ("AVA-v2.2", "Slow", "R50", "4x16"): ZooConfig(
        "configs/AVA/SLOW_4x16_R50.yaml", None, note=_AVA_NOTE.format(dim=2048)
    ),
    ("AVA-v2.2", "SlowFast", "R50", "8x8"): ZooConfig(
        "configs/AVA/SLOWFAST_8x8_R50.yaml", None, note=_AVA_NOTE.format(dim="2048+256")
    ),
}


def _number(text: str) -> float | None:
    """The leading number of a csv cell ("34.72(mAP)" -> 34.72), None for an empty cell."""
    text = text.split("(")[0].strip()
    return float(text) if text else None


@dataclass(frozen=True)
class ZooRow:
    """One published row (csv cells as written) and its :class:`ZooConfig`."""

    dataset: str
    arch: str
    depth: str
    pretrain: str
    frames_x_rate: str
    top1: str
    top5: str
    gflops_text: str
    views: str
    params_text: str
    zoo: ZooConfig = field(compare=False)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.dataset, self.arch, self.depth, self.frames_x_rate)

    @property
    def name(self) -> str:
        """E.g. "Kinetics-400 SlowFast R50 8x8"."""
        return " ".join(self.key)

    @property
    def params_m(self) -> float | None:
        return _number(self.params_text)

    @property
    def gflops(self) -> float | None:
        return _number(self.gflops_text)

    @property
    def params_tolerance_m(self) -> float:
        """0.1%, or half a unit of the published last digit if larger: 3.79 M means
        [3.785, 3.795), so X3D's 3.7943 M reproduces it although it is 0.11% above."""
        decimals = len(self.params_text.partition(".")[2])
        return max(1e-3 * self.params_m, 0.5 * 10**-decimals)

    def params_match(self, params_m: float) -> bool:
        """Whether a count (millions) reproduces the published one: within
        :attr:`params_tolerance_m`, or for a truncated figure within its last digit above it."""
        if self.zoo.params_truncated:
            unit = 10 ** -len(self.params_text.partition(".")[2])
            return self.params_m <= params_m < self.params_m + unit
        return abs(params_m - self.params_m) <= self.params_tolerance_m

    @property
    def gflops_tolerance(self) -> float:
        """0.2%, or the rounding of the published figure if larger (half a unit of its last
        digit, or :attr:`ZooConfig.gflops_rounding`)."""
        decimals = len(self.gflops_text.partition(".")[2])
        rounding = max(0.5 * 10**-decimals, self.zoo.gflops_rounding)
        return max(2e-3 * self.gflops, rounding)


def load_rows(paths: Sequence[str | Path] = (TARGETS_CSV, EXTRA_CSV)) -> list[ZooRow]:
    """Every row of the published tables, in their order, with its config.

    Raises:
        KeyError: a row has no entry in :data:`ZOO_CONFIGS` (the message names it).
    """
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            records = list(csv.DictReader(f))
        for r in records:
            key = (r["dataset"], r["arch"], r["depth"], r["frames_x_rate"])
            if key not in ZOO_CONFIGS:
                raise KeyError(f"zoo row {' '.join(key)} ({path}) has no entry in ZOO_CONFIGS")
            cells = [r[c] for c in ("top1_or_map", "top5", "gflops_per_view", "views", "params_m")]
            rows.append(ZooRow(*key[:3], r["pretrain"], key[3], *cells, ZOO_CONFIGS[key]))
    return rows


def zoo_cfg(row: ZooRow) -> CfgNode:
    """The merged config of a row: its yaml, then its overrides."""
    return load_config(str(REPO / row.zoo.config), list(row.zoo.opts))


def test_view_shapes(cfg: CfgNode) -> list[tuple[int, ...]]:
    """Per pathway (1, C, T, S, S): one test view at DATA.TEST_CROP_SIZE, the slow pathway
    keeping every alpha-th frame as ``slowvid.data.transforms.pack_pathways`` does."""
    size, frames = cfg.DATA.TEST_CROP_SIZE, cfg.DATA.NUM_FRAMES
    channels = cfg.DATA.INPUT_CHANNEL_NUM
    lengths = [frames] if len(channels) == 1 else [frames // cfg.SLOWFAST.ALPHA, frames]
    return [(1, c, t, size, size) for c, t in zip(channels, lengths)]


test_view_shapes.__test__ = False  # not a pytest test, despite the name


@dataclass(frozen=True)
class ZooMeasure:
    """What this code computes for a row.

    Attributes:
        params: parameter elements.
        gflops_by_op: eval-mode GFLOPs of one test view per operator kind (fvcore's formulas).
        params_excluded: elements of the parameters the published count leaves out.
    """

    params: int
    gflops_by_op: dict[str, float]
    params_excluded: int = 0

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def params_as_published_m(self) -> float:
        """Millions of parameters counted as the publication counts them."""
        return (self.params - self.params_excluded) / 1e6

    @property
    def gflops(self) -> float:
        """Eval-mode total, as ``slowvid.models.count_gflops`` reports."""
        return sum(self.gflops_by_op.values())

    def gflops_as(self, convention: str) -> float:
        """The total with batch norm counted as :data:`CONVENTIONS` says."""
        bn = self.gflops_by_op.get("batch_norm", 0.0)
        return self.gflops + (CONVENTIONS[convention] - 1.0) * bn


def measure(row: ZooRow) -> ZooMeasure:
    """Parameters and GFLOPs of a row's network, built and run on the meta device (no memory,
    no arithmetic: a fraction of a second even for SlowFast R101 16x8). Rows without published
    GFLOPs are not run."""
    cfg = zoo_cfg(row)
    with torch.device("meta"):
        model = build_model(cfg)
    excluded = sum(
        p.numel() for n, p in model.named_parameters() if n.startswith(row.zoo.params_excluded)
    )
    if row.zoo.convention is None:  # no published GFLOPs (AVA detectors also need boxes)
        return ZooMeasure(count_parameters(model), {}, excluded)
    view = [torch.empty(s, device="meta") for s in test_view_shapes(cfg)]
    return ZooMeasure(count_parameters(model), meta_gflops_by_operator(model, view), excluded)
