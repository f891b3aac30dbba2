//===- read_bw.cpp - STREAM-like read bandwidth ------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The roofline of a decode step: sum a 256 MiB buffer (far larger than the
// caches) with N threads, 16 independent accumulators each (vectorized by
// -O3), and print the median GB/s of >= 5 passes / >= MIN_S seconds. The same
// kernel as gemv_bench.cpp's readBandwidth(), without lq_rt, so the CPU
// benchmark (bench/run_cpu_bench.sh) can build it with nothing but a compiler.
//
//   read_bw THREADS [MIN_S]      prints {"threads": N, "read_bandwidth_gbps": X}
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;
volatile float gSink;

float sumRange(const float *buf, size_t b, size_t e) {
  float acc[16] = {};
  size_t i = b;
  for (; i + 16 <= e; i += 16)
    for (int j = 0; j < 16; ++j)
      acc[j] += buf[i + j];
  float s = 0;
  for (int j = 0; j < 16; ++j)
    s += acc[j];
  for (; i < e; ++i)
    s += buf[i];
  return s;
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s THREADS [MIN_S]\n", argv[0]);
    return 2;
  }
  const int threads = std::max(1, std::atoi(argv[1]));
  const double minTime = argc > 2 ? std::atof(argv[2]) : 0.5;
  const size_t n = size_t(256) << 20 >> 2; // 256 MiB of floats
  std::vector<float> buf(n);
  for (size_t i = 0; i < n; ++i)
    buf[i] = float(i & 1023) * 1e-3f;
  auto pass = [&] {
    std::vector<std::thread> pool;
    std::vector<float> part(threads);
    const size_t chunk = n / threads;
    for (int w = 1; w < threads; ++w)
      pool.emplace_back([&, w] {
        part[w] = sumRange(buf.data(), w * chunk, w + 1 == threads ? n : (w + 1) * chunk);
      });
    part[0] = sumRange(buf.data(), 0, threads == 1 ? n : chunk);
    for (auto &th : pool)
      th.join();
    float s = 0;
    for (float p : part)
      s += p;
    gSink = s;
  };
  pass(); // warm-up (also faults the pages in)
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 5 ||
         std::chrono::duration<double>(Clock::now() - start).count() < minTime) {
    const auto a = Clock::now();
    pass();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
    if (t.size() >= 200)
      break;
  }
  std::sort(t.begin(), t.end());
  std::printf("{\"threads\": %d, \"read_bandwidth_gbps\": %.3f, \"passes\": %zu}\n",
              threads, double(n) * 4 / t[t.size() / 2] / 1e9, t.size());
  return 0;
}
