#!/usr/bin/env python
"""Export a zoo model for deployment and check the result against eager PyTorch.

    python tools/export.py --cfg configs/Kinetics/X3D_S.yaml --checkpoint x3d_s.pyth \
        --format onnx --output x3d_s.onnx
    python tools/export.py --cfg projects/efficient_x3d/configs/EFFICIENT_X3D_XS.yaml \
        --format executorch --output x3d_xs.pte
    python tools/export.py --cfg projects/efficient_x3d/configs/EFFICIENT_X3D_XS.yaml \
        --checkpoint x3d_xs.pyth --format executorch --quantize int8 --calibration dataset \
        --output x3d_xs_int8.pte DATA.PATH_TO_DATA_DIR data/kinetics

Formats:
  export      torch.export program (.pt2), batch dynamic; load with torch.export.load
  onnx        ONNX, one input per pathway ("clip", or "slow" and "fast"), batch dynamic,
              checked with ONNX Runtime
  executorch  ExecuTorch program (.pte) for phones, 3D ops rewritten as 2D ones and delegated
              to XNNPACK, batch 1, float or (--quantize int8) PT2E int8. Needs
              pip install -e ".[executorch]".

The clip shape is the config's test input (DATA.NUM_FRAMES x DATA.TEST_CROP_SIZE^2; override
them as trailing KEY VALUE pairs). The largest logit difference to eager on random clips is
printed; above --atol the tool exits with status 1. int8 is checked instead on the held-out
calibration source: the cosine similarity of its logits to eager's, and top-1 agreement, must
reach --min-cosine. --calibration dataset (what a real export wants) reads the config's test
split with its test transform; random uses Gaussian clips, fine for latency, not for accuracy.
"""

import argparse
import logging
import sys

import torch

from slowvid.checkpoint import load_checkpoint
from slowvid.config import load_config
from slowvid.data.build import build_loader, shuffle_loader
from slowvid.deploy import (
    QUANTIZE_MODES,
    delegation_summary,
    example_clips,
    export_program,
    lower_to_xnnpack,
    max_abs_error,
    run_executorch,
    run_onnx,
    to_onnx,
)
from slowvid.engine.inputs import PixelNorm, to_device
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
    p.add_argument(
        "--quantize",
        default="none",
        choices=["none"] + [q for q in QUANTIZE_MODES if q],
        help="executorch: int8 = PT2E static int8 with XNNPACK's quantizer",
    )
    p.add_argument(
        "--calibration",
        default="dataset",
        choices=["dataset", "random"],
        help="int8: calibrate on the config's test clips, or on random clips (latency only)",
    )
    p.add_argument("--calibration-clips", type=int, default=16, help="int8: clips to calibrate on")
    p.add_argument(
        "--min-cosine", type=float, default=0.99, help="int8: least logit cosine to eager accepted"
    )
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = p.parse_args(argv)
    problems = []
    if args.quantize != "none" and args.format != "executorch":
        problems.append(f"--quantize {args.quantize} is for --format executorch only")
    if args.calibration_clips < 1:
        problems.append(f"--calibration-clips must be >= 1, got {args.calibration_clips}")
    if problems:
        p.error("; ".join(problems))
    return args


def input_shape(cfg) -> dict:
    """The example-clip arguments of :func:`slowvid.deploy.example_clips` for ``cfg``."""
    d = cfg.DATA
    return dict(
        channels=list(d.INPUT_CHANNEL_NUM),
        num_frames=d.NUM_FRAMES,
        alpha=cfg.SLOWFAST.ALPHA,
        crop=d.TEST_CROP_SIZE,
    )


def calibration_clips(cfg, source: str, count: int, shape: dict) -> list[list[torch.Tensor]]:
    """``count`` batch-1 per-pathway clip lists: the config's test split, normalised as the
    test loop does, or random clips shaped as ``shape`` (:func:`example_clips` arguments)."""
    if source == "random":
        return [example_clips(**shape, batch=1) for _ in range(count)]
    loader = build_loader(cfg, "test")
    shuffle_loader(loader, 0)
    norm = PixelNorm.from_config(cfg)
    clips: list[list[torch.Tensor]] = []
    for batch in loader:
        if batch["inputs"] is None:
            continue
        inputs = to_device(batch["inputs"], torch.device("cpu"), norm)
        for i in range(inputs[0].shape[0]):
            clips.append([x[i : i + 1].float() for x in inputs])
            if len(clips) == count:
                return clips
    if not clips:
        raise SystemExit(f"--calibration dataset: the test split of {cfg.TEST.DATASET} is empty")
    return clips


def int8_agreement(program: bytes, model, clips) -> tuple[float, float]:
    """Smallest logit cosine similarity to eager, and top-1 agreement, over ``clips``."""
    cosines, agree = [], 0
    for clip in clips:
        got, expected = run_executorch(program, clip), model(clip)
        cosines.append(torch.nn.functional.cosine_similarity(got, expected).min().item())
        agree += int((got.argmax(1) == expected.argmax(1)).all())
    return min(cosines), agree / len(clips)


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
        quantize = None if args.quantize == "none" else args.quantize
        held_out = []
        if quantize:
            n = args.calibration_clips
            # calibrate on the first n, check on up to n more that calibration never saw
            data = calibration_clips(cfg, args.calibration, 2 * n, shape)
            data, held_out = data[:n], data[n:] or data[:n]
            lowered = lower_to_xnnpack(model, clips, quantize, data)
        else:
            lowered = lower_to_xnnpack(model, clips)
        summary = delegation_summary(lowered)
        logger.info(
            "XNNPACK took %d nodes in %d subgraph(s); outside it: %s",
            summary["delegated"],
            summary["subgraphs"],
            summary["outside"] or "nothing",
        )
        program = lowered.to_executorch().buffer
        with open(args.output, "wb") as f:
            f.write(program)
        if quantize:
            cosine, top1 = int8_agreement(program, model, held_out)
            logger.info(
                "wrote %s; on %d held-out %s clips: least logit cosine to eager %.4f, "
                "top-1 agreement %.0f%%",
                args.output,
                len(held_out),
                args.calibration,
                cosine,
                100 * top1,
            )
            if cosine < args.min_cosine:
                logger.error("cosine %.4f is below --min-cosine %.3g", cosine, args.min_cosine)
                return 1
            return 0
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
