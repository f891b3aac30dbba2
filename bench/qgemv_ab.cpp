//===- qgemv_ab.cpp - Weight-only quantized GEMV, liblq_rt A vs B -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Decode-step (M = 1) lq_rt_qgemm_nt calls timed in two or more builds of
// liblq_rt.so loaded side by side (dlopen, RTLD_LOCAL | RTLD_DEEPBIND), the
// builds interleaved per repetition so that a shared machine's load hits
// them alike. GB/s = weight bytes (codes + scales + biases) / the median
// time per call; "roofline" = that over a STREAM-like read bandwidth
// measured at the start. Weights rotate through copies >= 4x a 32 MiB L3
// (every call reads DRAM) unless --hot (one copy: the compute ceiling).
// Each build's output is compared with the first build's (max |diff| /
// max |y|).
//
//   qgemv_ab [--hot] [--time S] [--reps R] [--shapes wide|big|all]
//            [--isa avx512|avx2|scalar] LIB.so [LIB.so ...]
//
// Threads: $LQ_NUM_THREADS, read by each library's pool and used for the
// bandwidth (1 if unset). Build:
//   clang++-22 -O3 -march=native -std=c++17 -Iruntime/include \
//     bench/qgemv_ab.cpp -ldl -lpthread -o qgemv_ab
//
//===----------------------------------------------------------------------===//

#include <lq_rt/formats.h> // LQ_FORMAT_INT

#include <dlfcn.h>

