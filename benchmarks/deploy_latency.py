#!/usr/bin/env python
"""CPU latency per clip of deployed models: eager, torch.export, ONNX Runtime, ExecuTorch, int8.

    python benchmarks/deploy_latency.py                       # every model and runtime
    python benchmarks/deploy_latency.py --models efficient_x3d_xs --threads 1 2

For each model (its config's test clip, batch 1, random weights: latency does not depend on
them) and each thread count, every runtime runs the same clip; the figure is the median of
``--repeats`` forwards after warm-up, and each row's ratio is eager fp32 latency divided by it
(>1 is faster), all measured in this one process. Runtimes:

  eager fp32      the model as built
  export fp32     torch.export program (one-pathway models: batch norms folded first)
  onnxruntime     ONNX Runtime, CPU provider, all graph optimisations
  executorch      ExecuTorch + XNNPACK (3D ops rewritten as 2D; needs the executorch extra),
                  its thread pool resized to --threads before the program is loaded
  executorch-int8 the same, PT2E static int8 (XNNPACKQuantizer, per-channel weights)
  int8 (FX)       FX static int8, fbgemm, channelwise convs float (one-pathway models only)

Both int8 runtimes calibrate on --calibration-clips random clips: only their speed means
anything here (tools/export.py --quantize int8 calibrates on the config's data). Every thread
count is applied to torch (set_num_threads), ONNX Runtime (intra_op_num_threads) and
ExecuTorch (its pool). The load average is printed before and after: the machine may be shared.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from slowvid.config import load_config  # noqa: E402
from slowvid.deploy import (  # noqa: E402
    ClipModel,
    ExecutorchModule,
    delegation_summary,
    example_clips,
    export_float,
    export_program,
    fuse_conv_bn,
    lower_to_xnnpack,
    onnx_session,
    quantize_int8,
    to_onnx,
)
from slowvid.models import build_model  # noqa: E402

MODELS = {
    "x3d_xs": "configs/Kinetics/X3D_XS.yaml",
    "efficient_x3d_xs": "projects/efficient_x3d/configs/EFFICIENT_X3D_XS.yaml",
    "x3d_s": "configs/Kinetics/X3D_S.yaml",
    "slowfast_r50": "configs/Kinetics/SLOWFAST_8x8_R50.yaml",
}
RUNTIMES = ("eager", "export", "onnxruntime", "executorch", "executorch-int8", "int8")


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def lower(model, clips, name: str, quantize=None, calibration=None) -> bytes:
    """.pte bytes of ``model``, saying what XNNPACK left outside its delegate."""
    start = time.perf_counter()
    lowered = lower_to_xnnpack(model, clips, quantize, calibration)
    summary = delegation_summary(lowered)
    print(
        f"# {name} executorch {quantize or 'fp32'}: lowered in {time.perf_counter() - start:.0f}"
        f" s; XNNPACK took {summary['delegated']} nodes in {summary['subgraphs']} subgraph(s);"
        f" outside: {summary['outside'] or 'nothing'}",
        flush=True,
    )
    return lowered.to_executorch().buffer


def build_runners(
    name: str, runtimes: list[str], workdir: str, calibration_clips: int
) -> tuple[dict, tuple]:
    """runtime -> (threads -> callable), and the clip shape, for model ``name``."""
    cfg = load_config(os.path.join(REPO, MODELS[name]))
    model = build_model(cfg).eval()
    d = cfg.DATA
    shape = dict(
        channels=list(d.INPUT_CHANNEL_NUM),
        num_frames=d.NUM_FRAMES,
        alpha=cfg.SLOWFAST.ALPHA,
        crop=d.TEST_CROP_SIZE,
    )
    clips = example_clips(**shape, batch=1)
    single = len(clips) == 1
    runners = {"eager": lambda threads: lambda: model(clips)}
    if "export" in runtimes:
        if single:
            program = export_float(fuse_conv_bn(ClipModel(model)), clips[0])
        else:
            program = export_program(model, example_clips(**shape, batch=2)).module()
        runners["export"] = lambda threads: lambda: program(*clips)
    if "onnxruntime" in runtimes:
        path = os.path.join(workdir, f"{name}.onnx")
        to_onnx(export_program(model, example_clips(**shape, batch=2)), path)
        feeds_of = {}

        def ort(threads):
            session = onnx_session(path, threads)
            feeds_of[threads] = {
                i.name: c.numpy() for i, c in zip(session.get_inputs(), clips, strict=True)
            }
            return lambda: session.run(None, feeds_of[threads])

        runners["onnxruntime"] = ort
    # A pool resize strands programs loaded before it, so each thread count loads afresh.
    if "executorch" in runtimes:
        fp32 = lower(model, clips, name)
        runners["executorch"] = lambda threads: partial(ExecutorchModule(fp32, threads), clips)
    calibration = [example_clips(**shape, batch=1) for _ in range(calibration_clips)]
    if "executorch-int8" in runtimes:
        int8_pte = lower(model, clips, name, "int8", calibration)
        runners["executorch-int8"] = lambda threads: partial(
            ExecutorchModule(int8_pte, threads), clips
        )
    if "int8" in runtimes and single:
        int8 = quantize_int8(ClipModel(model).eval(), [c[0] for c in calibration])
        runners["int8"] = lambda threads: lambda: int8(clips[0])
    return runners, tuple(tuple(c.shape[1:]) for c in clips)


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3, help="untimed forwards first")
    parser.add_argument("--calibration-clips", type=int, default=4, help="int8 calibration")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, median of {args.repeats}, batch 1")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    print("| model | clip | threads | runtime | ms/clip | speed-up vs eager fp32 |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models:
            with torch.no_grad():
                runners, shapes = build_runners(
                    name, args.runtimes, workdir, args.calibration_clips
                )
            clip = " + ".join("x".join(str(v) for v in s[1:]) for s in shapes)
            for threads in args.threads:
                torch.set_num_threads(threads)
                base = None
                for runtime, make in runners.items():
                    ms = median_ms(make(threads), args.repeats, args.warmup)
                    base = base or ms
                    print(
                        f"| {name} | {clip} | {threads} | {runtime} | {ms:.1f} | "
                        f"{base / ms:.2f}x |",
                        flush=True,
                    )
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
