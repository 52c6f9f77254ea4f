"""Build the networks of PySlowFast's own yamls and compare their sizes with PySlowFast's.

    python tools/pyslowfast_counts.py --pyslowfast path/to/SlowFast \\
        --reference /work/shared/pyslowfast_reference_params.json --only VIT REV_

Reads each yaml of a SlowFast checkout's ``configs/`` tree, builds its network on the meta device
and compares the trainable parameter count with the reference (what PySlowFast's own code builds
from the same file). Until every PySlowFast key loads in slowvid, keys slowvid does not define are
set aside and listed per file, so the count shows whether the keys slowvid has build the same
network; a file that sets aside a key that changes the network says so by its count. Nothing is
copied from the checkout.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

from slowvid.config import get_cfg
from slowvid.config.loading import all_keys
from slowvid.models import build_model, count_parameters

# Keys whose value is a Python tuple written as "(2, 16, 16)" in PySlowFast's yamls.
_TUPLE = ("PATCH_KERNEL", "PATCH_STRIDE", "PATCH_PADDING")


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _read(path: Path) -> dict[str, object]:
    tree = yaml.safe_load(path.read_text()) or {}
    base = tree.pop("_BASE_", None)
    values = _read(path.parent / base) if base else {}
    values.update(_flatten(tree))
    return values


def count(path: Path) -> tuple[float, list[str]]:
    """Trainable parameters (millions) of the network built from ``path``, and the keys set
    aside."""
    cfg = get_cfg()
    known = set(all_keys(cfg))
    skipped = []
    for key, value in _read(path).items():
        if key not in known:
            skipped.append(key)
            continue
        if key.split(".")[-1] in _TUPLE and isinstance(value, str):
            value = [int(v) for v in value.strip("()[] ").split(",")]
        node = cfg
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        try:
            node[leaf] = float(value) if isinstance(node[leaf], float) else value
        except (TypeError, ValueError):  # e.g. AUG.COLOR_JITTER None: no network key is so
            skipped.append(f"{key}={value!r}")
    # PySlowFast's dataset names are lower case; only the model matters here.
    cfg.TRAIN.DATASET = cfg.TEST.DATASET = "Kinetics"
    with torch.device("meta"):
        model = build_model(cfg)
    # PySlowFast's DETACH_FINAL_FC (linear probes) detaches the classifier's input and leaves every
    # parameter trainable; slowvid freezes the backbone instead: compare the whole network.
    trainable_only = not cfg.MODEL.DETACH_FINAL_FC
    return count_parameters(model, trainable_only=trainable_only) / 1e6, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyslowfast", required=True, help="a facebookresearch/SlowFast checkout")
    parser.add_argument("--reference", required=True, help="pyslowfast_reference_params.json")
    parser.add_argument("--only", nargs="*", default=[], help="yamls whose path contains these")
    args = parser.parse_args(argv)
    reference = json.loads(Path(args.reference).read_text())["configs"]
    matched = total = 0
    for name, entry in sorted(reference.items()):
        if args.only and not any(o in name for o in args.only):
            continue
        if entry["params_m"] is None:
            print(f"{name}: PySlowFast cannot build it ({entry['note']}); skipped")
            continue
        total += 1
        try:
            params, skipped = count(Path(args.pyslowfast) / name)
        except Exception as e:  # report every file, whatever stops one
            print(f"{name}: FAILS: {type(e).__name__}: {e}")
            continue
        same = round(params * 1e6) == round(entry["params_m"] * 1e6)
        matched += same
        verdict = "same" if same else f"DIFFERS from {entry['params_m']:.6f}"
        print(f"{name}: {params:.6f} M {verdict}; keys set aside: {len(skipped)}")
    print(f"{matched} of {total} build PySlowFast's network")
    return 0 if matched == total else 1


if __name__ == "__main__":
    sys.exit(main())
