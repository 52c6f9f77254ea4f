"""MODEL_ZOO.md, rendered from the zoo rows and what this code measures for them.

Everything in the file comes from here, so ``tools/model_zoo.py --markdown MODEL_ZOO.md`` rewrites
it whole; edit the prose below, not the file.
"""

from collections.abc import Sequence

from .table import ZooMeasure, ZooRow

__all__ = ["COLUMNS", "markdown_row", "render_markdown", "row_cells"]

COLUMNS = (
    "dataset",
    "model",
    "frames x rate",
    "config",
    "params (M)",
    "params (M) published",
    "GFLOPs eval",
    "GFLOPs as published",
    "GFLOPs published",
    "BN counted as",
    "views",
    "top-1 published",
    "top-1 measured",
)

_CONVENTION_NAMES = {"eval": "eval", "conv_linear": "not counted", "train_bn": "train mode"}

_HEADER = """\
# Model zoo

Every row of the published PySlowFast model zoo (`slowvid/model_zoo/zoo_targets.csv`, a copy of
`/work/shared/zoo_targets.csv`) beside what this code computes for the config that reproduces it.
This file is generated: edit `slowvid/model_zoo/` and run
`python tools/model_zoo.py --markdown MODEL_ZOO.md`; `tests/models/test_model_zoo.py` fails when
it drifts from the code.

Parameters count every element of the built model. GFLOPs are per test view (one clip of
`DATA.NUM_FRAMES` frames at `DATA.TEST_CROP_SIZE`, the slow pathway taking every `SLOWFAST.ALPHA`-th
frame), with one multiply-add counted as one flop, by fvcore's formulas. "GFLOPs eval" is fvcore's
count of the model in eval mode, as `slowvid.models.count_gflops` reports it; "GFLOPs as published"
counts batch norm the way the published row did ("BN counted as", see below). Rows with a
pretrain other than "-" are fine-tuned: from the Kinetics-400 model of the same architecture, from
VideoMAE's self-supervised pre-training on the same data ("VideoMAE K400", "VideoMAE SSv2"), or
from ImageNet-21K ViT weights (TimeSformer). Rows below the PySlowFast table come from
`slowvid/model_zoo/extra_targets.csv` (MViTv2, Rev-MViT, VideoMAE, TimeSformer; sources there).

No accuracy has been measured with this code yet: the "top-1 measured" column (mAP for Charades
and AVA) stays empty until someone trains a row; record the figure in `ZooConfig.measured_top1`
with the command that produced it.
"""

_CONVENTIONS = """\
## Why some figures differ from the published columns

**GFLOPs: three ways of counting batch norm.** PySlowFast's published GFLOPs were not all counted
alike. fvcore charges batch norm 2 flops per element in eval mode and 5 in training mode. The
Kinetics Slow 8x8 and SlowFast 8x8 R50 rows (54.52, 65.71) leave batch norm out ("not counted");
MViT, ViT (VideoMAE), TimeSformer and Rev-MViT have no batch norm and match fvcore's eval-mode
count, attention matmuls (fused attention counted as its two matmuls) and layer norm included
("eval"); every other row counts batch norm at the training-mode rate ("train mode").
Under its own convention every row with published GFLOPs reproduces within 0.1%, except X3D-S
(2.955 vs 2.96, 0.2%) and rows published coarsely, which reproduce within their rounding
(VideoMAE ViT-B 180.49 for "180"; TimeSformer 196.05 for 0.59 TFLOPs over 3 views). The
eval-mode column is therefore 1-2% below the published figure for the ResNet-family "train mode"
rows and 4-5% below for X3D, whose thin layers make batch norm a larger
share of the total.

**X3D-M (6.72 published).** fvcore does not give 6.72 at 224 or 256 in eval mode: it gives 4.90 at
224x224 and 6.40 at 256x256 (16 frames). 6.72 is the 256x256 view (X3D-M tests 3 crops of 256)
with batch norm at fvcore's training-mode rate: 6.18 conv + linear + 5 x 0.109 G batch-norm
elements = 6.72. So the deviation is one of convention, not of architecture; the same holds
for XS, S and L (0.91, 2.95, 26.64 counted that way).
"""


