#!/usr/bin/env bash
# Quality of every recipe on pd-llama-6m: perplexity, KL divergence and top-1
# agreement vs the float model on held-out text, plus bits per weight; and
# the SmoothQuant stress test on a copy with injected outlier channels.
# Usage: bench/recipes_quality.sh [BUILD] [MAX_WINDOWS]
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-200}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-recipes
WINDOW=256
mkdir -p "$OUT" bench/results
CAL=(--calibration-text data/calibration.txt --tokenizer "$MODEL/tokenizer.model" --calibration-samples 32)
EVAL=(--window $WINDOW --max-windows "$WINDOWS" --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt")

RECIPES="w8a16 w8a8-naive w8a8-smoothquant w8a8-dynamic fp8 w4a16-rtn w4a16-gptq w4a8 w3a16-rtn w3a16-gptq nf4 mxfp4 mxfp4-a nvfp4 nvfp4-a nvfp4-a-dynamic"
if "$BIN/quant-compile" --list-recipes | grep -q '^w4a16-awq'; then
  RECIPES="$RECIPES w4a16-awq w3a16-awq"
fi
"$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW -o "$OUT/float.so"
CANDS=()
for r in $RECIPES; do
  echo "== $r" >&2
  start=$(date +%s.%N)
  "$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW --recipe "$r" "${CAL[@]}" -o "$OUT/$r.so"
  echo "$r $(echo "$(date +%s.%N) - $start" | bc)" >> "$OUT/compile-times.txt"
  CANDS+=(--candidate "$OUT/$r.so")
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${CANDS[@]}" "${EVAL[@]}" \
  --json bench/results/recipes-pd-llama-6m.json --svg bench/results/recipes-pd-llama-6m.svg \
  > "$OUT/table.txt"

# SmoothQuant stress test: outlier channels, same float function.
/usr/bin/python3 bench/inject_outliers.py "$MODEL/model.onnx" "$OUT/outliers.onnx"
"$BIN/quant-compile" -q "$OUT/outliers.onnx" --dim batch=1 --dim seq=$WINDOW -o "$OUT/outliers-float.so"
for r in w8a8-naive w8a8-smoothquant; do
  "$BIN/quant-compile" -q "$OUT/outliers.onnx" --dim batch=1 --dim seq=$WINDOW --recipe "$r" "${CAL[@]}" -o "$OUT/outliers-$r.so"
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" --candidate "$OUT/outliers-float.so" \
  --candidate "$OUT/outliers-w8a8-naive.so" --candidate "$OUT/outliers-w8a8-smoothquant.so" \
  "${EVAL[@]}" --json bench/results/outliers-pd-llama-6m.json > "$OUT/outliers.txt"

{
  echo "# Recipes on pd-llama-6m (quant-eval vs float32)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), \`bench/recipes_quality.sh $BUILD $WINDOWS\`."
  echo "Calibration: 32 windows of $WINDOW tokens from data/calibration.txt (training distribution);"
  echo "evaluation: the first $WINDOWS windows of $WINDOW tokens of eval.txt (held out)."
  echo
  echo '```'
  cat "$OUT/table.txt"
  echo '```'
  echo
  echo "Compile time per recipe (s, including calibration):"
  echo '```'
  cat "$OUT/compile-times.txt"
  echo '```'
  echo
  echo "## SmoothQuant with injected outlier channels"
  echo "bench/inject_outliers.py scales channels 3, 77 and 150 of every attention/MLP norm by 50"
  echo "and compensates in the weights (float function unchanged: first row)."
  echo
  echo '```'
  cat "$OUT/outliers.txt"
  echo '```'
} > bench/results/recipes-pd-llama-6m.md
cat bench/results/recipes-pd-llama-6m.md
