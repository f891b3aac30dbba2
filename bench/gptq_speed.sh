#!/usr/bin/env bash
# Time --gptq (4-bit, group 128, the w4a16-gptq settings) on one random
# K x K linear with a random SPD Hessian (bench/gptq_speed.py). Prints the
# pass's own timing remark (GPTQ only, not parsing/printing) and wall time.
# Usage: bench/gptq_speed.sh [BUILD] [K] [EXTRA --gptq OPTIONS]
set -euo pipefail
BUILD=${1:-build}
K=${2:-4096}
EXTRA=${3:-}
OUT=$BUILD/bench-gptq
mkdir -p "$OUT"
[ -f "$OUT/layer-$K.mlir" ] || /usr/bin/python3 bench/gptq_speed.py "$OUT/layer-$K.mlir" "$K"
start=$(date +%s.%N)
"$BUILD/bin/quant-opt" "$OUT/layer-$K.mlir" --gptq="bits=4 group=128 verbose=true $EXTRA" \
  -o /dev/null 2>&1 | grep -o 'gptq [0-9x]* in .* s)'
echo "wall (parse + gptq + print): $(echo "$(date +%s.%N) - $start" | bc) s"
