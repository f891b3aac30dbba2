#!/usr/bin/env bash
# bench/gpu-check.sh: on a machine with an NVIDIA GPU, build lq_rt's CUDA side
# standalone (cmake -S runtime: no MLIR needed), run every CUDA kernel against
# a float64 CPU reference (PASS/FAIL per check, relative-error thresholds per
# format), run the GoogleTest suite if GoogleTest is installed, then time the
# kernels (CUDA events, warm-up, medians, inputs rotated past L2) and print
# one markdown table, also written to $OUT/gpu-check.md when OUT is set.
#
# usage: bench/gpu-check.sh [build-dir]      (default: build-gpu)
# env:   LQ_CUDA_ARCHS  CUDA architectures (default: the GPU's own, e.g. 90a)
#        CUDACXX        nvcc to use (default: nvcc on PATH, /usr/local/cuda)
# Exit status: 0 all passed, 1 a check failed, 2 no GPU, 3 build/run error.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-gpu}
t0=$(date +%s)

nvcc=${CUDACXX:-$(command -v nvcc || true)}
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ]; then
  echo "gpu-check: no nvcc found (set CUDACXX)" >&2
  exit 3
fi

archs=${LQ_CUDA_ARCHS:-}
if [ -z "$archs" ] && command -v nvidia-smi >/dev/null; then
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null |
        head -1 | tr -d ' .')
  case "$cap" in
    90|100|101|120) archs="${cap}a" ;; # the arch-specific target ("a")
    [0-9]*) archs="$cap" ;;
  esac
fi
archs=${archs:-80;89;90a}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu \
  --format=csv 2>/dev/null || true

# GoogleTest is optional here: gpu_check needs none.
tests=OFF
for h in /usr/include/gtest/gtest.h /usr/local/include/gtest/gtest.h; do
  [ -f "$h" ] && tests=ON
done
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

echo "== configure ($nvcc, archs $archs, gtest $tests)"
cmake "${gen[@]}" -S "$root/runtime" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$archs" \
  -DLQ_RT_ENABLE_CUDA=ON -DLQ_RT_BUILD_TESTS=$tests >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 3; }
grep -q "building lq_rt_cuda" "$build.configure.log" ||
  { cat "$build.configure.log"; echo "gpu-check: CUDA not found by CMake" >&2; exit 3; }
targets=(--target gpu_check)
[ "$tests" = ON ] && targets+=(--target lq_rt_cuda_tests)
echo "== build"
cmake --build "$build" -j "$(nproc)" "${targets[@]}" 2>&1 | tail -20
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 3
echo "== built in $(( $(date +%s) - t0 )) s"

rc=0
if [ "$tests" = ON ]; then
  echo "== lq_rt_cuda_tests"
  "$(find "$build" -name lq_rt_cuda_tests -type f | head -1)" --gtest_brief=1 || rc=1
fi
echo "== gpu_check"
"$(find "$build" -name gpu_check -type f -perm -u+x | head -1)"
r=$?
[ $r -ne 0 ] && rc=$r
echo "== total $(( $(date +%s) - t0 )) s, exit $rc"
exit $rc
