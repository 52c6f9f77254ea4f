"""Time and memory of a masked pre-training step (VideoMAE-B at 90% tube masking, the encoder on
the visible tenth of the tokens, a 4-block 384-wide decoder over all of them) against a training
step of the same ViT-B over all tokens (fine-tuning: mean pooling and a classifier).

    python benchmarks/ssl_masked_speed.py                        # CPU, batch 1, 16x224
    python benchmarks/ssl_masked_speed.py --frames 8 --size 112  # smaller clips
    python benchmarks/ssl_masked_speed.py --device cuda --batch 8 --repeats 10

Each step is forward, backward and an AdamW step; the two contenders alternate in one process
and the median over the repeats is reported, with the ratio masked / all tokens. Memory is
measured as the bytes of the tensors autograd saves for backward
(``torch.autograd.graph.saved_tensors_hooks``; exact and device independent) and, on CUDA, as
the peak allocated over the step.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from slowvid.config import get_cfg
from slowvid.models import build_model
from slowvid.utils.memory import SavedTensorBytes


def _cfg(frames: int, size: int, masked: bool, ratio: float):
    cfg = get_cfg()
    cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.INPUT_CHANNEL_NUM = frames, size, [3]
    cfg.VIT.DEPTH, cfg.VIT.EMBED_DIM, cfg.VIT.NUM_HEADS = 12, 768, 12
    cfg.VIT.PATCH_SIZE, cfg.VIT.DROPPATH_RATE = [2, 16, 16], 0.0
    cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES = "vit", 400
    if masked:
        cfg.MODEL.MODEL_NAME, cfg.MODEL.LOSS_FUNC = "MaskedAutoencoder", "multi_mse"
        cfg.MASK.ENABLE, cfg.MASK.DECODER_EMBED_DIM, cfg.MASK.DECODER_DEPTH = True, 384, 4
        cfg.MASK.PRETRAIN_DEPTH, cfg.MASK.TIME_STRIDE_LOSS = [11], False
        cfg.AUG.MASK_RATIO, cfg.AUG.MASK_TUBE = ratio, True
    else:
        cfg.MODEL.MODEL_NAME = "VisionTransformer"
    return cfg


def _loss(model, clip, masked: bool) -> torch.Tensor:
    if masked:
        return model([clip])["loss"]
    labels = torch.zeros(clip.shape[0], dtype=torch.long, device=clip.device)
    return F.cross_entropy(model([clip]), labels)


def _saved_bytes(model, clip, masked: bool) -> int:
    with SavedTensorBytes() as saved:
        loss = _loss(model, clip, masked)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return saved.bytes


def _stepper(model, clip, masked: bool, device: torch.device):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def run() -> tuple[float, int]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        _loss(model, clip, masked).backward()
        optimizer.step()
        peak = 0
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device)
        return time.perf_counter() - start, peak

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--ratio", type=float, default=0.9, help="AUG.MASK_RATIO")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tokens = (args.frames // 2) * (args.size // 16) ** 2
    print(
        f"torch {torch.__version__}, {device}, {args.threads} threads, batch {args.batch}, clip "
        f"{args.frames}x{args.size}^2 ({tokens} tokens), mask ratio {args.ratio}, median of "
        f"{args.repeats}"
    )
    torch.manual_seed(0)
    clip = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    contenders = {}
    for name, masked in (("masked", True), ("all tokens", False)):
        model = build_model(_cfg(args.frames, args.size, masked, args.ratio)).to(device).train()
        contenders[name] = (model, masked)
    saved = {k: _saved_bytes(m, clip, masked) for k, (m, masked) in contenders.items()}
    steps = {k: _stepper(m, clip, masked, device) for k, (m, masked) in contenders.items()}
    for run in steps.values():  # warm-up
        run()
    times, peaks = {k: [] for k in steps}, {}
    for _ in range(args.repeats):
        for name, run in steps.items():
            seconds, peak = run()
            times[name].append(seconds)
            peaks[name] = max(peaks.get(name, 0), peak)
    base = "all tokens"
    print(f"{'step':<12} {'s/step':>8} {'ratio':>6} {'saved MiB':>10} {'ratio':>6}", end="")
    print(f" {'peak MiB':>9} {'ratio':>6}" if device.type == "cuda" else "")
    for name in steps:
        t, tb = statistics.median(times[name]), statistics.median(times[base])
        line = f"{name:<12} {t:>8.3f} {t / tb:>6.2f} {saved[name] / 2**20:>10.1f}"
        line += f" {saved[name] / saved[base]:>6.2f}"
        if device.type == "cuda":
            line += f" {peaks[name] / 2**20:>9.1f} {peaks[name] / peaks[base]:>6.2f}"
        print(line)


if __name__ == "__main__":
    main()
