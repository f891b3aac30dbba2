#!/usr/bin/env bash
# GPTQ of one K x K linear (issue 6: K = 4096, 128 calibration samples of 512
# tokens), in its two parts:
#  1. --gptq (4-bit, group 128, the w4a16-gptq settings) on a random K x K
#     linear with a random SPD Hessian (bench/gptq_speed.py): the pass's own
#     timing remark (GPTQ only, not parsing/printing) and wall time.
#  2. The Hessian XᵀX over SAMPLES x 512 tokens, as --calibrate="hessian=true"
#     accumulates it: (a) the kernel alone (bench/hessian_speed.cpp:
#     lq_rt_gram_accumulate, and the previous full-GEMM path on OLD_CALLS
#     calls, scaled to SAMPLES); (b) --calibrate end to end on a one-linear
#     model (bench/hessian_model.py: gather + one K x K linear) on E2E_SAMPLES
#     windows, with and without hessian=true: the difference is what the
#     Hessian adds to calibration (the rest is running the model and the
#     per-channel statistics).
# Wall and CPU seconds (user + system) with the 1-minute load average: the
# machine is shared, so CPU seconds / threads is the better guide when loaded.
# Usage: bench/gptq_speed.sh [BUILD] [K] [EXTRA --gptq OPTIONS]
#   env: SAMPLES (128), OLD_CALLS (16), E2E_SAMPLES (16); writes
#   bench/results/gptq-speed.md
set -euo pipefail
BUILD=${1:-build}
K=${2:-4096}
EXTRA=${3:-}
SAMPLES=${SAMPLES:-128}
OLD_CALLS=${OLD_CALLS:-16}
E2E_SAMPLES=${E2E_SAMPLES:-16}
T=512
OUT=$BUILD/bench-gptq
RES=bench/results/gptq-speed.md
mkdir -p "$OUT" bench/results
load() { cut -d' ' -f1-3 /proc/loadavg; }
log() { echo "$*" | tee -a "$OUT/report.txt"; }
: > "$OUT/report.txt"
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%Y-%m-%d %H:%M UTC')"

log "## 1. --gptq bits=4 group=128 on a ${K}x${K} linear (load $(load))"
[ -f "$OUT/layer-$K.mlir" ] || /usr/bin/python3 bench/gptq_speed.py "$OUT/layer-$K.mlir" "$K"
start=$(date +%s.%N)
/usr/bin/time -f '%U %S' -o "$OUT/gptq.cpu" "$BUILD/bin/quant-opt" "$OUT/layer-$K.mlir" \
  --gptq="bits=4 group=128 verbose=true $EXTRA" -o /dev/null 2> "$OUT/gptq.log"
log "$(grep -o 'gptq [0-9x]* in .* s)' "$OUT/gptq.log")"
log "wall (parse + gptq + print): $(echo "$(date +%s.%N) - $start" | bc) s, CPU $(awk '{print $1 + $2}' "$OUT/gptq.cpu") s (load after $(load))"

log "## 2a. Hessian kernel: $SAMPLES calls of $T tokens, K=$K (load $(load))"
clang++-22 -O3 -march=native -std=c++17 -Iruntime/include bench/hessian_speed.cpp \
  -L"$BUILD/lib" -llq_rt -Wl,-rpath,"$PWD/$BUILD/lib" -lpthread -o "$BUILD/bin/hessian_speed"
log "$("$BUILD/bin/hessian_speed" "$K" "$T" 1 peak | tail -n +2)"
log "$("$BUILD/bin/hessian_speed" "$K" "$T" "$SAMPLES" new)"
log "previous path on $OLD_CALLS calls (x $SAMPLES/$OLD_CALLS for $SAMPLES; load $(load)):"
log "$("$BUILD/bin/hessian_speed" "$K" "$T" "$OLD_CALLS" old)"
log "(load after $(load))"

log "## 2b. --calibrate end to end, one ${K}x${K} linear, $E2E_SAMPLES windows of $T tokens"
M=$OUT/one-linear-$K
[ -f "$M.mlir" ] || { /usr/bin/python3 bench/hessian_model.py "$M.onnx" "$M.npy" "$K" "$T" "$SAMPLES" &&
  "$BUILD/bin/quant-import" "$M.onnx" -o "$M.mlir"; }
for h in false true; do
  l0=$(load)
  /usr/bin/time -f '%e %U %S' -o "$OUT/cal-$h.cpu" "$BUILD/bin/quant-opt" "$M.mlir" \
    --calibrate="tokens=$M.npy samples=$E2E_SAMPLES seq-len=$T hessian=$h progress=false" \
    -mlir-timing -o /dev/null 2> "$OUT/cal-$h.log"
  log "hessian=$h: calibrate pass $(grep CalibratePass "$OUT/cal-$h.log" | awk '{print $1}') s wall; process $(awk '{print $1 " s wall, " $2 + $3 " CPU s"}' "$OUT/cal-$h.cpu") (load $l0 -> $(load))"
done
{
  echo "# GPTQ speed: one ${K}x${K} layer, $SAMPLES calibration samples of $T tokens"
  echo
  echo "\`SAMPLES=$SAMPLES OLD_CALLS=$OLD_CALLS E2E_SAMPLES=$E2E_SAMPLES bench/gptq_speed.sh $BUILD $K\`"
  echo
  echo "GPTQ of such a layer = the Hessian XᵀX over the calibration tokens (2a: the SYRK alone;"
  echo "2b: what it adds to --calibrate, which also runs the model) + the --gptq pass (1)."
  echo "On a shared machine read CPU seconds: both run on all cores (2 here), so an idle"
  echo "machine's wall time is about CPU s / 2."
  echo '```'
  cat "$OUT/report.txt"
  echo '```'
} > "$RES"
cat "$RES"
