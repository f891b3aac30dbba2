#!/usr/bin/env bash
# Decode tokens/s per weight-only recipe on pd-llama-6m through the
# runtime-managed KV cache (quant-compile --kv-cache, lq_generate): one
# thread, a 3-token prompt, 128 new tokens, best of 3 runs, next to float.
# Recipes that need calibration are left out: a KV-cache step calibrates on
# T-token windows at position 0 only (see README).
# Usage: bench/decode_recipes.sh [BUILD] [CAPACITY]
set -euo pipefail
BUILD=${1:-build}
CAP=${2:-256}
BIN=$BUILD/bin
OUT=$BUILD/bench-decode
mkdir -p "$OUT" bench/results
RECIPES="float w8a16 w4a16-rtn w3a16-rtn nf4 fp8-weights mxfp4 nvfp4"
{
  echo "# Decode on pd-llama-6m through a $CAP-token KV cache, 1 thread"
  echo
  echo "\`bench/decode_recipes.sh $BUILD $CAP\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1 /proc/loadavg) at the start."
  echo
  echo "| recipe | decode tok/s | vs float | fused kernel |"
  echo "|---|---|---|---|"
} > "$OUT/table.md"
float=0
for r in $RECIPES; do
  "$BIN/quant-compile" -q models/pd-llama-6m/model_kv.onnx --dim batch=1 --dim seq=1 \
    --dim past_seq=1 --kv-cache "$CAP" --recipe "$r" -o "$OUT/$r.so"
  best=0
  for i in 1 2 3; do
    v=$("$BIN/quant-run" "$OUT/$r.so" --tokens 1,450,23 --generate 128 --threads 1 --json |
        /usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin)['decode_tok_s'])")
    best=$(/usr/bin/python3 -c "print(max($best, $v))")
  done
  [ "$r" = float ] && float=$best
  fused=$(case $r in w3a16-rtn) echo "no (dequantized per call)";; float) echo "-";; *) echo yes;; esac)
  echo "| $r | $best | $(/usr/bin/python3 -c "print(f'{$best / $float:.2f}x')") | $fused |" >> "$OUT/table.md"
done
cp "$OUT/table.md" bench/results/decode-kv-pd-llama-6m.md
cat bench/results/decode-kv-pd-llama-6m.md
