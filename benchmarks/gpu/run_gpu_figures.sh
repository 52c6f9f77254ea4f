#!/usr/bin/env bash
# Issue 20's GPU figures in one prepared run (well inside 10 minutes on one H100/H200):
#   1. model-only training clips/s and peak memory, fp32 and AMP (benchmarks/train_speed.py)
#   2. end-to-end training clips/s with real data loading, CPU decoding in the machine's
#      cores as loader workers against NVDEC decoding (benchmarks/end_to_end.py)
# It brings what the machine lacks (benchmarks/gpu/prepare_wheels.sh fills .whl/ here first):
#
#   device run: carry [".whl"], timeout_s 600, command:
#     bash benchmarks/gpu/run_gpu_figures.sh
#
# Everything it prints also goes to $OUT/gpu_figures.log, the end-to-end table to
# $OUT/end_to_end.json. Stages are time-boxed so one slow stage cannot eat the others.
# DEVICE=cpu runs the same steps at toy sizes (how it was tried before any GPU run).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_figures.log") 2>&1
export PYTHONUNBUFFERED=1
start=$(date +%s)
stamp() { echo "== $(( $(date +%s) - start )) s: $*"; }

stamp "installing carried wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl || exit 1
for v in tc14 tc11; do
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/$v .whl/$v/*.whl
done
export PYTHONPATH=/tmp/site:$PWD
# torchcodec finds FFmpeg 8 through PyAV's own copy of it.
python3 benchmarks/gpu/ffmpeg_links.py /tmp/ffmpeg
export LD_LIBRARY_PATH=/tmp/ffmpeg:${LD_LIBRARY_PATH:-}

stamp "choosing the torchcodec build that loads with this torch"
for v in tc14 tc11; do
    if PYTHONPATH=/tmp/$v:$PYTHONPATH python3 -c "
from slowvid.data.decoding import torchcodec_available
ok, why = torchcodec_available(); print('$v', 'CPU decoding:', ok or why); assert ok"; then
        export PYTHONPATH=/tmp/$v:$PYTHONPATH; break
    fi
done
python3 - <<'EOF'
import torch
from slowvid.data.device_decoding import device_decoding_available
print("torch", torch.__version__, torch.cuda.get_device_name(0))
ok, why = device_decoding_available("cuda")
print("NVDEC through torchcodec:", "yes" if ok else f"no ({why})")
EOF
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

DEVICE=${DEVICE:-cuda}
if [ "$DEVICE" = cuda ]; then
    stamp "model-only training and inference, fp32 against AMP"
    for cfg in SLOWFAST_8x8_R50 SLOWFAST_4x16_R50 X3D_S MVIT_B_16x4; do
        timeout 45 python3 benchmarks/train_speed.py --cfg configs/Kinetics/$cfg.yaml \
            --batch 8 || echo "($cfg stopped at its time box)"
    done
    sizes=(--videos 64 --size 640x360 --seconds 10 --workers $(( $(nproc) - 2 )) --batch 8
           --steps 24 --warmup 6 --amp)
else
    sizes=(--videos 4 --size 160x90 --seconds 2 --workers 2 --batch 2 --steps 2 --warmup 1
           --crop 64 --frames 8)
fi

stamp "end-to-end: generating videos, loading them with CPU workers, then with NVDEC"
timeout 330 python3 benchmarks/end_to_end.py --device "$DEVICE" --models slowfast_r50 x3d_s \
    --decoders torchcodec torchcodec_cuda --data /tmp/e2e --gop 150 "${sizes[@]}" \
    --json "$OUT/end_to_end.json" || echo "(end-to-end stopped at its time box)"
stamp "done"
