"""Peak memory of a training step over 2 processes: DDP, activation checkpointing, FSDP2.

    python benchmarks/train_memory.py --cfg configs/Kinetics/MVIT_B_16x4.yaml \
        --frames 8 --size 112 --batch 2

Every mode starts two fresh CPU processes joined by gloo, builds the config's model, wraps it
as the training job does (``engine.setup.wrap_model``), builds its optimizer and runs one
warm-up step on synthetic clips (the optimizer state then exists). The measured step follows:
each rank resets its peak resident set (Linux ``/proc/self/clear_refs``) and reads it back
afterwards. It prints, per mode, the larger of the two ranks' peaks above what the process
held before building the model, the model state it holds (parameters, gradients, optimizer
state of its own shards), and both as ratios to DDP measured in this same run.

Resident memory counts what the CPU allocator keeps; on a GPU the same modes would be read
from ``torch.cuda.max_memory_allocated`` instead (not done here: no GPU was available).
"""

import argparse
import json
import os
import re
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from slowvid.config import load_config
from slowvid.data.transforms import pack_pathways
from slowvid.distributed.comm import find_free_port
from slowvid.engine.setup import wrap_model
from slowvid.models import build_model
from slowvid.solver import build_optimizer

MODES = {
    "ddp": {"TRAIN.DISTRIBUTED": "ddp", "MODEL.ACT_CHECKPOINT": False},
    "ddp + act. checkpointing": {"TRAIN.DISTRIBUTED": "ddp", "MODEL.ACT_CHECKPOINT": True},
    "fsdp": {"TRAIN.DISTRIBUTED": "fsdp", "MODEL.ACT_CHECKPOINT": False},
    "fsdp + act. checkpointing": {"TRAIN.DISTRIBUTED": "fsdp", "MODEL.ACT_CHECKPOINT": True},
}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def _state_bytes(model, optimizer) -> int:
    """Bytes of this rank's parameters, gradients and optimizer state (its shards under FSDP)."""

    def local(t):
        return t.to_local() if hasattr(t, "to_local") else t

    total = 0
    for p in model.parameters():
        total += local(p).nbytes + (local(p.grad).nbytes if p.grad is not None else 0)
    for state in optimizer.state.values():
        total += sum(local(v).nbytes for v in state.values() if isinstance(v, torch.Tensor))
    return total


def _rank(rank: int, port: int, cfg, batch: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    before = _status_kib("VmRSS")
    torch.manual_seed(0)
    model = wrap_model(build_model(cfg), cfg, torch.device("cpu"))
    optimizer = build_optimizer(model, cfg)
    size = cfg.DATA.TRAIN_CROP_SIZE
    clip = torch.randn(3, cfg.DATA.NUM_FRAMES, size, size)
    inputs = [
        p.unsqueeze(0).repeat(batch, 1, 1, 1, 1)
        for p in pack_pathways(clip, len(cfg.DATA.INPUT_CHANNEL_NUM), cfg.SLOWFAST.ALPHA)
    ]
    labels = torch.randint(0, cfg.MODEL.NUM_CLASSES, (batch,))

    def step():
        loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        state = _state_bytes(model, optimizer)
        optimizer.zero_grad(set_to_none=True)
        return state

    step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak resident set, to the current one
    state = step()
    peak = _status_kib("VmHWM")
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"peak_mib": (peak - before) / 1024, "state_mib": state / 2**20}, f)
    dist.destroy_process_group()


def measure(cfg, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_rank, args=(find_free_port(), cfg, batch, out_dir), nprocs=2, join=True)
        ranks = []
        for r in range(2):
            with open(os.path.join(out_dir, f"rank{r}.json")) as f:
                ranks.append(json.load(f))
    return {k: max(r[k] for r in ranks) for k in ranks[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="configs/Kinetics/MVIT_B_16x4.yaml")
    parser.add_argument("--frames", type=int, default=8, help="DATA.NUM_FRAMES")
    parser.add_argument("--size", type=int, default=112, help="DATA.TRAIN_CROP_SIZE")
    parser.add_argument("--batch", type=int, default=2, help="clips per process")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    args = parser.parse_args()
    base = [
        "NUM_GPUS", "0", "NUM_CPU_PROCESSES", "2", "TRAIN.BATCH_SIZE", str(2 * args.batch),
        "DATA.NUM_FRAMES", str(args.frames), "DATA.TRAIN_CROP_SIZE", str(args.size),
        "DATA.TRAIN_JITTER_SCALES", f"[{args.size}, {args.size}]",
    ]  # fmt: skip
    results = {}
    for mode, keys in MODES.items():
        opts = base + [x for kv in keys.items() for x in (kv[0], str(kv[1]))] + args.opts
        cfg = load_config(args.cfg, opts)
        results[mode] = measure(cfg, args.batch)
    ref = results["ddp"]
    print(f"{os.path.basename(args.cfg)}  {args.frames}x{args.size}^2  batch {args.batch}/process")
    print(f"{'mode':28s} {'peak MiB':>9s} {'ratio':>6s} {'state MiB':>10s} {'ratio':>6s}")
    for mode, r in results.items():
        print(
            f"{mode:28s} {r['peak_mib']:9.0f} {r['peak_mib'] / ref['peak_mib']:6.2f} "
            f"{r['state_mib']:10.0f} {r['state_mib'] / ref['state_mib']:6.2f}"
        )


if __name__ == "__main__":
    main()
