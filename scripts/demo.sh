#!/usr/bin/env bash
# make demo: the main job on the bundled model. Import pd-llama-6m, show what
# the importer raised, compile it to a shared library and run it on a prompt,
# checking the logits against PyTorch's reference.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/demo
mkdir -p "$OUT"

echo "== 1. import $MODEL/model.onnx (1347 ONNX nodes) and raise it to lq ops"
"$BIN/quant-import" "$MODEL/model.onnx" --dim batch=1 --dim seq=8 --elide-weights --stats -o "$OUT/model.mlir"
echo "   (IR written to $OUT/model.mlir)"

echo
echo "== 2. compile it ahead of time: quant-compile --print-pipeline"
"$BIN/quant-compile" --print-pipeline
"$BIN/quant-compile" "$MODEL/model.onnx" --dim batch=1 --dim seq=8 -o "$OUT/pd-llama-6m.so"

echo
echo "== 3. run the reference tokens and compare with PyTorch's logits"
"$BIN/quant-run" "$OUT/pd-llama-6m.so" --tokens-file "$MODEL/ref_input_ids.npy" \
  --dump-logits "$OUT/logits.npy" --repeat 5
/usr/bin/python3 test/Integration/Models/Inputs/compare_npy.py "$OUT/logits.npy" "$MODEL/ref_logits.npy"

