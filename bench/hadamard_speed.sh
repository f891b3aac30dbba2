#!/bin/bash
# bench/hadamard_speed.sh [BUILD_DIR]: throughput of the CPU Hadamard kernel.
set -euo pipefail
BUILD=${1:-build}
clang-22 -O2 -Iruntime/include bench/hadamard_speed.c -L"$BUILD/lib" -llq_rt \
  -Wl,-rpath,"$(cd "$BUILD/lib" && pwd)" -o "$BUILD/hadamard_speed"
"$BUILD/hadamard_speed"
