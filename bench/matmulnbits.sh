#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lq int4 weight-only decode vs onnxruntime's MatMulNBits on the wide synthetic
# model (dim 768, 12 layers, vocab 32000, random weights; bench/make_wide_model.py,
# exported as run_cpu_bench.sh does), where reading the weights sets the speed.
#
#   ORT:  bench/ort/matmulnbits.py rewrites every MatMul of model_kv.onnx into
#         MatMulNBits (4 bits, symmetric RTN, blocks of 32 along K, lm_head
#         included), accuracy_level 0 (dequantize to f32) and 4 (int8
#         activations); onnxruntime-node 1.30, CPU EP, graph optimizations on.
#   lq:   quant-compile --pipeline 'func.func(quantize-weights{bits=4 group=32
#         lm-head=same})': the same codes and scales (the script checks that the
#         two engines' logits agree, KL < 1e-6), f32 activations in the graph
#         (its decode GEMV quantizes them to int16 per 64-code segment where
#         the CPU has AVX-512 VNNI: lq_rt_qgemv_i16).
# One decode step after a random 127-token cache (the inputs run.js generates,
# dumped and fed to quant-run), medians of interleaved repeats.
#
# usage: bench/matmulnbits.sh [build-dir]   (THREADS="1 2" REPS=3)
# Writes bench/results/cpu-matmulnbits.md.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
WORK=${WORK:-$BUILD/bench-matmulnbits}
THREADS=${THREADS:-"1 2"}
REPS=${REPS:-3}
PAST=127
PY=/usr/bin/python3
ORT="node bench/ort/run.js"
RES=bench/results/cpu-matmulnbits.md
mkdir -p "$WORK" bench/results

WIDE=$WORK/wide
if [[ ! -f $WIDE/model_kv.onnx ]]; then
  echo "== export the wide model" >&2
  $PY bench/make_wide_model.py "$WIDE" >&2
fi
for lvl in 0 4; do
  [[ -f $WORK/nbits$lvl.onnx ]] ||
    $PY bench/ort/matmulnbits.py "$WIDE/model_kv.onnx" "$WORK/nbits$lvl.onnx" --block 32 --accuracy-level $lvl >&2
done
echo "== quant-compile (int4, groups of 32, lm_head too)" >&2
t0=$(date +%s.%N)
"$BIN/quant-compile" -q "$WIDE/model_kv.onnx" --dim batch=1 --dim seq=1 --dim past_seq=$PAST \
  --pipeline "func.func(quantize-weights{bits=4 group=32 lm-head=same})" -o "$WORK/lq-w4g32.so"
compile_s=$(awk "BEGIN{print $(date +%s.%N) - $t0}")

# Same inputs for both engines; the logits must agree (same quantized weights).
$ORT "$WORK/nbits0.onnx" --decode $PAST --runs 1 --warmup 0 --dump "$WORK/in" >/dev/null
LQIN=(--input "input_ids=$WORK/in/input_ids.npy")
for f in "$WORK"/in/past_*.npy; do n=$(basename "$f" .npy); LQIN+=(--input "$n=$f"); done
mkdir -p "$WORK/lq-out"
"$BIN/quant-run" "$WORK/lq-w4g32.so" "${LQIN[@]}" --dump-outputs "$WORK/lq-out" --threads 1 >/dev/null
agree=$($PY - "$WORK" <<'EOF'
import sys, numpy as np
w = sys.argv[1]
def ls(x):
    x = x.astype(np.float64).reshape(-1); x -= x.max(); return x - np.log(np.exp(x).sum())
a, b = ls(np.load(f"{w}/lq-out/logits.npy")), ls(np.load(f"{w}/in/ort-logits.npy"))
kl = float((np.exp(b) * (b - a)).sum())
print(f"{kl:.2e} {int(a.argmax() == b.argmax())}")
if not kl < 1e-6:
    sys.exit(f"matmulnbits.sh: lq and ORT MatMulNBits disagree (KL {kl:.2e}): not the same model")
EOF
)

declare -A T
for ((rep = 1; rep <= REPS; ++rep)); do
  for t in $THREADS; do
    echo "== rep $rep/$REPS, $t thread(s)" >&2
    for lvl in 0 4; do
      s=$($ORT "$WORK/nbits$lvl.onnx" --decode $PAST --threads "$t" --runs 15 --warmup 3 |
          sed 's/.*"median_s":\([0-9.e-]*\).*/\1/')
      T[ort$lvl,$t]+=" $s"
    done
    s=$(LQ_NUM_THREADS=$t "$BIN/quant-run" "$WORK/lq-w4g32.so" "${LQIN[@]}" --json --repeat 30 |
        sed 's/.*"prefill_s": \([0-9.e-]*\).*/\1/')
    T[lq,$t]+=" $s"
  done
done
med() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wb=$(sed -n 's/^ \*   weight_bytes \([0-9]*\)$/\1/p' "$WORK/lq-w4g32.h")
{
  echo "# lq int4 weight-only decode vs onnxruntime MatMulNBits (wide synthetic model)"
  echo
  echo "\`bench/matmulnbits.sh $BUILD\`, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
  echo "$(nproc) vCPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)). Wide model: dim 768, 12 layers,"
  echo "vocab 32000, random weights; one decode step after a random cache of $PAST tokens. Both engines run"
  echo "the same int4 weights (symmetric RTN, blocks of 32 along K, every linear incl. lm_head; f32"
  echo "embedding table): their logits on the same inputs agree to KL $(echo "$agree" | cut -d' ' -f1) (top-1 equal: $(echo "$agree" | cut -d' ' -f2))."
  echo "lq: \`quantize-weights{bits=4 group=32 lm-head=same}\`, f32 activations, which its decode GEMV quantizes"
  echo "to int16 per 64-code segment on AVX-512 VNNI CPUs (weight bytes in the .so"
  echo "$(awk "BEGIN{printf \"%.1f\", ${wb:-0} / 1e6}") MB, compile ${compile_s%.*} s). ORT: MatMulNBits accuracy_level 0 (dequantize to f32)"
  echo "and 4 (int8 activations, W4A8). Medians of $REPS interleaved repeats (ORT: median"
  echo "of 15 runs after 3 warm-up; lq: median of 30)."
  echo
  echo "| threads | ORT MatMulNBits acc 0 (tok/s) | ORT MatMulNBits acc 4 (tok/s) | lq int4 g32 (tok/s) | lq / ORT acc 0 | lq / ORT acc 4 |"
  echo "|---:|---:|---:|---:|---:|---:|"
  for t in $THREADS; do
    o0=$(med "${T[ort0,$t]}"); o4=$(med "${T[ort4,$t]}"); l=$(med "${T[lq,$t]}")
    awk -v t="$t" -v o0="$o0" -v o4="$o4" -v l="$l" 'BEGIN {
      printf "| %d | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n", t, 1/o0, 1/o4, 1/l, o0/l, o4/l }'
  done
  echo
  echo "Raw seconds per step: $(for k in "${!T[@]}"; do printf '%s:[%s ] ' "$k" "${T[$k]}"; done)"
} >"$RES"
cat "$RES"
