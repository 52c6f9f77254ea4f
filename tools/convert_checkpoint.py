"""Convert a foreign checkpoint into a slowvid ``.pyth`` for the model a config builds.

    python tools/convert_checkpoint.py --input SLOWFAST_8x8_R50.pkl --output sf.pyth \
        --cfg configs/Kinetics/SLOWFAST_8x8_R50.yaml [KEY VALUE ...]

The format (PySlowFast .pyth or Caffe2 .pkl, PyTorchVideo, MMAction2, torchvision ImageNet) is
detected from the keys; unmatched or mis-shaped tensors are listed in one error. Converting is
optional: TRAIN/TEST.CHECKPOINT_FILE_PATH accept these files directly.
"""

import argparse
import logging
import os

import torch

from slowvid.checkpoint import load_checkpoint
from slowvid.config import load_config
from slowvid.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="checkpoint to convert")
    parser.add_argument("--output", required=True, help="slowvid checkpoint to write (.pyth)")
    # The target model decides names the source leaves open (pathways, X3D vs ResNet stems).
    parser.add_argument("--cfg", required=True, help="config of the target model")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    cfg = load_config(args.cfg, args.opts)
    model = build_model(cfg)
    load_checkpoint(args.input, model)
    tmp = f"{args.output}.tmp"
    torch.save({"epoch": 0, "model_state": model.state_dict(), "cfg": cfg.dump()}, tmp)
    os.replace(tmp, args.output)  # never leave a half-written checkpoint
    logging.info("Wrote %s", args.output)


if __name__ == "__main__":
    main()
