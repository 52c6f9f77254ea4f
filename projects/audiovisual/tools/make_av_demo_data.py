#!/usr/bin/env python
"""Write the audio-visual demo set (see audiovisual/demo.py).

python projects/audiovisual/tools/make_av_demo_data.py [--out data/demo_av]
"""

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from audiovisual.demo import make_av_demo_data  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="data/demo_av", help="output directory")
    logging.basicConfig(level=logging.INFO)
    wrote = make_av_demo_data(parser.parse_args().out)
    print("written" if wrote else "already complete")
