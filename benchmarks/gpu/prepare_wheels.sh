#!/usr/bin/env bash
# Fetch what benchmarks/gpu/run_gpu_figures.sh needs on a GPU machine that has Python 3.12 and
# torch 2.11 (CUDA 13) but no PyAV, torchcodec, FFmpeg or fvcore, and no network.
# Run here, in the repository root; writes .whl/ (about 40 MiB, ignored by .gitignore) for the
# device tool's `carry`.
#
#   av 18.1.0         PyAV with its own FFmpeg 8 (libavcodec.so.62, libx264 for generating
#                     videos); benchmarks/gpu/ffmpeg_links.py lends those libraries to torchcodec
#   torchcodec 0.14.0 the first PyPI build with CUDA (NVDEC) support, built for CUDA 13
#   torchcodec 0.11.1 CPU-only, in case 0.14's ops do not load with torch 2.11 (the script
#                     keeps whichever imports and says which)
#   fvcore, iopath, yacs, termcolor: slowvid's pure-Python dependencies missing there
set -euo pipefail
rm -rf .whl && mkdir -p .whl/tc14 .whl/tc11
platform=(--only-binary=:all: --python-version 3.12 --implementation cp
          --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps "${platform[@]}" -d .whl av==18.1.0
python3 -m pip download -q --no-deps "${platform[@]}" -d .whl/tc14 torchcodec==0.14.0
python3 -m pip download -q --no-deps "${platform[@]}" -d .whl/tc11 torchcodec==0.11.1
# Pure-Python packages, some published as source only: built into universal wheels here.
python3 -m pip wheel -q --no-deps -w .whl fvcore==0.1.5.post20221221 iopath==0.1.10 yacs termcolor
du -sh .whl && ls -R .whl
