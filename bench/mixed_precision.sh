#!/usr/bin/env bash
# Mixed precision (--assign-mixed-precision, recipes mixed-<bpw>) vs uniform
# RTN formats on pd-llama-6m: quant-eval ppl / KL / top-1 / bpw vs float32.
# Every model uses RTN; the output projection is int8 per channel in all of
# them (outside the mixed budget, as --quantize-weights' default), the
# embedding stays f32. The uniform points include every candidate format of
# the mixed search (int3-g128, int4-g128, int4-g64, int4-g32, int8).
# Usage: bench/mixed_precision.sh [BUILD] [MAX_WINDOWS]
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-50}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-mixed
WINDOW=256
mkdir -p "$OUT" bench/results
rm -f "$OUT/compile-times.txt" "$OUT/summaries.txt"
# Calibration: 32 windows from data/calibration.txt, tokenized once (what
# quant-compile --calibration-text does through quant-tokenize).
"$BIN/quant-tokenize" "$MODEL/tokenizer.model" data/calibration.txt -o "$OUT/calibration.npy"
CAL=(--calibration-tokens "$OUT/calibration.npy" --calibration-samples 32)
EVAL=(--window $WINDOW --max-windows "$WINDOWS" --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt")
COMPILE=("$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW)

"${COMPILE[@]}" -o "$OUT/float.so"
CANDS=()
build() { # name, then quant-compile arguments
  local name=$1; shift
  echo "== $name" >&2
  local start; start=$(date +%s.%N)
  "${COMPILE[@]}" "$@" -o "$OUT/$name.so" 2> "$OUT/$name.log"
  echo "$name $(echo "$(date +%s.%N) - $start" | bc)" >> "$OUT/compile-times.txt"
  grep -h "remark: mixed precision: [0-9]* linears" "$OUT/$name.log" | sed "s/^[^ ]* remark: /$name: /" >> "$OUT/summaries.txt" || true
  CANDS+=(--candidate "$OUT/$name.so")
}
build w3a16-rtn --recipe w3a16-rtn
build w4a16-rtn --recipe w4a16-rtn
build int4-g64-rtn --pipeline 'func.func(quantize-weights{bits=4 group=64})'
build int4-g32-rtn --pipeline 'func.func(quantize-weights{bits=4 group=32})'
build w8a16 --recipe w8a16
# The recipes (metric=hessian-rel, the pass's default) ...
for b in 3.25 3.5 4.0 4.25 4.5 5.0 6.0; do
  build "mixed-$b" --recipe "mixed-$b" "${CAL[@]}"
done
# ... and the absolute Hessian proxy (metric=hessian) for comparison.
for b in 4.25 5.0 6.0; do
  build "mixed-abs-$b" --pipeline "{cal-h},func.func(assign-mixed-precision{budget-bpw=$b metric=hessian})" "${CAL[@]}"
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${CANDS[@]}" "${EVAL[@]}" \
  --json bench/results/mixed-precision-pd-llama-6m.json \
  --svg bench/results/mixed-precision-pd-llama-6m.svg > "$OUT/table.txt"
cat "$OUT/table.txt"