_SELF_SUPERVISED = """\
## Self-supervised pre-training (PySlowFast's configs)

Every yaml of PySlowFast's `configs/masked_ssl` and `configs/contrastive_ssl` builds here the
network PySlowFast builds from it: trainable parameters in millions, equal to the count of
PySlowFast's own code (`/work/shared/pyslowfast_reference_params.json`), checked by
`tests/models/test_ssl_pyslowfast_configs.py` (and `tests/models/test_reversible.py` for the ViT
fine-tuning rows). `python tools/check_pyslowfast_configs.py --configs <SlowFast checkout>/configs
--only masked_ssl contrastive_ssl` loads the unmodified files: 18 of 26 match, the other 8 stop
on a check (see README, "Coming from PySlowFast"). The linear-probe rows
(`MODEL.DETACH_FINAL_FC`) count the whole network: PySlowFast detaches the classifier's input,
slowvid freezes the backbone instead, so only the classifier's 400 x 2049 train.

Pre-training, fine-tuning and probing run through `tools/run_net.py` with these files' `TASK ssl`
and `TASK ssl_eval...` (the pre-training checkpoint as `TRAIN.CHECKPOINT_FILE_PATH`); on the
demo videos (README.md, "Self-supervised pre-training", has the results):

```bash
python tools/run_net.py --cfg configs/Demo/VIT_MAE_DEMO.yaml       # or VIT_SIMCLR_DEMO.yaml
python tools/run_net.py --cfg configs/Demo/VIT_MAE_FT_DEMO.yaml \\
    TRAIN.CHECKPOINT_FILE_PATH output/vit_mae_demo/checkpoints/checkpoint_epoch_00020.pyth
python tools/run_net.py --cfg configs/Demo/VIT_LINEAR_DEMO.yaml \\
    TRAIN.CHECKPOINT_FILE_PATH output/vit_simclr_demo/checkpoints/checkpoint_epoch_00010.pyth
# both against random initialisation, 3 seeds each: on these videos neither helps (README)
OMP_NUM_THREADS=1 python tools/ssl_demo.py --seeds 1 2 3
```

- `contrastive_ssl/BYOL_SlowR50_8x8.yaml`: 43.185728 M
- `contrastive_ssl/MoCo_SlowR50_8x8.yaml`: 40.289472 M
- `contrastive_ssl/SimCLR_SlowR50_8x8.yaml`: 40.289472 M
- `contrastive_ssl/SwAV_Slow_R50_8x8.yaml`: 40.421568 M
- `contrastive_ssl/finetune_SSv2_Slow_R50_syn0.yaml`: 31.991022 M
- `contrastive_ssl/finetune_SSv2_Slow_R50_syn8.yaml`: 31.991022 M
- `contrastive_ssl/finetune_ava_Slow_R50_syn0.yaml`: 31.798416 M
- `contrastive_ssl/finetune_ava_Slow_R50_syn8.yaml`: 31.798416 M
- `contrastive_ssl/finetune_ucf_Slow_R50_syn0.yaml`: 31.841445 M
- `contrastive_ssl/finetune_ucf_Slow_R50_syn8.yaml`: 31.841445 M
- `contrastive_ssl/linear_k400_Slow_8x8_R50_syn0.yaml`: 32.454096 M
- `contrastive_ssl/linear_k400_Slow_8x8_R50_syn8.yaml`: 32.454096 M
- `masked_ssl/in1k_VIT_B_MaskFeat_FT.yaml`: 86.567656 M
- `masked_ssl/in1k_VIT_B_MaskFeat_PT.yaml`: 85.882476 M
- `masked_ssl/in1k_VIT_L_MaskFeat_FT.yaml`: 304.326632 M
- `masked_ssl/in1k_VIT_L_MaskFeat_PT.yaml`: 303.413356 M
- `masked_ssl/k400_MVITv2_L_16x4_FT.yaml`: 217.578064 M
- `masked_ssl/k400_MVITv2_L_16x4_MaskFeat_PT.yaml`: 217.247580 M
- `masked_ssl/k400_MVITv2_S_16x4_FT.yaml`: 36.475120 M
- `masked_ssl/k400_MVITv2_S_16x4_MaskFeat_PT.yaml`: 36.253356 M
- `masked_ssl/k400_VIT_B_16x4_FT.yaml`: 86.702224 M
- `masked_ssl/k400_VIT_B_16x4_MAE_PT.yaml`: 100.596736 M
- `masked_ssl/k400_VIT_H_16x4_FT.yaml`: 632.424080 M
- `masked_ssl/k400_VIT_H_16x4_MAE_PT.yaml`: 646.375936 M
- `masked_ssl/k400_VIT_L_16x4_FT.yaml`: 304.506256 M
- `masked_ssl/k400_VIT_L_16x4_MAE_PT.yaml`: 318.429440 M
"""


