#!/usr/bin/env bash
# The first thing to run on a GPU machine: device tests + official-size benchmarks -> one JSON.
#   bash recipes/bench/gpu_check.sh [--device cuda] [--out exp/bench/gpu_check.json]
#   bash recipes/bench/gpu_check.sh --device cpu --dry-run     # small, on a CPU (CI runs this)
# Details: recipes/bench/gpu_check.py. Under 8 minutes on one GPU: each step has a time limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
exec "$python" -m recipes.bench.gpu_check "$@"
