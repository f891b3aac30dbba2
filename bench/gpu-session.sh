#!/usr/bin/env bash
# bench/gpu-session.sh: everything a session checks on a lent GPU machine, in
# one call (device time is scarce: one start, one script):
#   1. bench/gpu-check.sh: builds lq_rt's CUDA side standalone (no MLIR on
#      the GPU machine), runs every kernel against float64 references and
#      times them; writes $OUT/gpu-check.md;
#   2. bench/gpu-e2e.sh DIR: pd-llama-6m compiled for CUDA on the build
#      machine (`bench/gpu-e2e.sh --prepare DIR BUILD` beforehand, DIR
#      carried to the GPU machine) against the CPU build, and decode speed;
#      writes $OUT/gpu-e2e.md.
# Logs go to $OUT/*.log as well as stdout. SKIP_GPU_CHECK=1 runs step 2
# only (a second call with the other half of the e2e cases,
# GPU_E2E_PART=logits|decode).
#
# A session's recipe (the repository is 35 MiB of the 64 MiB a call carries):
#   here:   GPU_E2E_PART=decode GPU_E2E_DECODE="w4a16-rtn:resident w4a16-rtn:device" \
#             bench/gpu-e2e.sh --prepare build-e2e build        (22 MB)
#   (w4a16-rtn:stream is the step between: --cuda-stream-ordered alone)
#   device: run(command="bench/gpu-session.sh build-e2e", carry=["build-e2e"])
#
# usage (on the GPU machine, repository root): bench/gpu-session.sh E2E_DIR
# Exit status: the first non-zero status of the two steps.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
e2e=${1:?usage: bench/gpu-session.sh E2E_DIR}
out=${OUT:-$root/build-gpu-out}
mkdir -p "$out"
export OUT=$out

rc=0
if [ "${SKIP_GPU_CHECK:-0}" != 1 ]; then
  echo "== gpu-check"
  "$root/bench/gpu-check.sh" "$root/build-gpu" 2>&1 | tee "$out/gpu-check.log"
  rc=${PIPESTATUS[0]}
fi
echo "== gpu-e2e"
# The liblq_rt_cuda.so gpu-check built here, for a prepared dir without one.
lib=$(find "$root/build-gpu" -name liblq_rt_cuda.so 2>/dev/null | head -1)
[ -n "$lib" ] && export LQ_RT_CUDA_LIB_DIR=$(dirname "$lib")
"$root/bench/gpu-e2e.sh" "$e2e" 2>&1 | tee "$out/gpu-e2e.log"
r=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && rc=$r
echo "== gpu-session exit $rc"
exit "$rc"
