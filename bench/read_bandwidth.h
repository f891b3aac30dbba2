//===- read_bandwidth.h - STREAM-like read bandwidth -------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The roofline of a decode step, shared by bench/read_bw.cpp (run by
// run_cpu_bench.sh), bench/gemv_bench.cpp and bench/qgemv_ab.cpp: sum a 256
// MiB buffer (far larger than the caches) with `threads` threads, 16
// independent accumulators each (vectorized by -O3); the median of >= 5
// passes and >= `minSeconds`, after one warm-up pass that also faults the
// pages in. Header-only, so each benchmark builds with nothing but a compiler.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_BENCH_READ_BANDWIDTH_H
#define LQ_BENCH_READ_BANDWIDTH_H

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

namespace lq_bench {

/// Defeats dead-code elimination of the sums.
inline volatile float readSink;

inline float sumFloats(const float *buf, size_t b, size_t e) {
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

/// Read bandwidth in GB/s; `passes` (if given) receives the number of passes.
inline double readBandwidthGBs(int threads, double minSeconds,
                               size_t *passes = nullptr) {
  using Clock = std::chrono::steady_clock;
  threads = std::max(1, threads);
  const size_t n = size_t(256) << 20 >> 2; // 256 MiB of floats
  std::vector<float> buf(n);
  for (size_t i = 0; i < n; ++i)
    buf[i] = float(i & 1023) * 1e-3f;
  auto pass = [&] {
    std::vector<std::thread> pool;
    std::vector<float> part(static_cast<size_t>(threads));
    const size_t chunk = n / size_t(threads);
    for (int w = 1; w < threads; ++w)
      pool.emplace_back([&, w] {
        part[size_t(w)] = sumFloats(buf.data(), w * chunk,
                                    w + 1 == threads ? n : (w + 1) * chunk);
      });
    part[0] = sumFloats(buf.data(), 0, threads == 1 ? n : chunk);
    for (auto &th : pool)
      th.join();
    float s = 0;
    for (float p : part)
      s += p;
    readSink = s;
  };
  pass();
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 5 ||
         std::chrono::duration<double>(Clock::now() - start).count() < minSeconds) {
    const auto a = Clock::now();
    pass();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
    if (t.size() >= 200)
      break;
  }
  std::sort(t.begin(), t.end());
  if (passes)
    *passes = t.size();
  return double(n) * 4 / t[t.size() / 2] / 1e9;
}

} // namespace lq_bench

#endif // LQ_BENCH_READ_BANDWIDTH_H
