#!/usr/bin/env python
"""Export a zoo model for deployment and check the result against eager PyTorch.

    python tools/export.py --cfg configs/Kinetics/X3D_S.yaml --checkpoint x3d_s.pyth \
        --format onnx --output x3d_s.onnx
    python tools/export.py --cfg projects/efficient_x3d/configs/EFFICIENT_X3D_XS.yaml \
        --format executorch --output x3d_xs.pte

Formats:
  export      torch.export program (.pt2), batch dynamic; load with torch.export.load
  onnx        ONNX, one input per pathway ("clip", or "slow" and "fast"), batch dynamic,
              checked with ONNX Runtime
  executorch  ExecuTorch program (.pte) for phones, 3D ops rewritten as 2D ones and delegated
              to XNNPACK, batch 1, float. Needs pip install -e ".[executorch]".

The clip shape is the config's test input (DATA.NUM_FRAMES x DATA.TEST_CROP_SIZE^2; override
them as trailing KEY VALUE pairs). The largest logit difference to eager on random clips is
printed; above --atol the tool exits with status 1.
"""

import argparse
import logging
import sys

import torch

from slowvid.checkpoint import load_checkpoint
from slowvid.config import load_config
from slowvid.deploy import (
    example_clips,
    export_program,
    max_abs_error,
    run_executorch,
    run_onnx,
    to_executorch,
    to_onnx,
)
from slowvid.models import build_model

logger = logging.getLogger("export")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cfg", required=True, help="yaml config of the model")
    p.add_argument("--project", default=None, help="folder under projects/ to import")
    p.add_argument("--checkpoint", default="", help="weights (default: random, with a warning)")
    p.add_argument("--format", required=True, choices=["export", "onnx", "executorch"])
    p.add_argument("--output", required=True, help="file to write")
    p.add_argument("--atol", type=float, default=1e-4, help="largest logit error accepted")
    p.add_argument("--opset", type=int, default=18, help="onnx: opset version")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p.parse_args(argv)


def input_shape(cfg) -> dict:
    """The example-clip arguments of :func:`slowvid.deploy.example_clips` for ``cfg``."""
    d = cfg.DATA
    return dict(
        channels=list(d.INPUT_CHANNEL_NUM),
        num_frames=d.NUM_FRAMES,
        alpha=cfg.SLOWFAST.ALPHA,
        crop=d.TEST_CROP_SIZE,
    )


@torch.no_grad()
def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    cfg = load_config(args.cfg, args.opts, project=args.project)
    model = build_model(cfg).eval()
    if args.checkpoint:
        load_checkpoint(args.checkpoint, model)
    else:
        logger.warning("no --checkpoint: exporting randomly initialised weights")
    if getattr(model, "takes_boxes", False):
        raise SystemExit(f"{cfg.MODEL.MODEL_NAME} takes person boxes; export its backbone config")
    torch.manual_seed(0)
    shape = input_shape(cfg)
    if args.format == "executorch":
        clips = example_clips(**shape, batch=1)
        program = to_executorch(model, clips)
        with open(args.output, "wb") as f:
            f.write(program)
        other = example_clips(**shape, batch=1)
        error = max_abs_error(run_executorch(program, other), model(other))
    else:
        clips = example_clips(**shape, batch=2)  # >1, so the batch dimension stays dynamic
        program = export_program(model, clips)
        other = example_clips(**shape, batch=3)
        if args.format == "export":
            torch.export.save(program, args.output)
            result = torch.export.load(args.output).module()(*other)
        else:
            to_onnx(program, args.output, opset=args.opset)
            result = run_onnx(args.output, other)
        error = max_abs_error(result, model(other))
    logger.info("wrote %s; largest logit error against eager: %.3g", args.output, error)
    if error > args.atol:
        logger.error("error %.3g exceeds --atol %.3g", error, args.atol)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
