#!/bin/bash
# QuaRot (--fold-norms --quarot, R1-R4) vs no rotation on pd-llama-6m, at the
# same quantization: W4A16 RTN (int4, group 128) and W8A8 (int8 per-channel
# weights, static per-tensor int8 activations from 32 calibration samples).
#   bench/quarot_quality.sh [BUILD_DIR] [WINDOWS]
# Writes the quant-eval table to $BUILD/bench-quarot/table.txt and
# bench/results/quarot-pd-llama-6m.json.
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-40}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-quarot
WINDOW=256
mkdir -p "$OUT" bench/results
CAL=(--calibration-text data/calibration.txt --tokenizer "$MODEL/tokenizer.model" --calibration-samples 32)
EVAL=(--window $WINDOW --max-windows "$WINDOWS" --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt")
ROT='func.func(fold-norms,quarot{seed=0}),canonicalize,cse'
W4='func.func(quantize-weights{bits=4 group=128})'
W8A8='{cal},func.func(quantize-weights{bits=8 group=-1},quantize-activations)'
compile() { # name pipeline
  echo "== $1" >&2
  "$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW "${CAL[@]}" \
    ${2:+--pipeline "$2"} -o "$OUT/$1.so"
}
compile float ""
compile quarot-float "$ROT"
compile w4a16-rtn "$W4"
compile quarot-w4a16-rtn "$ROT,$W4"
compile w8a8 "$W8A8"
compile quarot-w8a8 "$ROT,$W8A8"
CANDS=()
for c in quarot-float w4a16-rtn quarot-w4a16-rtn w8a8 quarot-w8a8; do
  CANDS+=(--candidate "$OUT/$c.so")
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${CANDS[@]}" "${EVAL[@]}" \
  --json bench/results/quarot-pd-llama-6m.json | tee "$OUT/table.txt"
