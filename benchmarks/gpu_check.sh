#!/usr/bin/env bash
# One short GPU session: the CUDA benchmarks and CUDA-only tests, logs into $OUT (default ./gpu_out).
# Expects the lamina wheels (and importlib-metadata, zipp) in .whl/ beside a torch that sees a GPU:
#   pip wheel --no-deps -w .whl packages/core packages/vision ...
#   pip download --no-deps -d .whl "importlib-metadata==8.7.0" zipp   (10.x needs lazy_importer too)
set -u
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
rm -rf /tmp/site; python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; python3 -c "import torch; print('torch', torch.__version__)"; } \
  2>&1 | tee "$OUT/device.txt"
timeout 60 python3 benchmarks/bench_mixed_precision.py --device cuda --quick --no-compile 2>&1 | tee "$OUT/bench_mp_eager.txt"
timeout 30 python3 benchmarks/bench_vision_augment.py --device cuda --quick 2>&1 | tee "$OUT/bench_augment.txt"
timeout 45 python3 -m pytest -q -k cuda packages/core/tests/test_cb_mixed_precision.py \
  packages/core/tests/test_cb_hot_path.py packages/vision/tests/test_augment_affine.py \
  packages/vision/tests/test_unet.py 2>&1 | tail -15 | tee "$OUT/cuda_tests.txt"
timeout 100 python3 benchmarks/bench_mixed_precision.py --device cuda --quick 2>&1 | tee "$OUT/bench_mp_compiled.txt"
