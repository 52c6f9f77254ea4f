#!/usr/bin/env python
"""Does self-supervised pre-training help on the demo videos? The two comparisons of the README.

    python tools/make_demo_data.py
    python tools/ssl_demo.py --seeds 1 2 3                 # both comparisons, 3 seeds each
    python tools/ssl_demo.py --only masked --seeds 1       # one of them
    python tools/ssl_demo.py --pretrain-opts "SOLVER.MAX_EPOCH 4" --eval-opts "SOLVER.MAX_EPOCH 8"

masked:       VIT_MAE_DEMO.yaml pre-trains the small ViT on the train split without labels (a
              path-only copy of train.csv), VIT_MAE_FT_DEMO.yaml fine-tunes it on 10% of the
              labels (the first 10% of each class); the same fine-tuning from random weights is
              the baseline. Figure: test top-1.
contrastive:  VIT_SIMCLR_DEMO.yaml pre-trains the ViT with SimCLR on the unlabelled train split,
              VIT_LINEAR_DEMO.yaml trains a linear classifier on its frozen features with every
              train label; the same probe on a randomly initialised ViT is the baseline.

Every run is ``tools/run_net.py`` in a subprocess with the seed as RNG_SEED; outputs go to
``--out/<comparison>/<arm>_seed<N>`` and a table of test top-1 figures is printed at the end. The
data set itself stays fixed (generated with seed 0).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "Demo"


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def prepare_splits(data: Path, out: Path, fraction: float) -> tuple[Path, Path]:
    """A path-only copy of the train split (pre-training) and a split directory whose train.csv
    keeps the first ``fraction`` of each class (fine-tuning); val and test are unchanged."""
    unlabelled, few = out / "splits_unlabelled", out / f"splits_{round(fraction * 100)}pct"
    for d in (unlabelled, few):
        d.mkdir(parents=True, exist_ok=True)
    train = _lines(data / "train.csv")
    (unlabelled / "train.csv").write_text("".join(f"{line.split()[0]}\n" for line in train))
    val = _lines(data / "val.csv")
    (unlabelled / "val.csv").write_text("".join(f"{line.split()[0]}\n" for line in val))
    by_class: dict[str, list[str]] = {}
    for line in train:
        by_class.setdefault(line.split()[1], []).append(line)
    kept = [
        line
        for lines in by_class.values()
        for line in lines[: max(1, round(len(lines) * fraction))]
    ]
    (few / "train.csv").write_text("".join(f"{line}\n" for line in kept))
    for split in ("val", "test"):
        (few / f"{split}.csv").write_text((data / f"{split}.csv").read_text())
    return unlabelled, few


def run(cfg: str, output: Path, opts: list[str]) -> dict:
    """One tools/run_net.py run; returns its last "test" stats line (or {} without a test).

    A run already done is not repeated: TRAIN.AUTO_RESUME finds its last checkpoint.
    """
    cmd = [sys.executable, str(REPO / "tools" / "run_net.py"), "--cfg", str(CONFIGS / cfg)]
    cmd += opts + ["OUTPUT_DIR", str(output), "TENSORBOARD.ENABLE", "False"]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    lines = (output / "stats.jsonl").read_text().splitlines()
    tests = [json.loads(line) for line in lines if '"_type": "test"' in line]
    return tests[-1] if tests else {}


def last_checkpoint(output: Path) -> str:
    return str(sorted((output / "checkpoints").glob("checkpoint_epoch_*.pyth"))[-1])


def compare(name: str, args, unlabelled: Path, labelled: Path, seeds: list[int]) -> list[tuple]:
    """Per seed: pre-train, then the evaluation run from that checkpoint and from random weights.
    ``--pretrain-opts`` / ``--eval-opts`` (config overrides, e.g. shorter schedules) apply to every
    run of that stage, in both comparisons."""
    pretrain_cfg, eval_cfg = {
        "masked": ("VIT_MAE_DEMO.yaml", "VIT_MAE_FT_DEMO.yaml"),
        "contrastive": ("VIT_SIMCLR_DEMO.yaml", "VIT_LINEAR_DEMO.yaml"),
    }[name]
    data = ["DATA.PATH_PREFIX", str(args.data)]
    rows = []
    for seed in seeds:
        base = args.out / name
        pre = base / f"pretrain_seed{seed}"
        opts = ["DATA.PATH_TO_DATA_DIR", str(unlabelled), "RNG_SEED", str(seed)]
        if name == "contrastive":  # no labels, so no kNN evaluation: the pretext loss instead
            opts += ["CONTRASTIVE.KNN_ON", "False"]
        run(pretrain_cfg, pre, data + opts + args.pretrain_opts.split())
        common = data + ["DATA.PATH_TO_DATA_DIR", str(labelled), "RNG_SEED", str(seed)]
        common += args.eval_opts.split()
        pretrained = run(
            eval_cfg,
            base / f"pretrained_seed{seed}",
            common + ["TRAIN.CHECKPOINT_FILE_PATH", last_checkpoint(pre)],
        )
        scratch = run(eval_cfg, base / f"random_seed{seed}", common + ["TASK", "''"])
        rows.append((name, seed, pretrained["top1_acc"], scratch["top1_acc"]))
        print(
            f"{name} seed {seed}: pre-trained {pretrained['top1_acc']:.2f}%  "
            f"random {scratch['top1_acc']:.2f}%",
            flush=True,
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--out", type=Path, default=REPO / "output" / "ssl_demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", choices=["masked", "contrastive"], default=None)
    parser.add_argument("--label-fraction", type=float, default=0.1, help="fine-tuning labels")
    parser.add_argument("--pretrain-opts", default="", help="overrides of the pre-training runs")
    parser.add_argument("--eval-opts", default="", help="overrides of fine-tuning / probe runs")
    args = parser.parse_args(argv)
    args.data, args.out = args.data.resolve(), args.out.resolve()
    unlabelled, few = prepare_splits(args.data, args.out, args.label_fraction)
    rows = []
    if args.only in (None, "masked"):
        rows += compare("masked", args, unlabelled, few, args.seeds)
    if args.only in (None, "contrastive"):
        rows += compare("contrastive", args, unlabelled, args.data, args.seeds)
    print("\ncomparison   seed  pre-trained top-1  random-init top-1")
    for name, seed, pre, rand in rows:
        print(f"{name:<12} {seed:>4}  {pre:>16.2f}%  {rand:>16.2f}%")
    os.makedirs(args.out, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
