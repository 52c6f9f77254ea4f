"""Training memory and time of Rev-MViT / Rev-ViT against the same layers without reversible
backpropagation, and against the non-reversible MViT-B / ViT-B.

    python benchmarks/reversible_memory.py                          # CPU, batch 1, 16x224
    python benchmarks/reversible_memory.py --device cuda --batch 8 --repeats 5

For each contender, one training step (forward, backward, SGD step) is measured three ways:

* activations kept for backward: bytes of the tensors autograd saves during the forward pass
  (``torch.autograd.graph.saved_tensors_hooks``), the quantity reversibility removes; exact and
  device independent;
* peak memory: ``torch.cuda.max_memory_allocated`` over the step (CUDA only);
* time per clip: median of the repeats, contenders alternating in one process.

Ratios are against "plain autograd", the very same reversible network trained by storing every
activation (``rev_custom_backward`` off), so the difference is the recomputation alone.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from slowvid.config import load_config
from slowvid.models import build_model
from slowvid.utils.memory import SavedTensorBytes

# name -> yaml overrides of configs/Kinetics/REV_MVIT_B_16x4.yaml. The non-reversible
# counterpart is the same config with MVIT.REV.ENABLE False (MViT-B / ViT-B, no class token).
MODELS = {
    "rev_mvit_b": [],
    # Rev-ViT-B on video: PySlowFast's Rev-ViT-B (ImageNet) layers over 2x16x16 tubelets.
    "rev_vit_b": [
        "MVIT.DIM_MUL", "[]", "MVIT.HEAD_MUL", "[]", "MVIT.POOL_Q_STRIDE", "[]",
        "MVIT.POOL_KVQ_KERNEL", "[]", "MVIT.POOL_KV_STRIDE_ADAPTIVE", "[]",
        "MVIT.REV.BUFFER_LAYERS", "[]", "MVIT.REV.PRE_Q_FUSION", "concat",
        "MVIT.EMBED_DIM", "768", "MVIT.NUM_HEADS", "12", "MVIT.DEPTH", "12",
        "MVIT.PATCH_KERNEL", "[2, 16, 16]", "MVIT.PATCH_STRIDE", "[2, 16, 16]",
        "MVIT.PATCH_PADDING", "[0, 0, 0]", "MVIT.QKV_BIAS", "True",
    ],
}  # fmt: skip
CONFIG = "configs/Kinetics/REV_MVIT_B_16x4.yaml"


def _saved_bytes(model, inputs) -> int:
    with SavedTensorBytes() as saved:
        logits = model(inputs)
    logits.sum().backward()
    model.zero_grad(set_to_none=True)
    return saved.bytes


def _step(model, inputs, device):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    labels = torch.zeros(inputs[0].shape[0], dtype=torch.long, device=device)

    def run() -> tuple[float, int]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
        peak = 0
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device)
        return time.perf_counter() - start, peak

    return run


def contenders(name: str, device: torch.device) -> dict[str, torch.nn.Module]:
    opts = MODELS[name]
    reversible = build_model(load_config(CONFIG, opts)).to(device).train()
    plain_autograd = build_model(load_config(CONFIG, opts)).to(device).train()
    plain_autograd.rev_custom_backward = False
    counterpart = build_model(load_config(CONFIG, opts + ["MVIT.REV.ENABLE", "False"]))
    return {
        "reversible": reversible,
        "plain autograd": plain_autograd,
        f"non-reversible {name.split('_')[1]}": counterpart.to(device).train(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, {device}, batch {args.batch}, clip {args.frames}x"
        f"{args.size}^2, median of {args.repeats}"
    )
    for name in args.models:
        torch.manual_seed(0)
        models = contenders(name, device)
        inputs = [torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)]
        saved = {k: _saved_bytes(m, inputs) for k, m in models.items()}
        steps = {k: _step(m, inputs, device) for k, m in models.items()}
        for run in steps.values():  # warm-up
            run()
        times, peaks = {k: [] for k in steps}, {}
        for _ in range(args.repeats):
            for key, run in steps.items():
                seconds, peak = run()
                times[key].append(seconds / args.batch)
                peaks[key] = max(peaks.get(key, 0), peak)
        ref = "plain autograd"
        for key in models:
            t = statistics.median(times[key])
            line = (
                f"{name:>10}  {key:<24} saved {saved[key] / 2**20:8.1f} MiB "
                f"({saved[key] / saved[ref]:4.2f}x)  {t * 1000:8.1f} ms/clip "
                f"({t / statistics.median(times[ref]):4.2f}x)"
            )
            if device.type == "cuda":
                line += f"  peak {peaks[key] / 2**20:8.1f} MiB ({peaks[key] / peaks[ref]:4.2f}x)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
