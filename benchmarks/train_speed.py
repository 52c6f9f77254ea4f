"""Training and inference throughput of a config's model on synthetic clips, fp32 against AMP.

    python benchmarks/train_speed.py --cfg configs/Kinetics/SLOWFAST_8x8_R50.yaml --batch 8
    python benchmarks/train_speed.py --cfg configs/Demo/SLOWFAST_DEMO.yaml --device cpu

Each mode runs warm-up steps, then timed steps; it prints clips/s, peak GPU memory and the
ratio to fp32 measured in this same process. Data loading is left out on purpose: this
measures the model and the optimizer step (see benchmarks/decoding.py for the input side).
"""

import argparse
import time

import torch
import torch.nn.functional as F

from slowvid.config import load_config
from slowvid.data.transforms import pack_pathways
from slowvid.engine.setup import use_channels_last
from slowvid.models import build_model
from slowvid.solver import build_optimizer


def _inputs(cfg, batch: int, device: torch.device) -> list[torch.Tensor]:
    size = cfg.DATA.TRAIN_CROP_SIZE
    clip = torch.randn(3, cfg.DATA.NUM_FRAMES, size, size)
    pathways = pack_pathways(clip, len(cfg.DATA.INPUT_CHANNEL_NUM), cfg.SLOWFAST.ALPHA)
    return [p.unsqueeze(0).expand(batch, -1, -1, -1, -1).contiguous().to(device) for p in pathways]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(cfg, batch: int, device: torch.device, amp: bool, train: bool, steps: int, warmup: int):
    """(clips/s, peak GPU memory in GiB) of ``steps`` steps after ``warmup`` untimed ones."""
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train(train)
    if use_channels_last(model, cfg.MODEL.CHANNELS_LAST, device):  # as the engine does
        model = model.to(memory_format=torch.channels_last_3d)
    optimizer = build_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    inputs = _inputs(cfg, batch, device)
    labels = torch.randint(0, cfg.MODEL.NUM_CLASSES, (batch,), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            if not train:
                with torch.no_grad():
                    return model(inputs)
            loss = F.cross_entropy(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    rate = batch * steps / (time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return rate, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="configs/Kinetics/SLOWFAST_8x8_R50.yaml")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    args = parser.parse_args()

    cfg = load_config(args.cfg, args.opts)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    else:
        print(f"device: cpu ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"{args.cfg}, batch {args.batch}, {args.steps} timed steps after {args.warmup}")
    for train in (True, False):
        base = None
        for amp in (False, True):
            rate, peak = measure(cfg, args.batch, device, amp, train, args.steps, args.warmup)
            base = base or rate
            mode = "train" if train else "infer"
            precision = "amp " if amp else "fp32"
            print(
                f"{mode} {precision}: {rate:8.1f} clips/s  peak {peak:6.2f} GiB  "
                f"({rate / base:.2f}x fp32)"
            )


if __name__ == "__main__":
    main()
