"""Per-clip training and inference time of slowvid models against a reference implementation of
the same architecture: PyTorchVideo for the CNNs and MViT, Hugging Face ``transformers`` for the
video ViT (VideoMAE) and TimeSformer.

    python benchmarks/model_speed.py                       # every model below
    python benchmarks/model_speed.py --models vit_b timesformer --repeats 3 --threads 2
    python benchmarks/model_speed.py --device cuda --batch 8 [--amp]
    python benchmarks/model_speed.py --variants eager channels_last folded compiled
    python benchmarks/model_speed.py --models vit_b --threads 1 --clock cpu   # on a shared machine

Both models get the same input, thread count and precision; runs alternate between them in one
process so machine load affects both alike, and the median of the repeats is reported with the
ratio slowvid / reference (below 1 = slowvid faster). Variants of slowvid are timed the
same way: ``eager`` (as built), ``channels_last`` (channels-last-3D weights and inputs),
``default`` (what the engine does by default: the model's channels-last choice for the device,
and for inference batch norm folded into the convolutions), ``folded`` (batch norm folded, no
channels-last), ``compiled`` (``default`` under ``torch.compile``, MODEL.COMPILE; the seconds
its first step took are printed). Training = forward + backward + SGD step; inference =
forward under ``torch.inference_mode`` in eval mode. ``transformers`` runs with its default
attention (SDPA for VideoMAE; TimeSformer has only its own matmul attention). Where the
slowvid config's recipe adds computation the reference network does not have (stochastic depth
in the ViT recipes), it is switched off, so both train the same network.

``--clock cpu`` times with the process's CPU time instead of the wall clock: with ``--threads
1`` that is the work done, unaffected by other jobs taking turns on the cores (they still share
caches), so ratios of a few percent can be read on a busy machine.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from slowvid.config import load_config
from slowvid.engine.setup import use_channels_last
from slowvid.models import build_model
from slowvid.models.folding import fold_batchnorm
from slowvid.utils.pytorchvideo_compat import import_pytorchvideo


def _pytorchvideo(hub_name: str, num_pathways: int) -> Callable[[], torch.nn.Module]:
    def build():
        return _SingleInput(
            getattr(import_pytorchvideo()[1], hub_name)(pretrained=False), num_pathways
        )

    return build


def _transformers(kind: str) -> Callable[[], torch.nn.Module]:
    def build():
        import transformers

        if kind == "videomae":
            config = transformers.VideoMAEConfig(num_labels=400, layer_norm_eps=1e-6)
            return _TransformersVideo(transformers.VideoMAEForVideoClassification(config))
        config = transformers.TimesformerConfig(num_labels=400)
        return _TransformersVideo(transformers.TimesformerForVideoClassification(config))

    return build


# name -> (slowvid config, reference builder, reference name, per-pathway clip (C, T, H, W)
# [, overrides making slowvid's network the reference's])
MODELS = {
    "slowfast_r50": (
        "configs/Kinetics/SLOWFAST_8x8_R50.yaml",
        _pytorchvideo("slowfast_r50", 2),
        "pytorchvideo",
        [(3, 8, 224, 224), (3, 32, 224, 224)],
    ),
    "x3d_s": (
        "configs/Kinetics/X3D_S.yaml",
        _pytorchvideo("x3d_s", 1),
        "pytorchvideo",
        [(3, 13, 160, 160)],
    ),
    "mvit_b_16x4": (
        "configs/Kinetics/MVIT_B_16x4.yaml",
        _pytorchvideo("mvit_base_16x4", 1),
        "pytorchvideo",
        [(3, 16, 224, 224)],
    ),
    "vit_b": (
        "configs/Kinetics/VIT_B_16x4.yaml",
        _transformers("videomae"),
        "transformers",
        [(3, 16, 224, 224)],
        ["VIT.DROPPATH_RATE", "0.0"],  # VideoMAEForVideoClassification has no stochastic depth
    ),
    "timesformer": (
        "configs/Kinetics/TIMESFORMER_8x32.yaml",
        _transformers("timesformer"),
        "transformers",
        [(3, 8, 224, 224)],
        ["VIT.DROPPATH_RATE", "0.0"],  # TimesformerConfig's drop_path_rate is 0
    ),
}


class _TransformersVideo(torch.nn.Module):
    """Presents a ``transformers`` video classifier with slowvid's list-of-pathways input."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        # transformers takes (B, T, C, H, W) pixel values.
        return self.model(pixel_values=inputs[0].transpose(1, 2)).logits


