#!/usr/bin/env bash
# stories260K's W8A16 / FP8 losses taken apart (bench/stories_error_budget.py):
# the same sampled evaluation and calibration sequences as
# bench/stories_quality.sh (seeds 1000.. and 2000..), lq's w8a16 weights
# checked against a NumPy RTN, the per-linear error budget, noise / bf16 /
# fp16 controls, other int8 schemes, FP8 weights and activations, and what
# the sampled-text evaluation implies. A few minutes of one core.
# Usage: bench/stories_error_budget.sh [BUILD] [EVAL_SEQS] [CAL_SEQS]
#   -> bench/results/stories260K-error-budget.md
set -euo pipefail
BUILD=${1:-build}
NEVAL=${2:-24}
NCAL=${3:-8}
BIN=$BUILD/bin
MODEL=models/stories260K/stories260K.onnx
OUT=$BUILD/bench-stories
WINDOW=256
mkdir -p "$OUT" bench/results
. bench/stories_sample.sh
if [ ! -f "$OUT/eval.npy" ] || [ ! -f "$OUT/cal.npy" ]; then
  "$BIN/quant-compile" -q "$MODEL" --input-shape input_ids=1x$WINDOW -o "$OUT/float.so"
  [ -f "$OUT/eval.npy" ] || stories_sample "$OUT/float.so" $WINDOW 1000 "$NEVAL" "$OUT/eval.npy"
  [ -f "$OUT/cal.npy" ] || stories_sample "$OUT/float.so" $WINDOW 2000 "$NCAL" "$OUT/cal.npy"
fi
"$BIN/quant-compile" -q "$MODEL" --input-shape input_ids=1x$WINDOW --emit=graph -o "$OUT/float-graph.mlir"
"$BIN/quant-compile" -q "$MODEL" --input-shape input_ids=1x$WINDOW --recipe w8a16 --emit=quantized \
  -o "$OUT/w8a16-quantized.mlir"
OMP_NUM_THREADS=1 /usr/bin/python3 bench/stories_error_budget.py "$OUT/eval.npy" "$OUT/cal.npy" \
  --lq-ir "$OUT/float-graph.mlir" "$OUT/w8a16-quantized.mlir" > bench/results/stories260K-error-budget.md
cat bench/results/stories260K-error-budget.md
