#!/usr/bin/env bash
# SmoothQuant alpha=0.5 vs alpha=auto (per-norm-group search, SmoothQuant.cpp)
# on pd-llama-6m and on its copy with injected outlier channels
# (bench/inject_outliers.py): quant-eval vs the float model.
# Usage: bench/smoothquant_alpha.sh [BUILD] [MAX_WINDOWS]
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-50}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-sq-alpha
WINDOW=256
mkdir -p "$OUT"
CAL=(--calibration-text data/calibration.txt --tokenizer "$MODEL/tokenizer.model" --calibration-samples 32)
EVAL=(--window $WINDOW --max-windows "$WINDOWS" --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt")
W8A8='quantize-weights{bits=8 group=-1},quantize-activations'
/usr/bin/python3 bench/inject_outliers.py "$MODEL/model.onnx" "$OUT/outliers.onnx"
"$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW -o "$OUT/float.so"
for m in model outliers; do
  src=$MODEL/model.onnx; [ $m = outliers ] && src=$OUT/outliers.onnx
  "$BIN/quant-compile" -q "$src" --dim batch=1 --dim seq=$WINDOW "${CAL[@]}" \
    --pipeline "{cal},func.func($W8A8)" -o "$OUT/$m-naive.so"
  "$BIN/quant-compile" -q "$src" --dim batch=1 --dim seq=$WINDOW "${CAL[@]}" \
    --pipeline "{cal},func.func(smoothquant{alpha=0.5},$W8A8)" -o "$OUT/$m-sq0.5.so"
  "$BIN/quant-compile" "$src" --dim batch=1 --dim seq=$WINDOW "${CAL[@]}" \
    --pipeline "{cal},func.func(smoothquant{alpha=auto},$W8A8)" -o "$OUT/$m-sqauto.so" 2> "$OUT/$m-sqauto.remarks"
  "$BIN/quant-eval" -q --reference "$OUT/float.so" --candidate "$OUT/$m-naive.so" \
    --candidate "$OUT/$m-sq0.5.so" --candidate "$OUT/$m-sqauto.so" "${EVAL[@]}" > "$OUT/$m.txt"
  echo "== $m (reference: float pd-llama-6m; $WINDOWS windows of $WINDOW tokens)"
  cat "$OUT/$m.txt"
  grep -o 'smoothquant alpha [0-9.e-]*' "$OUT/$m-sqauto.remarks" | awk '{print $3}' | tr '\n' ' '
  echo "(alpha=auto choices, norm groups in order)"
done
