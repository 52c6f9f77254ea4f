"""Load every yaml of a PySlowFast ``configs/`` checkout unmodified, build its network on the
meta device and compare its trainable parameter count with what PySlowFast builds.

    python tools/check_pyslowfast_configs.py --configs /path/to/SlowFast/configs \\
        [--reference ../shared/pyslowfast_reference_params.json] [--defaults PATH] \\
        [--only VIT REV_]

Every yaml is loaded with ``NUM_GPUS 0`` appended, as the reference counts were made: PySlowFast's
own code built them on the meta device with NUM_GPUS 0, a one-process CPU run, under which its
``assert_and_infer_cfg`` skips the batch-size-per-GPU checks (``k400_VIT_B_16x4_FT`` has
TRAIN.BATCH_SIZE 1 with NUM_GPUS 8). slowvid's NUM_GPUS 0 is the same run (one CPU process,
NUM_CPU_PROCESSES 1), and neither setting changes the network; a real run with the yaml's own
NUM_GPUS is still checked for divisible batches.

Each yaml ends as one of: ``match`` (loads, builds, same count), ``DIFFERENT`` (builds another
network: the failure this tool exists to catch), ``stopped`` (refused, with the first line of the
message), or ``no reference`` (PySlowFast cannot build it either). With ``--defaults`` (default:
``slowfast/config/defaults.py`` beside the configs folder, when present) it also checks that
every key PySlowFast defines is known to slowvid and that every default that differs is listed
in ``slowvid/config/pyslowfast_keys.py``. Exits 1 if any yaml builds a different network or a
key check fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import types
from collections import Counter

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from slowvid.config import get_cfg, load_config  # noqa: E402
from slowvid.config.loading import all_keys  # noqa: E402
from slowvid.config.pyslowfast import defaults_differ, same_value  # noqa: E402
from slowvid.config.pyslowfast_keys import ALIASES, DEFAULTS_SAME_MEANING  # noqa: E402
from slowvid.models import build_model  # noqa: E402

DEFAULT_REFERENCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
    "pyslowfast_reference_params.json",
)  # fmt: skip


def trainable_parameters(cfg) -> int:
    with torch.device("meta"):
        model = build_model(cfg)
    # PySlowFast's DETACH_FINAL_FC (linear probes) detaches the classifier's input and leaves
    # every parameter trainable; slowvid freezes the backbone instead: count the whole network.
    frozen_ok = cfg.MODEL.DETACH_FINAL_FC
    return sum(p.numel() for p in model.parameters() if p.requires_grad or frozen_ok)


# Appended to every yaml: the run the reference counts were built for (module docstring).
OVERRIDES = ["NUM_GPUS", "0"]


def check_yaml(path: str) -> tuple[int | None, str]:
    """(trainable parameters, "") or (None, first line of the refusal)."""
    try:
        cfg = load_config(path, OVERRIDES)
        return trainable_parameters(cfg), ""
    except Exception as err:  # every refusal is reported, none stops the sweep
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        first = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
        more = f" (+{len(lines) - 2} more)" if len(lines) > 2 else ""
        return None, f"{type(err).__name__}: {first}{more}"


def load_pyslowfast_defaults(path: str):
    """PySlowFast's ``get_cfg()``, from its defaults.py alone (no PySlowFast import)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    for name, where in (("slowfast", root), ("slowfast.config", os.path.dirname(path))):
        package = types.ModuleType(name)
        package.__path__ = [where]
        sys.modules.setdefault(name, package)
    spec = importlib.util.spec_from_file_location("slowfast.config.defaults", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.get_cfg()


def _get(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def check_keys(defaults_path: str) -> list[str]:
    """Every PySlowFast key known to slowvid; every differing default listed."""
    pysf = load_pyslowfast_defaults(defaults_path)
    ours = get_cfg()
    known = set(all_keys(ours))
    listed = defaults_differ(ours)
    problems = []
    for key in all_keys(pysf):
        if key in ALIASES:
            continue
        if key not in known:
            problems.append(f"unknown to slowvid: {key}")
            continue
        theirs, mine = _get(pysf, key), _get(ours, key)
        if not same_value(theirs, mine) and key not in listed and key not in DEFAULTS_SAME_MEANING:
            problems.append(f"default differs and is not listed: {key} {theirs!r} vs {mine!r}")
        if key in listed and not same_value(listed[key][0], theirs):
            problems.append(f"listed PySlowFast default of {key} is {listed[key][0]!r}: {theirs!r}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", required=True, help="a PySlowFast configs/ folder")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE)
    parser.add_argument("--defaults", default=None, help="PySlowFast's config/defaults.py")
    parser.add_argument("--only", nargs="*", default=[], help="yamls whose path contains these")
    args = parser.parse_args(argv)

    with open(args.reference) as f:
        reference = json.load(f)["configs"]
    configs = os.path.abspath(args.configs)
    paths = sorted(
        os.path.join(d, name)
        for d, _, names in os.walk(configs)
        for name in names
        if name.endswith(".yaml")
        and (not args.only or any(part in os.path.join(d, name) for part in args.only))
    )
    print(f"every yaml loaded with {' '.join(OVERRIDES)} (a CPU run, as the reference was built)")
    counts: Counter = Counter()
    different = []
    checked = []
    for path in paths:
        rel = "configs/" + os.path.relpath(path, configs)
        checked.append(rel)
        ref = reference.get(rel, {})
        params, why = check_yaml(path)
        expected = ref.get("params_m")
        if expected is None:
            status = "no reference"
        elif params is None:
            status = "stopped"
        elif params == round(expected * 1e6):
            status = "match"
        else:
            status = "DIFFERENT"
            different.append(rel)
        exempt = "cannot load" in ref.get("note", "") or "rejects" in ref.get("note", "")
        counts[status] += 1
        got = f"{params / 1e6:.6f} M" if params is not None else why
        want = f"{expected:.6f} M" if expected is not None else "-"
        flag = " (PySlowFast cannot load it unmodified either)" if exempt else ""
        print(f"{status:12s} {rel}: {got}, PySlowFast {want}{flag}")
    chosen = reference.values() if not args.only else [reference.get(r, {}) for r in checked]
    buildable = sum(1 for r in chosen if r.get("params_m") is not None)
    print(
        f"\n{counts['match']} of {buildable} yamls PySlowFast builds load unmodified and build "
        f"the same network here; {counts['DIFFERENT']} build a different one; "
        f"{counts['stopped']} stop with a message; {counts['no reference']} have no reference."
    )
    status = 1 if different else 0
    defaults_path = args.defaults or os.path.join(
        os.path.dirname(configs), "slowfast", "config", "defaults.py"
    )
    if os.path.isfile(defaults_path):
        problems = check_keys(defaults_path)
        for problem in problems:
            print(f"KEY {problem}")
        print(f"key check against {defaults_path}: {len(problems)} problem(s)")
        status = status or int(bool(problems))
    return status


if __name__ == "__main__":
    sys.exit(main())