class _SingleInput(torch.nn.Module):
    """Presents a PyTorchVideo single-pathway model with slowvid's list-of-pathways input."""

    def __init__(self, model: torch.nn.Module, num_pathways: int):
        super().__init__()
        self.model = model
        self.num_pathways = num_pathways

    def forward(self, inputs):
        # A copy: PyTorchVideo's multipathway blocks write their outputs into the list.
        return self.model(inputs[0] if self.num_pathways == 1 else list(inputs))


def _step_fn(model, inputs, train: bool, amp: bool):
    device = inputs[0].device.type

    def autocast():
        return torch.autocast(device, dtype=torch.bfloat16, enabled=amp)

    if not train:
        model.eval()

        def infer():
            with torch.inference_mode(), autocast():
                model(inputs)

        return infer
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    labels = torch.zeros(inputs[0].shape[0], dtype=torch.long, device=inputs[0].device)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()

    return train_step


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _time(step, device: torch.device, clock=time.perf_counter) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = clock()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - start


def _variant(config: str, overrides, variant: str, inputs, train: bool, device: torch.device):
    """A slowvid model and its inputs as ``variant`` prepares them."""
    cfg = load_config(config, overrides)
    model = build_model(cfg).to(device)
    if variant in ("folded", "default", "compiled") and not train:
        fold_batchnorm(model.eval(), [inputs])
    channels_last = variant == "channels_last" or (
        variant in ("default", "compiled") and use_channels_last(model, None, device)
    )
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        inputs = [x.contiguous(memory_format=torch.channels_last_3d) for x in inputs]
    if variant == "compiled":
        model = torch.compile(model)
    return model, inputs


def compare(
    name: str,
    batch: int,
    repeats: int,
    train: bool,
    device: torch.device,
    amp: bool,
    variants: list[str],
    clock=time.perf_counter,
) -> dict[str, float]:
    """Median seconds per clip for each contender of ``name``."""
    config, build_reference, reference, shapes, *overrides = MODELS[name]
    overrides = overrides[0] if overrides else []
    torch.manual_seed(0)
    inputs = [torch.randn(batch, *s, device=device) for s in shapes]
    contenders = {reference: (build_reference().to(device), inputs)}
    for variant in variants:
        contenders[f"slowvid {variant}"] = _variant(
            config, overrides, variant, inputs, train, device
        )
    steps = {k: _step_fn(m, x, train, amp) for k, (m, x) in contenders.items()}
    for key, step in steps.items():  # warm-up: allocator, oneDNN / cuDNN caches, compiling
        seconds = _time(step, device)
        if "compiled" in key:
            print(
                f"{name:>12} {key}: first {'training' if train else 'inference'} step (compiling)"
                f" took {seconds:.1f} s",
                flush=True,
            )
            step()  # compiled code may specialise again on the second call
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for key, step in steps.items():
            times[key].append(_time(step, device, clock) / batch)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="autocast to bfloat16")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["eager", "default", "compiled"],
        choices=["eager", "channels_last", "folded", "default", "compiled"],
    )
    parser.add_argument(
        "--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"]
    )
    parser.add_argument(
        "--clock", default="wall", choices=list(CLOCKS), help="cpu: process CPU time (CPU only)"
    )
    args = parser.parse_args()
    if args.clock == "cpu" and args.device != "cpu":
        parser.error("--clock cpu times CPU work; GPU runs need the wall clock")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        where = torch.cuda.get_device_name(device)
    else:
        where = f"cpu, {args.threads} threads"
    precision = "bf16 autocast" if args.amp else "fp32"
    print(
        f"torch {torch.__version__}, {where}, {precision}, batch {args.batch}, "
        f"median of {args.repeats}, {args.clock} clock"
    )
    for name in args.models:
        for train in [mode == "train" for mode in args.modes]:
            result = compare(
                name,
                args.batch,
                args.repeats,
                train,
                device,
                args.amp,
                args.variants,
                CLOCKS[args.clock],
            )
            label = MODELS[name][2]
            reference = result[label]
            mode = "train" if train else "infer"
            for key, seconds in result.items():
                print(
                    f"{name:>12} {mode}  {key:<25} {seconds * 1000:9.1f} ms/clip  "
                    f"{seconds / reference:5.2f}x {label}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
