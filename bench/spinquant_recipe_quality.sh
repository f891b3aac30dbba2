#!/usr/bin/env bash
# The w4a4kv4-spinquant recipe (learned R1/R2 from --rotations) vs
# w4a4kv4-quarot (random Hadamard R1/R2) on pd-llama-6m: the same recipe
# otherwise (fold-norms, online R3/R4 Hadamards, int4 GPTQ weights in groups
# of 128, per-token int4 activations, int4 KV cache), quant-eval vs float32
# on WINDOWS windows of 256 tokens of models/pd-llama-6m/eval.txt (held out),
# calibration 32 samples of data/calibration.txt.
#
#   bench/spinquant_recipe_quality.sh [BUILD] [WINDOWS] ROT_DIR [ROT_DIR...]
#
# Each ROT_DIR (R1.npy + R2.npy, or a .npz / .safetensors file) becomes a row
# "spinquant-<basename>". Learn them with tools/spinquant/learn.py (minutes;
# bench/spinquant_quality.sh shows the commands); its --steps 0 output (the
# learner's random-Hadamard start) is a second random draw, which gives the
# spread of random rotations to compare the learned ones against.
# Writes bench/results/w4a4kv4-spinquant-pd-llama-6m.{md,json} (a "## Reading"
# section written by hand under the table is kept on reruns).
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-40}
shift 2
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-spinquant-recipe
mkdir -p "$OUT" bench/results
CAL=(--calibration-text data/calibration.txt --tokenizer "$MODEL/tokenizer.model" --calibration-samples 32)
C=(--dim batch=1 --dim seq=256)
load0=$(cut -d' ' -f1 /proc/loadavg)
"$BIN/quant-compile" -q "$MODEL/model.onnx" "${C[@]}" -o "$OUT/float.so"
"$BIN/quant-compile" -q "$MODEL/model.onnx" "${C[@]}" --recipe w4a4kv4-quarot "${CAL[@]}" \
  -o "$OUT/w4a4kv4-quarot.so" 2> /dev/null
cands=(--candidate "$OUT/w4a4kv4-quarot.so")
rows=""
for rot in "$@"; do
  name=spinquant-$(basename "${rot%.*}")
  "$BIN/quant-compile" -q "$MODEL/model.onnx" "${C[@]}" --recipe w4a4kv4-spinquant \
    --rotations "$rot" "${CAL[@]}" -o "$OUT/$name.so" 2> /dev/null
  cands+=(--candidate "$OUT/$name.so")
  rows="$rows- \`$name\`: \`--recipe w4a4kv4-spinquant --rotations $rot\`\n"
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${cands[@]}" --window 256 --max-windows "$WINDOWS" \
  --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt" \
  --json bench/results/w4a4kv4-spinquant-pd-llama-6m.json > "$OUT/table.txt"
RES=bench/results/w4a4kv4-spinquant-pd-llama-6m.md
# The hand-written "## Reading" section of the previous results, kept.
READING=$([ -f "$RES" ] && sed -n '/^## Reading/,$p' "$RES" || true)
{
  echo "# w4a4kv4-spinquant vs w4a4kv4-quarot on pd-llama-6m (quant-eval vs float32)"
  echo
  echo "\`bench/spinquant_recipe_quality.sh $BUILD $WINDOWS $*\` (load average $load0 at the start; quality only, no timings)."
  echo
  printf "%b" "$rows"
  echo
  echo '```'
  cat "$OUT/table.txt"
  echo '```'
  if [ -n "$READING" ]; then echo; echo "$READING"; fi
} > "$RES"
cat "$RES"
