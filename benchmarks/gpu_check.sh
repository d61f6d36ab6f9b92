#!/usr/bin/env bash
# The GPU check, one command on a CUDA machine (about 5 minutes on one H200; under 8):
#   1. the CUDA tests (pytest -m cuda: every precision trains on the GPU, GPU-resident
#      features match the in-RAM path),
#   2. the throughput benchmark (benchmarks/bench_gpu.py): training pairs/s per precision on
#      GPU-resident features, extraction images/s; figures land in benchmarks/results/gpu_check.md.
# Extra arguments go to bench_gpu.py (e.g. --pairs 2000000).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU visible to torch")'
"$PY" -m pytest -q -m cuda -p no:cacheprovider tests/
"$PY" benchmarks/bench_gpu.py "$@"
