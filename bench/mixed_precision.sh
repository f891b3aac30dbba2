#!/usr/bin/env bash
# Mixed precision (--assign-mixed-precision, recipes mixed-<bpw>) vs uniform
# RTN formats: quant-eval ppl / KL / top-1 / bpw vs float32, then a table of
# every mixed model against the uniform frontier at its size
# (bench/mixed_frontier.py). Every model uses RTN; the output projection is
# int8 per channel in all of them (outside the mixed budget, as
# --quantize-weights' default), the embedding stays f32. The uniform points
# include every candidate format of the mixed search.
#
# Three sensitivities: the relative Hessian proxy (metric=hessian-rel, the
# recipes' default), the absolute one (metric=hessian), and the measured KL
# (metric=kl: one JIT'd forward pass per (linear, format) and window). KL
# sensitivities are measured once (the first KL budget, timed) and reused by
# the other budgets through sens-in=.
#
# Usage: bench/mixed_precision.sh [BUILD] [MAX_WINDOWS] [MODEL] [KL_SAMPLES]
#   MODEL: pd-llama-6m (default; eval.txt, calibration.txt) or stories260K
#   (no tokenizer: sequences sampled from the float model, as
#   bench/stories_quality.sh does; weights per channel or in groups of 32
#   where K allows, since 172 = 4·43).
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-50}
MODEL=${3:-pd-llama-6m}
KLS=${4:-4}
BIN=$BUILD/bin
OUT=$BUILD/bench-mixed-$MODEL
RES=bench/results/mixed-precision-$MODEL
WINDOW=256
mkdir -p "$OUT" bench/results
rm -f "$OUT/compile-times.txt" "$OUT/summaries.txt" "$OUT/kinds.txt"

case $MODEL in
pd-llama-6m)
  ONNX=models/pd-llama-6m/model.onnx
  COMPILE=("$BIN/quant-compile" -q "$ONNX" --dim batch=1 --dim seq=$WINDOW)
  # Calibration: 32 windows from data/calibration.txt, tokenized once (what
  # quant-compile --calibration-text does through quant-tokenize).
  "$BIN/quant-tokenize" models/pd-llama-6m/tokenizer.model data/calibration.txt -o "$OUT/calibration.npy"
  EVAL=(--window $WINDOW --max-windows "$WINDOWS" --tokenizer models/pd-llama-6m/tokenizer.model
        --text models/pd-llama-6m/eval.txt)
  CANDS="int3-g128,int4-g128,int4-g64,int4-g32,int8"
  UNIFORM=("w3a16-rtn:func.func(quantize-weights{bits=3 group=128})"
           "w4a16-rtn:func.func(quantize-weights{bits=4 group=128})"
           "int4-g64-rtn:func.func(quantize-weights{bits=4 group=64})"
           "int4-g32-rtn:func.func(quantize-weights{bits=4 group=32})"
           "w8a16:func.func(quantize-weights{bits=8 group=-1})")
  BUDGETS="3.25 3.5 4.0 4.25 4.5 5.0 6.0"
  ;;
stories260K)
  ONNX=models/stories260K/stories260K.onnx
  COMPILE=("$BIN/quant-compile" -q "$ONNX" --input-shape input_ids=1x$WINDOW)
  "${COMPILE[@]}" -o "$OUT/float.so"
  . bench/stories_sample.sh
  sample() { stories_sample "$OUT/float.so" "$WINDOW" "$@"; }
  # The sequences of bench/stories_quality.sh (same seeds), eval and calibration.
  [ -f "$OUT/eval.npy" ] || sample 1000 24 "$OUT/eval.npy"
  [ -f "$OUT/calibration.npy" ] || sample 2000 8 "$OUT/calibration.npy"
  EVAL=(--tokens-file "$OUT/eval.npy" --window $WINDOW)
  CANDS="int3,int4,int4-g32,int8"
  UNIFORM=("w3-rtn:func.func(quantize-weights{bits=3 group=-1})"
           "w4-rtn:func.func(quantize-weights{bits=4 group=-1})"
           "w8a16:func.func(quantize-weights{bits=8 group=-1})")
  BUDGETS="3.5 4.0 4.5 5.0 6.0"
  ;;
*) echo "unknown model $MODEL" >&2; exit 1 ;;
esac
CAL=(--calibration-tokens "$OUT/calibration.npy" --calibration-samples 32)

[ -f "$OUT/float.so" ] || "${COMPILE[@]}" -o "$OUT/float.so"
CANDIDATES=()
build() { # name kind, then quant-compile arguments
  local name=$1 kind=$2; shift 2
  echo "== $name" >&2
  local start; start=$(date +%s.%N)
  "${COMPILE[@]}" "$@" -o "$OUT/$name.so" 2> "$OUT/$name.log"
  echo "$name $(echo "$(date +%s.%N) - $start" | bc)" >> "$OUT/compile-times.txt"
  grep -h "remark: mixed precision: [0-9]* linears" "$OUT/$name.log" | sed "s/^[^ ]* remark: /$name: /" >> "$OUT/summaries.txt" || true
  echo "$name.so $kind" >> "$OUT/kinds.txt"
  CANDIDATES+=(--candidate "$OUT/$name.so")
}
for u in "${UNIFORM[@]}"; do
  build "${u%%:*}" uniform --pipeline "${u#*:}"
done
AMP="assign-mixed-precision{candidates=$CANDS"
for b in $BUDGETS; do
  build "mixed-$b" hessian-rel --pipeline "{cal-h},func.func($AMP budget-bpw=$b})" "${CAL[@]}"
done
for b in 4.0 5.0 6.0; do
  build "mixed-abs-$b" hessian --pipeline "{cal-h},func.func($AMP budget-bpw=$b metric=hessian})" "${CAL[@]}"
done
# metric=kl: measured once (timed in compile-times.txt), then reused.
first=1
for b in $BUDGETS; do
  if [ $first = 1 ]; then
    build "mixed-kl-$b" kl --pipeline "func.func($AMP budget-bpw=$b metric=kl tokens=$OUT/calibration.npy kl-samples=$KLS plan=$OUT/kl-plan.json})"
    first=0
  else
    build "mixed-kl-$b" kl --pipeline "func.func($AMP budget-bpw=$b metric=kl sens-in=$OUT/kl-plan.json})"
  fi
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${CANDIDATES[@]}" "${EVAL[@]}" \
  --json "$RES.json" --svg "$RES.svg" > "$OUT/table.txt"
cat "$OUT/table.txt"
/usr/bin/python3 bench/mixed_frontier.py "$RES.json" "$OUT/kinds.txt" > "$OUT/frontier.md"
cat "$OUT/frontier.md" "$OUT/compile-times.txt" "$OUT/summaries.txt"
