#!/bin/bash
# SpinQuant (learned R1/R2, tools/spinquant/learn.py + --spinquant) vs QuaRot
# (random Hadamard R1/R2, --quarot{seed=0}) vs no rotation on pd-llama-6m, at
# the same quantization: W4A16 RTN (int4, group 128) and W4A4 RTN (+ int4
# activations per token, dynamic). Both rotated rows keep R3/R4 online
# Hadamards. "spinquant-init" rows use the learner's starting point (a random
# Hadamard R1 with other signs than QuaRot's seed 0, Hadamard R2): the
# learned-minus-init difference is what the 100 Cayley SGD steps bought.
#   bench/spinquant_quality.sh [BUILD_DIR] [WINDOWS] [ROT_DIR] [ROT_KL_DIR]
# ROT_DIR: learned rotations (R1.npy, R2.npy); learned here (100 steps,
# lr 1.5, W4A4 target, data/calibration.txt) when it lacks R1.npy.
# ROT_KL_DIR (optional): rotations learned with --loss kl (KL to the float
# model instead of next-token CE), compared as "spinquant-kl" rows.
# REUSE=1 keeps .so files already in $BUILD/bench-spinquant (same pipelines).
# Writes $BUILD/bench-spinquant/table.txt and bench/results/spinquant-pd-llama-6m.json.
set -euo pipefail
BUILD=${1:-build}
WINDOWS=${2:-40}
BIN=$BUILD/bin
MODEL=models/pd-llama-6m
OUT=$BUILD/bench-spinquant
ROT=${3:-$OUT/learned}
ROTKL=${4:-}
INIT=$OUT/init
WINDOW=256
mkdir -p "$OUT" bench/results
"$BIN/quant-tokenize" "$MODEL/tokenizer.model" data/calibration.txt -o "$OUT/calib_ids.npy"
LEARN=(/usr/bin/python3 tools/spinquant/learn.py --model "$MODEL/model.onnx" --tokens "$OUT/calib_ids.npy"
       --lq-rt "$BUILD/lib/liblq_rt.so" --lr 1.5 --wbits 4 --abits 4)
if [ ! -f "$ROT/R1.npy" ]; then
  ( time "${LEARN[@]}" --steps 100 --out "$ROT" ) 2>&1 | tee "$OUT/learn.log"
fi
"${LEARN[@]}" --steps 0 --out "$INIT" > "$OUT/init.log"
EVAL=(--window $WINDOW --max-windows "$WINDOWS" --tokenizer "$MODEL/tokenizer.model" --text "$MODEL/eval.txt")
QR='func.func(fold-norms,quarot{seed=0}),canonicalize,cse'
SQ="func.func(fold-norms,spinquant{rotations=$ROT}),canonicalize,cse"
SI="func.func(fold-norms,spinquant{rotations=$INIT}),canonicalize,cse"
W4='func.func(quantize-weights{bits=4 group=128})'
W4A4='func.func(quantize-weights{bits=4 group=128},quantize-activations{format=int4})'
compile() { # name pipeline (REUSE=1: keep an existing $OUT/name.so)
  if [ "${REUSE:-0}" = 1 ] && [ -f "$OUT/$1.so" ]; then echo "== $1 (reused)" >&2; return; fi
  echo "== $1" >&2
  "$BIN/quant-compile" -q "$MODEL/model.onnx" --dim batch=1 --dim seq=$WINDOW \
    ${2:+--pipeline "$2"} -o "$OUT/$1.so"
}
compile float ""
compile spinquant-float "$SQ"
compile w4a16-rtn "$W4"
compile quarot-w4a16-rtn "$QR,$W4"
compile spinquant-init-w4a16-rtn "$SI,$W4"
compile spinquant-w4a16-rtn "$SQ,$W4"
compile w4a4-rtn "$W4A4"
compile quarot-w4a4-rtn "$QR,$W4A4"
compile spinquant-init-w4a4-rtn "$SI,$W4A4"
compile spinquant-w4a4-rtn "$SQ,$W4A4"
KL=()
if [ -n "$ROTKL" ]; then
  SK="func.func(fold-norms,spinquant{rotations=$ROTKL}),canonicalize,cse"
  compile spinquant-kl-w4a16-rtn "$SK,$W4"
  compile spinquant-kl-w4a4-rtn "$SK,$W4A4"
  KL=(--candidate "$OUT/spinquant-kl-w4a16-rtn.so" --candidate "$OUT/spinquant-kl-w4a4-rtn.so")
fi
CANDS=()
for c in spinquant-float w4a16-rtn quarot-w4a16-rtn spinquant-init-w4a16-rtn spinquant-w4a16-rtn \
         w4a4-rtn quarot-w4a4-rtn spinquant-init-w4a4-rtn spinquant-w4a4-rtn; do
  CANDS+=(--candidate "$OUT/$c.so")
done
"$BIN/quant-eval" -q --reference "$OUT/float.so" "${CANDS[@]}" "${KL[@]}" "${EVAL[@]}" \
  --json bench/results/spinquant-pd-llama-6m.json | tee "$OUT/table.txt"
