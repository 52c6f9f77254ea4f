#!/usr/bin/env python
"""Turn a sharded checkpoint of an FSDP run (a ``checkpoint_epoch_*.dcp`` directory) into one
``.pyth`` file, in one process, without a process group or a GPU.

    python tools/consolidate_checkpoint.py OUTPUT_DIR/checkpoints/checkpoint_epoch_00010.dcp
        [--output model.pyth] [--weights-only]

The file holds full tensors: "model_state" as a plain model names them, "optimizer_state" keyed
by parameter name (it loads into a plain, DDP or FSDP run of the same model), and the epoch,
config and RNG states. Written next to the directory by default, with the same name, so a run
resumes from it like from the directory. Not needed to test or fine-tune: every loader reads
the directory itself.
"""

import argparse
import logging
import os
import sys

from slowvid.checkpoint import is_sharded_checkpoint, read_checkpoint, write_checkpoint_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a sharded checkpoint directory (*.dcp)")
    parser.add_argument("--output", default=None, help="file to write; default: NAME.pyth beside")
    parser.add_argument(
        "--weights-only", action="store_true", help="keep the model weights, drop the rest"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    path = args.checkpoint.rstrip("/")
    if not is_sharded_checkpoint(path):
        parser.error(f"{path} is not a sharded checkpoint (a directory holding .metadata)")
    output = args.output or os.path.splitext(path)[0] + ".pyth"
    checkpoint = read_checkpoint(path)
    if args.weights_only:
        checkpoint = {"epoch": checkpoint["epoch"], "model_state": checkpoint["model_state"]}
    write_checkpoint_file(output, checkpoint)
    tensors = sum(v.numel() for v in checkpoint["model_state"].values())
    logging.info(
        "Wrote %s (%.2f M model values, epoch %d)", output, tensors / 1e6, checkpoint["epoch"]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
