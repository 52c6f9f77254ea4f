#!/usr/bin/env python
"""slowvid's parts in your own PyTorch loop, without a config: a hub model, a dataset and its
transform, one epoch of training, then a test.

    python tools/make_demo_data.py            # generated videos in data/demo
    python examples/train_plain_pytorch.py --data data/demo

The model is X3D-XS from slowvid's torch.hub entry (PyTorchVideo's name and calling convention:
a clip tensor in; ``head_activation=None`` for logits to train on). The dataset reads
``{split}.csv`` lists of ``path label`` lines, decodes real video files, samples clips and
crops them; ``collate_clips`` batches them and keeps the paths of videos that failed to decode.
"""

import argparse
import json
import os
import time

import torch
from torch.utils.data import DataLoader

from slowvid.data import collate_clips
from slowvid.data.datasets import Kinetics
from slowvid.data.sampling import ClipSpec
from slowvid.data.transforms import ClipTransform

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_dataset(root: str, split: str, *, training: bool, frames: int, size: int) -> Kinetics:
    transform = ClipTransform(
        training=training,
        jitter_scales=(size, round(size * 1.2)),
        crop_size=size,
        random_flip=False,  # the demo's classes are directions of motion
    )
    return Kinetics(
        split_file=os.path.join(root, f"{split}.csv"),
        path_prefix=root,
        training=training,
        clip=ClipSpec(num_frames=frames, sampling_rate=4, target_fps=30.0),
        transform=transform,
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/demo", help="folder with train.csv, test.csv")
    parser.add_argument("--num-classes", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--frames", type=int, default=4, help="frames per clip")
    parser.add_argument("--size", type=int, default=64, help="crop side in pixels")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    model = torch.hub.load(
        REPO, "x3d_xs", source="local", num_classes=args.num_classes, head_activation=None
    )
    train_set = make_dataset(args.data, "train", training=True, frames=args.frames, size=args.size)
    test_set = make_dataset(args.data, "test", training=False, frames=args.frames, size=args.size)
    train_loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        collate_fn=collate_clips,
    )
    test_loader = DataLoader(
        test_set, batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate_clips
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-5)
    loss_fn = torch.nn.CrossEntropyLoss()

    losses = []
    for epoch in range(args.epochs):
        model.train()
        start = time.perf_counter()
        for batch in train_loader:
            logits = model(batch["inputs"][0])  # one pathway: a (B, 3, T, H, W) tensor
            loss = loss_fn(logits, batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        print(
            f"epoch {epoch + 1}: mean loss {sum(losses) / len(losses):.3f} "
            f"over {len(losses)} steps, {time.perf_counter() - start:.1f} s"
        )

    model.eval()
    correct = seen = 0
    failed: list[str] = []
    with torch.no_grad():
        for batch in test_loader:
            failed += batch["failed"]
            if batch["inputs"] is None:
                continue
            predictions = model(batch["inputs"][0]).argmax(dim=1)
            correct += int((predictions == batch["label"]).sum())
            seen += batch["label"].numel()
    results = {
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "steps": len(losses),
        "test_top1": 100.0 * correct / max(seen, 1),
        "test_videos": seen,
        "failed_videos": len(failed),
    }
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
