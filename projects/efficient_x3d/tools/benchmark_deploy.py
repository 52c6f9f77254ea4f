#!/usr/bin/env python
"""CPU latency per clip of an Efficient X3D: float eager, exported float (BN folded), int8.

    python projects/efficient_x3d/tools/benchmark_deploy.py \
        --cfg projects/efficient_x3d/configs/EFFICIENT_X3D_DEMO.yaml \
        --checkpoint output/efficient_x3d_demo/checkpoints/checkpoint_epoch_00020.pyth

Latency is the median of ``--repeats`` single-clip forwards (batch 1) after warm-up, each
variant timed in turn in this process; top-1 agreement with the float model is measured over
the test split's views. int8 observers are calibrated on EFFICIENT_X3D.CALIBRATION_CLIPS
training-split clips (test-time transforms).
"""

import argparse
import itertools
import os
import statistics
import sys
import time

import torch

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT)

from efficient_x3d import ClipModel, export_float, fuse_conv_bn, quantize_int8  # noqa: E402

from slowvid.checkpoint import load_checkpoint  # noqa: E402
from slowvid.config import load_config  # noqa: E402
from slowvid.data import build_loader, shuffle_loader  # noqa: E402
from slowvid.engine.inputs import PixelNorm, to_device  # noqa: E402
from slowvid.models import build_model  # noqa: E402


def clips_of(cfg, split: str):
    """Single clips (B=1 batches) of ``split`` with test-time transforms, in order."""
    loader = build_loader(cfg, split)
    shuffle_loader(loader, 0)
    norm = PixelNorm.from_config(cfg)
    for batch in loader:
        yield from to_device(batch["inputs"], torch.device("cpu"), norm)[0].split(1)


@torch.inference_mode()
def median_ms(model, clip: torch.Tensor, repeats: int) -> float:
    for _ in range(3):
        model(clip)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(clip)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@torch.inference_mode()
def top1(model, clips: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([model(c).argmax(1) for c in clips])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--checkpoint", default="")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = load_config(args.cfg, args.opts + ["DATA_LOADER.NUM_WORKERS", "0"])
    model = build_model(cfg)
    if args.checkpoint:
        load_checkpoint(args.checkpoint, model)
    model = ClipModel(model).eval()
    # Calibrate on training videos seen through the test pipeline, as deployment sees them.
    calib_cfg = cfg.clone()
    calib_cfg.defrost()
    calib_cfg.TEST.DATASET = cfg.TRAIN.DATASET
    calib_cfg.TEST.NUM_ENSEMBLE_VIEWS = 1
    calib = list(itertools.islice(clips_of(calib_cfg, "test"), cfg.EFFICIENT_X3D.CALIBRATION_CLIPS))
    test = list(clips_of(cfg, "test"))

    variants = {
        "float eager": model,
        "exported float (BN folded)": export_float(fuse_conv_bn(model), test[0]),
        "int8 (FX, channelwise convs float)": quantize_int8(model, calib),
        "int8 (FX, all convs)": quantize_int8(model, calib, float_grouped_convs=False),
    }
    reference = top1(model, test)
    base = None
    print(
        f"torch {torch.__version__}, {args.threads} threads, clip {tuple(test[0].shape)}, "
        f"{len(test)} test views"
    )
    for name, variant in variants.items():
        ms = median_ms(variant, test[0], args.repeats)
        base = base or ms
        agree = (top1(variant, test) == reference).float().mean().item()
        print(f"{name:<36} {ms:8.2f} ms/clip  {base / ms:5.2f}x  top-1 agreement {agree:.1%}")


if __name__ == "__main__":
    main()