#include "read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using QGemm = int (*)(int64_t, int64_t, int64_t, const float *, int64_t,
                      const uint8_t *, const float *, const float *, int32_t,
                      int32_t, int64_t, float *, int64_t);

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <typename F> double medianTime(const F &fn, double minTime) {
  std::vector<double> t;
  fn(0);
  auto start = Clock::now();
  for (int i = 1; t.size() < 5 || seconds(start, Clock::now()) < minTime; ++i) {
    auto a = Clock::now();
    fn(i);
    t.push_back(seconds(a, Clock::now()));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Case {
  int64_t N, K;
  int bits;
  bool asym;
  int64_t group; // 0: per channel
  const char *what;
};

struct Weight {
  std::vector<uint8_t> codes;
  std::vector<float> scales, biases;
  size_t bytes() const {
    return codes.size() + (scales.size() + biases.size()) * 4;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  bool hot = false;
  double minTime = 0.15;
  int reps = 5;
  std::string shapes = "all";
  const char *isa = nullptr;
  std::vector<std::string> libs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--hot")
      hot = true;
    else if (a == "--time" && i + 1 < argc)
      minTime = std::atof(argv[++i]);
    else if (a == "--reps" && i + 1 < argc)
      reps = std::atoi(argv[++i]);
    else if (a == "--shapes" && i + 1 < argc)
      shapes = argv[++i];
    else if (a == "--isa" && i + 1 < argc)
      isa = argv[++i];
    else if (!a.empty() && a[0] != '-')
      libs.push_back(a);
    else {
      std::fprintf(stderr, "usage: %s [--hot] [--time S] [--reps R] "
                           "[--shapes wide|big|all] [--isa avx512|avx2|scalar] "
                           "LIB.so [LIB.so ...]\n",
                   argv[0]);
      return 2;
    }
  }
  if (libs.empty()) {
    std::fprintf(stderr, "qgemv_ab: give at least one liblq_rt.so\n");
    return 2;
  }
  std::vector<QGemm> fns;
  for (const std::string &l : libs) {
    void *h = dlopen(l.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) {
      std::fprintf(stderr, "qgemv_ab: %s\n", dlerror());
      return 1;
    }
    fns.push_back(reinterpret_cast<QGemm>(dlsym(h, "lq_rt_qgemm_nt")));
    if (!fns.back()) {
      std::fprintf(stderr, "qgemv_ab: %s has no lq_rt_qgemm_nt\n", l.c_str());
      return 1;
    }
    using ForceIsa = int (*)(const char *);
    auto force = reinterpret_cast<ForceIsa>(dlsym(h, "lq_rt_force_isa"));
    if (isa && (!force || !force(isa))) {
      std::fprintf(stderr, "qgemv_ab: %s cannot run ISA %s\n", l.c_str(), isa);
      return 1;
    }
  }
  const char *env = std::getenv("LQ_NUM_THREADS");
  const int threads = env && std::atoi(env) > 0 ? std::atoi(env) : 1;
  const double bw = lq_bench::readBandwidthGBs(threads, 0.5);
  std::printf("read bandwidth (%d thread(s)) %.2f GB/s; %s weights; %d reps\n",
              threads, bw, hot ? "cache-hot" : "DRAM (rotated)", reps);

  std::vector<Case> cases;
  if (shapes == "wide" || shapes == "all") {
    // The wide model's decode linears (w4a16-rtn: int4 sym g128; the
    // lm_head int8 per channel).
    cases.push_back({768, 768, 4, false, 128, "wide q/o"});
    cases.push_back({256, 768, 4, false, 128, "wide k/v"});
    cases.push_back({2048, 768, 4, false, 128, "wide gate/up"});
    cases.push_back({768, 2048, 4, false, 128, "wide down"});
    cases.push_back({32000, 768, 8, false, 0, "wide lm_head"});
    cases.push_back({2048, 768, 8, false, 0, "wide gate (w8a16)"});
  }
  if (shapes == "big" || shapes == "all") {
    for (int64_t K : {int64_t(4096), int64_t(11008)}) {
      cases.push_back({4096, K, 4, false, 128, "int4 sym g128"});
      cases.push_back({4096, K, 4, true, 128, "int4 asym g128"});
      cases.push_back({4096, K, 8, false, 0, "int8 per-channel"});
      cases.push_back({4096, K, 8, false, 128, "int8 g128"});
    }
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  const size_t llc = size_t(32) << 20;
  std::printf("| N x K | weight | MB |");
  for (size_t l = 0; l < libs.size(); ++l)
    std::printf(" lib%zu us | lib%zu GB/s (roofline) |", l, l);
  std::printf(" lib0/libN time | max rel diff |\n");
  for (const Case &c : cases) {
    const int64_t g = c.group ? c.group : c.K;
    Weight w0;
    w0.codes.resize(size_t(c.N * ((c.K * c.bits + 7) / 8)));
    for (uint8_t &b : w0.codes)
      b = uint8_t(byte(rng));
    w0.scales.resize(size_t(c.N * (c.K / g)));
    for (float &s : w0.scales)
      s = 0.01f + 0.01f * d(rng);
    if (c.asym) {
      w0.biases.resize(w0.scales.size());
      for (float &b : w0.biases)
        b = -0.08f * (1.0f + d(rng));
    }
    std::vector<Weight> copies{w0};
    while (!hot && copies.size() * w0.bytes() < 4 * llc)
      copies.push_back(w0);
    std::vector<float> x(size_t(c.K));
    for (float &v : x)
      v = d(rng);
    std::vector<std::vector<float>> y(fns.size(), std::vector<float>(size_t(c.N)));
    std::vector<std::vector<double>> t(fns.size());
    for (int r = 0; r < reps; ++r)
      for (size_t l = 0; l < fns.size(); ++l)
        t[l].push_back(medianTime(
            [&](int i) {
              const Weight &w = copies[size_t(i) % copies.size()];
              if (fns[l](1, c.N, c.K, x.data(), c.K, w.codes.data(),
                         w.scales.data(),
                         w.biases.empty() ? nullptr : w.biases.data(),
                         LQ_FORMAT_INT, c.bits, g, y[l].data(), c.N) != 0) {
                std::fprintf(stderr, "qgemv_ab: rejected\n");
                std::exit(1);
              }
            },
            minTime));
    const double mb = double(w0.bytes()) / 1e6;
    std::printf("| %lldx%lld | %s (%s) | %.2f |", (long long)c.N,
                (long long)c.K, c.what,
                c.bits == 4 ? (c.asym ? "int4 asym g128" : "int4 sym g128")
                            : (c.group ? "int8 g128" : "int8 per-channel"),
                mb);
    std::vector<double> med;
    for (size_t l = 0; l < fns.size(); ++l) {
      med.push_back(median(t[l]));
      const double gbps = double(w0.bytes()) / med.back() / 1e9;
      std::printf(" %.1f | %.2f (%.0f%%) |", med.back() * 1e6, gbps,
                  100 * gbps / bw);
    }
    double ymax = 0, dmax = 0;
    for (size_t l = 1; l < fns.size(); ++l)
      for (int64_t n = 0; n < c.N; ++n) {
        ymax = std::max(ymax, double(std::fabs(y[0][size_t(n)])));
        dmax = std::max(dmax, double(std::fabs(y[l][size_t(n)] - y[0][size_t(n)])));
      }
    std::printf(" %.2fx | %.1e |\n", med.front() / med.back(),
                ymax > 0 ? dmax / ymax : 0.0);
    std::fflush(stdout);
  }
  return 0;
}
