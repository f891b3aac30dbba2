#!/usr/bin/env bash
# make demo: the main job on the bundled model (pd-llama-6m), in about two
# minutes on 2 cores:
#   1. import the ONNX export and raise it to lq's building blocks;
#   2. compile it in float32 and check the logits against PyTorch's;
#   3. quantize it with two recipes (W8A8 SmoothQuant, W4A16 GPTQ), both
#      calibrated on text the model was trained on, and compile them;
#   4. generate a continuation of a prompt with each model;
#   5. measure what quantization cost on held-out text (quant-eval).
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/demo
WINDOW=128
mkdir -p "$OUT"
CAL=(--calibration-text data/calibration.txt --tokenizer "$MODEL/tokenizer.model" --calibration-samples 16)

echo "== 1. import $MODEL/model.onnx and raise it to lq ops"
"$BIN/quant-import" "$MODEL/model.onnx" --dim batch=1 --dim seq=8 --elide-weights --stats -o "$OUT/model.mlir"

echo
echo "== 2. compile in float32 and compare with PyTorch's reference logits"
"$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=8 -o "$OUT/float-8.so"
"$BIN/quant-run" "$OUT/float-8.so" --tokens-file "$MODEL/ref_input_ids.npy" --dump-logits "$OUT/logits.npy" --repeat 5
/usr/bin/python3 test/Integration/Models/Inputs/compare_npy.py "$OUT/logits.npy" "$MODEL/ref_logits.npy"

echo
echo "== 3. quantize + compile (window of $WINDOW tokens)"
"$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW -o "$OUT/float.so"
for recipe in w8a8-smoothquant w4a16-gptq; do
  echo "-- recipe $recipe: $("$BIN/quant-compile" --print-pipeline --recipe $recipe "${CAL[@]}")"
  "$BIN/quant-compile" "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW --recipe $recipe "${CAL[@]}" -o "$OUT/$recipe.so"
done

echo
echo "== 4. generate (greedy) with each model"
PROMPT="It is a truth universally acknowledged, that a single man"
for m in float w8a8-smoothquant w4a16-gptq; do
  echo "-- $m:"
  "$BIN/quant-run" "$OUT/$m.so" --tokenizer "$MODEL/tokenizer.model" --prompt "$PROMPT" --generate 24
done
# The KV-cache step (model_kv.onnx) with a runtime-managed 256-token cache:
# lq_generate feeds one token per step. Weight-only recipes need no
# calibration, so the step can be quantized as it is.
for recipe in float w4a16-rtn; do
  echo "-- $recipe, KV cache (quant-compile --kv-cache 256, lq_generate):"
  "$BIN/quant-compile" -q "$MODEL/model_kv.onnx" --dim batch=1 --dim seq=1 --dim past_seq=1 \
    --kv-cache 256 --recipe $recipe -o "$OUT/$recipe-kv.so"
  "$BIN/quant-run" "$OUT/$recipe-kv.so" --tokenizer "$MODEL/tokenizer.model" --prompt "$PROMPT" \
    --generate 48 --threads 1
done
# The same with the cache itself in int4 (--kv-format: codes + per-token
# scales, 6.4x fewer bytes per token than float32).
echo "-- w4a16-rtn, int4 KV cache (--kv-cache 256 --kv-format int4):"
"$BIN/quant-compile" -q "$MODEL/model_kv.onnx" --dim batch=1 --dim seq=1 --dim past_seq=1 \
  --kv-cache 256 --kv-format int4 --recipe w4a16-rtn -o "$OUT/w4a16-rtn-kv4.so"
"$BIN/quant-run" "$OUT/w4a16-rtn-kv4.so" --kv-budget 1GiB
"$BIN/quant-run" "$OUT/w4a16-rtn-kv4.so" --tokenizer "$MODEL/tokenizer.model" --prompt "$PROMPT" \
  --generate 48 --threads 1

echo
echo "== 5. quality on held-out text (Persuasion, never seen in training)"
"$BIN/quant-eval" -q --window $WINDOW --max-windows 60 --reference "$OUT/float.so" \
  --candidate "$OUT/w8a8-smoothquant.so" --candidate "$OUT/w4a16-gptq.so" \
  --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt" --json "$OUT/eval.json"
