"""Print the model zoo: computed params and GFLOPs of every zoo config beside the published row.

    python tools/model_zoo.py                         # the table, on the console
    python tools/model_zoo.py --markdown MODEL_ZOO.md # also rewrite MODEL_ZOO.md
    python tools/model_zoo.py --fvcore --only X3D     # also count with fvcore on a real forward

Counts come from the meta device (seconds for the whole zoo); ``--fvcore`` repeats them with a
real forward pass, which takes minutes on a CPU, and reports any disagreement.
"""

import argparse
import sys

import torch

from slowvid.model_zoo import (
    COLUMNS,
    load_rows,
    measure,
    render_markdown,
    row_cells,
    test_view_shapes,
    zoo_cfg,
)
from slowvid.models import build_model, gflops_by_operator


def _print_table(cells: list[list[str]]) -> None:
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def _fvcore_gflops(row) -> float:
    cfg = zoo_cfg(row)
    view = [torch.zeros(s) for s in test_view_shapes(cfg)]
    return sum(gflops_by_operator(build_model(cfg), view).values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", metavar="PATH", help="write the zoo as markdown to PATH")
    parser.add_argument("--fvcore", action="store_true", help="cross-check GFLOPs with fvcore")
    parser.add_argument("--only", metavar="TEXT", help="rows whose name contains TEXT")
    args = parser.parse_args(argv)
    if args.only and args.markdown:
        parser.error("--markdown writes every row; drop --only")

    rows = [r for r in load_rows() if args.only is None or args.only in r.name]
    measures = [measure(r) for r in rows]
    cells = [list(COLUMNS)] + [row_cells(r, m) for r, m in zip(rows, measures)]
    _print_table([[c.replace("`", "") for c in line] for line in cells])
    status = 0
    if args.fvcore:
        for row, m in zip(rows, measures):
            fv = _fvcore_gflops(row)
            agree = abs(fv - m.gflops) <= 1e-6 * max(fv, 1.0)
            status |= not agree
            print(f"{row.name}: fvcore {fv:.4f}, meta {m.gflops:.4f}", "" if agree else "DIFFER")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render_markdown(rows, measures))
        print(f"wrote {args.markdown}")
    return status


if __name__ == "__main__":
    sys.exit(main())
