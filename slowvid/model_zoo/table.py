"""Published model-zoo rows, the shipped config of each, and what this code computes for them.

``zoo_targets.csv`` is a verbatim copy of the published table (PySlowFast's model zoo; params in
millions, GFLOPs per test view with one multiply-add counted as one flop). ``extra_targets.csv``
adds, in the same layout, architectures that table lacks, from their papers and releases (MViTv2:
arXiv 2112.01526, Table 5, which PySlowFast's model zoo repeats; VideoMAE: arXiv 2203.12602 and
MCG-NJU/VideoMAE MODEL_ZOO.md; TimeSformer: arXiv 2102.05095 and the facebookresearch/TimeSformer
README; Rev-MViT: PySlowFast projects/rev/README.md). The variant table
(:data:`~slowvid.model_zoo.variants.VARIANTS`) maps each of its rows to a config under
``configs/`` and to the FLOP-counting convention the published figure was measured with;
:func:`measure` counts parameters and GFLOPs of the config's
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
from slowvid.models import build_model, count_parameters, input_spec_of, meta_gflops_by_operator

from .variants import VARIANTS, ZooConfig

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

# (dataset, arch, depth, frames_x_rate) of the published tables -> the variant reproducing it.
ZOO_CONFIGS: dict[tuple[str, str, str, str], ZooConfig] = {
    v.row: v for v in VARIANTS.values() if v.row is not None
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
    """Per pathway (1, C, T, S, S): one test view at DATA.TEST_CROP_SIZE, each pathway keeping
    the frames the model's input spec says (SlowFast's slow one every alpha-th)."""
    size, spec = cfg.DATA.TEST_CROP_SIZE, input_spec_of(cfg)
    frames = spec.pathway_frames(cfg.DATA.NUM_FRAMES)
    return [(1, c, t, size, size) for c, t in zip(spec.channels, frames)]


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
