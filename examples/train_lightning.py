#!/usr/bin/env python
"""Train and test a slowvid model with PyTorch Lightning, from a slowvid config.

    pip install -e ".[lightning]"
    python tools/make_demo_data.py
    python examples/train_lightning.py --cfg configs/Demo/SLOWFAST_DEMO.yaml

Trailing ``KEY VALUE`` pairs override the yaml, as for tools/run_net.py; ``NUM_CPU_PROCESSES 2``
trains on two CPU processes with Lightning's ``ddp`` strategy (gloo), ``NUM_GPUS N`` on N GPUs.
The module and the data module are slowvid's (``slowvid.lightning``); the loop is Lightning's.
The last line printed (rank 0) is the test metrics as json.
"""

import argparse
import json
import logging

import lightning as L

from slowvid.config import load_config
from slowvid.engine.setup import seed_everything
from slowvid.lightning import VideoClassificationModule, VideoDataModule, trainer_arguments


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cfg", required=True, help="slowvid yaml config")
    parser.add_argument(
        "--fast-dev-run", type=int, default=0, help="run N batches of each loop, then stop"
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cfg = load_config(args.cfg, args.opts)
    seed_everything(cfg.RNG_SEED)  # the initial weights tools/run_net.py's rank 0 draws
    module = VideoClassificationModule(**VideoClassificationModule.from_config(cfg))
    data = VideoDataModule(**VideoDataModule.from_config(cfg))
    trainer = L.Trainer(**trainer_arguments(cfg), fast_dev_run=args.fast_dev_run)
    if cfg.TRAIN.ENABLE:
        trainer.fit(module, data)
    results = trainer.test(module, data)[0] if cfg.TEST.ENABLE else {}
    if trainer.is_global_zero:
        print(json.dumps({"world_size": trainer.world_size, **results}))
    return results


if __name__ == "__main__":
    main()