def row_cells(row: ZooRow, m: ZooMeasure) -> list[str]:
    """The table cells of one row, in :data:`COLUMNS` order."""
    config = " ".join([f"`{row.zoo.config}`", *row.zoo.opts])
    convention = row.zoo.convention
    return [
        row.dataset,
        f"{row.arch} {row.depth}",
        row.frames_x_rate,
        config,
        f"{m.params_m:.3f}",
        row.params_text or "-",
        # AVA rows publish no GFLOPs: their test input is a whole frame, not a square crop.
        f"{m.gflops:.2f}" if convention else "",
        f"{m.gflops_as(convention):.2f}" if convention else "",
        row.gflops_text,
        _CONVENTION_NAMES.get(convention, ""),
        row.views,
        row.top1,
        row.zoo.measured_top1,
    ]


def markdown_row(row: ZooRow, m: ZooMeasure) -> str:
    """One line of the table in MODEL_ZOO.md."""
    return "| " + " | ".join(row_cells(row, m)) + " |"


def _off_rows(rows: Sequence[ZooRow], measures: Sequence[ZooMeasure]) -> list[str]:
    """Bullets for the rows whose figures or construction need a word."""
    lines = []
    for row, m in zip(rows, measures, strict=True):
        why = []
        counted = m.params_as_published_m
        gap = counted - row.params_m if row.params_m is not None else 0.0
        if row.params_m is not None and (abs(gap) > 1e-3 * row.params_m or m.params_excluded):
            verdict = (
                "inside the precision of the published figure"
                if row.params_match(counted)
                else "OFF"
            )
            how = " counted as published" if m.params_excluded else ""
            why.append(
                f"params{how} {counted:.4f} M vs {row.params_text} ({gap / row.params_m:+.2%}): "
                f"{verdict}."
            )
        if row.gflops is not None and abs(m.gflops / row.gflops - 1) > 0.02:
            why.append(
                f"eval-mode GFLOPs {m.gflops:.2f} vs {row.gflops_text} "
                f"({m.gflops / row.gflops - 1:+.1%}); counted as published: "
                f"{m.gflops_as(row.zoo.convention):.2f}."
            )
        if row.zoo.note:
            why.append(row.zoo.note)
        if why:
            lines.append(f"- **{row.name}**: " + " ".join(why))
    return lines


def render_markdown(rows: Sequence[ZooRow], measures: Sequence[ZooMeasure]) -> str:
    """The whole MODEL_ZOO.md."""
    table = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *(markdown_row(r, m) for r, m in zip(rows, measures, strict=True)),
    ]
    return "\n".join(
        [
            _HEADER,
            *table,
            "",
            _CONVENTIONS,
            "**Row by row.** Rows more than 0.1% off in parameters or 2% off in eval-mode GFLOPs,\n"
            "and rows built in a way worth knowing:",
            "",
            *_off_rows(rows, measures),
            "",
            _SELF_SUPERVISED,
        ]
    )
