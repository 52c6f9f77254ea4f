#!/usr/bin/env python
"""Frame-level AVA mAP@0.5 of a detections csv, as the ActivityNet challenge computes it.

    python tools/ava_eval.py --groundtruth ava_val_v2.2.csv --detections detections.csv \
        --labelmap ava_action_list_v2.2_for_activitynet_2019.pbtxt \
        --exclusions ava_val_excluded_timestamps_v2.2.csv

Uses the same code as the test loop (``slowvid.evaluation.ava.evaluate_files``).

``--match-order given`` gives the mAP PySlowFast logs for the same file: its AVA helper matches
every detection in file order, without the official 50-per-keyframe cap or the sort by score,
so a lower-scoring box listed first can take a groundtruth box. Use it to compare with
PySlowFast's logs; report the default (the official rule) anywhere else.
"""

import argparse
import math
import sys

from slowvid.evaluation.ava import MATCH_ORDERS, evaluate_files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--groundtruth", required=True, help="groundtruth csv")
    parser.add_argument("--detections", required=True, help="detections csv (with scores)")
    parser.add_argument("--labelmap", required=True, help=".pbtxt of the evaluated classes")
    parser.add_argument("--exclusions", default=None, help="excluded video_id,second csv")
    parser.add_argument(
        "--match-order",
        choices=MATCH_ORDERS,
        default="score",
        help="score: the official evaluator (50 best per keyframe, best first); "
        "given: PySlowFast's helper (every detection, in file order)",
    )
    args = parser.parse_args(argv)
    result = evaluate_files(
        args.groundtruth, args.detections, args.labelmap, args.exclusions, args.match_order
    )
    width = max(len(name) for name in result["per_class"])
    for name, ap in result["per_class"].items():
        print(f"{name:<{width}}  {'no groundtruth' if math.isnan(ap) else f'{ap:.4f}'}")
    print(f"{'mAP@0.5':<{width}}  {result['mAP']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
