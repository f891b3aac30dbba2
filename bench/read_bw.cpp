//===- read_bw.cpp - STREAM-like read bandwidth ------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The roofline of a decode step: the median GB/s of read_bandwidth.h's
// kernel (also used by gemv_bench.cpp and qgemv_ab.cpp), without lq_rt, so
// the CPU benchmark (bench/run_cpu_bench.sh) builds it with nothing but a
// compiler.
//
//   read_bw THREADS [MIN_S]      prints {"threads": N, "read_bandwidth_gbps": X}
//
//===----------------------------------------------------------------------===//

#include "read_bandwidth.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s THREADS [MIN_S]\n", argv[0]);
    return 2;
  }
  const int threads = std::max(1, std::atoi(argv[1]));
  const double minTime = argc > 2 ? std::atof(argv[2]) : 0.5;
  size_t passes = 0;
  const double gbps = lq_bench::readBandwidthGBs(threads, minTime, &passes);
  std::printf("{\"threads\": %d, \"read_bandwidth_gbps\": %.3f, \"passes\": %zu}\n",
              threads, gbps, passes);
  return 0;
}
