//===- gemv_bench.cpp - f32 vs quantized GEMV against the roofline -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Decode-step linears (M = 1) are bound by reading the weight, so each is
// reported as weight bytes / time and as a fraction of the read bandwidth a
// STREAM-like sum kernel measures in the same run (the roofline). Weights
// rotate through copies totalling >= 4x the last-level cache, so every call
// streams from DRAM as a real model's layers do. A prefill row (M = 64)
// checks the quantized prefill path (decoded weight tiles dotted with the
// activation rows) against the f32 SGEMM. "f32 packed" is the
// layout compiled models use for constant weights (lq_rt_sgemm_packed).
//
//   gemv_bench [--json FILE] [--quick] [--only NAME,...] [--qgemv-f32] [--no-i16]
//
// --only: just the variants whose names contain one of the comma-separated
// strings (e.g. --only "f32 packed,bf16"). --qgemv-f32: the 4-bit decode
// GEMV's f32 kernel, not vdpbf16ps; --no-i16: the integer decode GEMVs
// on f32 activations, not the int16-activation kernel (lq_rt_qgemv_i16).
//
// Threads: $LQ_NUM_THREADS (the bandwidth kernel uses as many). Built and
// run by bench/run_gemv_bench.sh.
//
//===----------------------------------------------------------------------===//

#include <lq_rt/formats.h>
#include <lq_rt/kernels.h>

#include "read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// Runs fn(i) for i = 0, 1, ... until `minTime` has passed (at least
/// `minIters` calls) and returns the median seconds per call (the machine
/// is shared: the median is the typical call, kernels and bandwidth alike).
template <typename F>
double timeIt(const F &fn, double minTime, int minIters) {
  std::vector<double> t;
  auto start = Clock::now();
  for (int i = 0; i < 2; ++i) // warm-up
    fn(i);
  for (int i = 0; int(t.size()) < minIters || seconds(start, Clock::now()) < minTime; ++i) {
    auto a = Clock::now();
    fn(i);
    t.push_back(seconds(a, Clock::now()));
    if (t.size() > 2000)
      break;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Variant {
  const char *name;
  int32_t format, bits;
  bool asym;
  int64_t group; // 0: per channel
};

const Variant kVariants[] = {
    {"f32", -1, 32, false, 0},
    // The layout compiled models use for constant f32 weights (packed at
    // compile time into 16-column panels; lq_rt_sgemm_packed).
    {"f32 packed", -2, 32, false, 0},
    {"int8 sym g128", LQ_FORMAT_INT, 8, false, 128},
    {"int8 sym per-channel", LQ_FORMAT_INT, 8, false, 0},
    // W8A8: int8 activation codes x int8 per-channel weights, int32 sums
    // (lq_rt_gemm_w8a8 on the compile-time packed layout; x is already
    // quantized, as lq.quantize leaves it in a compiled model).
    {"int8 x int8 (w8a8)", -3, 8, false, 0},
    // W4A8: int8 activation codes x int4 sym weights in groups of 128, int32
    // sums per group (lq_rt_gemm_w4a8; scales inside the packed panels).
    {"int8 x int4 g128 (w4a8)", -4, 4, false, 128},
    {"int4 asym g128", LQ_FORMAT_INT, 4, true, 128},
    {"int4 sym g32", LQ_FORMAT_INT, 4, false, 32},
    {"nf4 g64", LQ_FORMAT_NF4, 4, false, 64},
    // bfloat16 weights (lq_rt_gemm_bf16 on the compile-time packed layout):
    // decode widens them to f32 exactly, M >= 8 runs vdpbf16ps where the
    // CPU has AVX-512 BF16.
    {"bf16", -5, 16, false, 0},
};

/// One copy of a weight in lq_rt_qgemm_nt's layout (or f32).
struct Weight {
  std::vector<float> f32;
  std::vector<uint8_t> codes;
  std::vector<float> scales, biases;
  size_t bytes() const {
    return f32.size() * 4 + codes.size() + (scales.size() + biases.size()) * 4;
  }
};

Weight makeWeight(const Variant &v, int64_t N, int64_t K, std::mt19937 &rng) {
  Weight w;
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  if (v.format == -3) {
    std::vector<int8_t> codes(size_t(N * K));
    for (int8_t &c : codes)
      c = int8_t(byte(rng) - 128);
    w.codes.resize(size_t(lq_rt_packed_w8a8_size(N, K)));
    lq_rt_pack_w8a8(codes.data(), N, K,
                    reinterpret_cast<int8_t *>(w.codes.data()));
    w.scales.resize(size_t(N));
    for (float &s : w.scales)
      s = 0.01f + 0.01f * d(rng);
    return w;
  }
  if (v.format == -5) {
    std::vector<uint16_t> codes(size_t(N * K));
    for (uint16_t &c : codes)
      c = lq_bf16_from_f32(d(rng));
    w.codes.resize(size_t(lq_rt_packed_bf16_size(N, K)));
    lq_rt_pack_bf16(codes.data(), N, K,
                    reinterpret_cast<uint16_t *>(w.codes.data()));
    return w;
  }
  if (v.format == -4) {
    std::vector<int8_t> codes(size_t(N * K));
    for (int8_t &c : codes)
      c = int8_t(byte(rng) % 16 - 8);
    std::vector<float> scales(size_t(N * (K / v.group)));
    for (float &s : scales)
      s = 0.01f + 0.01f * d(rng);
    w.codes.resize(size_t(lq_rt_packed_w4a8_size(N, K, v.group, 0)));
    if (lq_rt_pack_w4a8(codes.data(), scales.data(), nullptr, N, K, v.group,
                        reinterpret_cast<int8_t *>(w.codes.data())) != 0) {
      std::fprintf(stderr, "pack_w4a8 rejected %s\n", v.name);
      std::exit(1);
    }
    return w; // bytes(): the packed panels, scales included
  }
  if (v.format < 0) {
    w.f32.resize(size_t(N * K));
    for (float &x : w.f32)
      x = d(rng);
    if (v.format == -2) {
      std::vector<float> packed(size_t(lq_rt_packed_f32_size(N, K)));
      lq_rt_pack_f32_panels(w.f32.data(), N, K, packed.data());
      w.f32 = std::move(packed);
    }
    return w;
  }
  const int64_t g = v.group ? v.group : K;
  w.codes.resize(size_t(N) * lq_packed_size(size_t(K), unsigned(v.bits)));
  for (uint8_t &c : w.codes)
    c = uint8_t(byte(rng));
  w.scales.resize(size_t(N * (K / g)));
  for (float &s : w.scales)
    s = 0.01f + 0.01f * d(rng);
  if (v.asym) {
    w.biases.resize(w.scales.size());
    for (float &b : w.biases)
      b = -0.08f * (1.0f + d(rng));
  }
  return w;
}

struct Row {
  std::string shape, variant;
  int64_t M, N, K;
  double seconds, weightBytes, gbps, roofline, gflops;
};

} // namespace

int main(int argc, char **argv) {
  const char *jsonPath = nullptr;
  bool quick = false, f32Gemv = false, noI16 = false;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc)
      jsonPath = argv[++i];
    else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
    else if (!std::strcmp(argv[i], "--qgemv-f32"))
      f32Gemv = true; // the 4-bit decode GEMV's f32 kernel, not vdpbf16ps
    else if (!std::strcmp(argv[i], "--no-i16"))
      noI16 = true;
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
      std::string list = argv[++i];
      for (size_t a = 0, b; a <= list.size(); a = b + 1) {
        b = list.find(',', a);
        if (b == std::string::npos)
          b = list.size();
        if (b > a)
          only.push_back(list.substr(a, b - a));
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--json FILE] [--quick] [--only NAME,...] [--qgemv-f32] [--no-i16]\n",
                   argv[0]);
      return 2;
    }
  }
  const double minTime = quick ? 0.1 : 0.5;
  const int threads = lq_rt_get_num_threads();
  const double bw = lq_bench::readBandwidthGBs(threads, minTime);
  const bool dp = !f32Gemv && lq_rt_qgemv_dpbf16(1);
  if (!dp)
    lq_rt_qgemv_dpbf16(0);
  const bool i16 = !noI16 && lq_rt_qgemv_i16(1);
  if (!i16)
    lq_rt_qgemv_i16(0);
  std::printf("isa %s (w8a8: %s, bf16: %s decode / %s M=64, 4-bit decode GEMV: %s, "
              "integer decode GEMV: %s), %d thread(s), read bandwidth %.2f GB/s\n",
              lq_rt_isa(), lq_rt_w8a8_isa(), lq_rt_bf16_isa(1),
              lq_rt_bf16_isa(64), dp ? "vdpbf16ps" : "f32",
              i16 ? "int16 activations" : "f32 activations", threads, bw);

  const int64_t shapes[][3] = {{1, 4096, 4096}, {1, 4096, 11008},
                               {1, 768, 256},   {64, 4096, 4096}};
  const size_t llc = size_t(32) << 20; // rotate through >= 4x a 32 MiB L3
  std::mt19937 rng(7);
  std::vector<Row> rows;
  for (auto &s : shapes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    std::vector<float> x(size_t(M * K)), y(size_t(M * N));
    for (float &v : x)
      v = float(rng() % 1000) * 1e-3f - 0.5f;
    std::vector<int8_t> xq(size_t(M * K));
    for (int8_t &v : xq)
      v = int8_t(int(rng() % 255) - 127);
    std::vector<float> sx(size_t(M), 0.004f);
    for (const Variant &v : kVariants) {
      if (!only.empty() &&
          std::none_of(only.begin(), only.end(), [&](const std::string &o) {
            return std::strstr(v.name, o.c_str()) != nullptr;
          }))
        continue;
      if (M > 1 && v.format >= 0 &&
          (v.group == 0 || !std::strcmp(v.name, "int4 sym g32")))
        continue; // prefill: one int8, one int4, NF4
      std::vector<Weight> copies;
      copies.push_back(makeWeight(v, N, K, rng));
      const size_t bytes = copies[0].bytes();
      // Small weights stay cache-resident in a real decode step only if the
      // model is tiny; rotate anyway, so numbers are DRAM numbers.
      while (copies.size() * bytes < 4 * llc) {
        Weight c = copies.back();
        copies.push_back(std::move(c));
      }
      auto call = [&](int i) {
        const Weight &w = copies[size_t(i) % copies.size()];
        if (v.format == -5) {
          if (lq_rt_gemm_bf16(M, N, K, x.data(), K,
                              reinterpret_cast<const uint16_t *>(w.codes.data()),
                              nullptr, y.data(), N) != 0) {
            std::fprintf(stderr, "gemm_bf16 rejected %s\n", v.name);
            std::exit(1);
          }
        } else if (v.format == -4) {
          if (lq_rt_gemm_w4a8(M, N, K, xq.data(), K, sx.data(), 1,
                              reinterpret_cast<const int8_t *>(w.codes.data()),
                              v.group, 0, nullptr, y.data(), N) != 0) {
            std::fprintf(stderr, "gemm_w4a8 rejected %s\n", v.name);
            std::exit(1);
          }
        } else if (v.format == -3) {
          if (lq_rt_gemm_w8a8(M, N, K, xq.data(), K, sx.data(), 1,
                              reinterpret_cast<const int8_t *>(w.codes.data()),
                              w.scales.data(), nullptr, y.data(), N) != 0) {
            std::fprintf(stderr, "gemm_w8a8 rejected %s\n", v.name);
            std::exit(1);
          }
        } else if (v.format == -2)
          lq_rt_sgemm_packed(M, N, K, x.data(), K, w.f32.data(), y.data(), N);
        else if (v.format < 0)
          lq_rt_sgemm_nt(M, N, K, x.data(), K, w.f32.data(), K, y.data(), N);
        else if (lq_rt_qgemm_nt(M, N, K, x.data(), K, w.codes.data(),
                                w.scales.data(),
                                w.biases.empty() ? nullptr : w.biases.data(),
                                v.format, v.bits, v.group ? v.group : K,
                                y.data(), N) != 0) {
          std::fprintf(stderr, "qgemm rejected %s\n", v.name);
          std::exit(1);
        }
      };
      double t = timeIt(call, minTime, M > 1 ? 5 : 20);
      Row r;
      r.shape = std::to_string(N) + "x" + std::to_string(K);
      r.variant = v.name;
      r.M = M;
      r.N = N;
      r.K = K;
      r.seconds = t;
      r.weightBytes = double(bytes);
      r.gbps = double(bytes) / t / 1e9;
      r.roofline = r.gbps / bw;
      r.gflops = 2.0 * M * N * K / t / 1e9;
      rows.push_back(r);
      std::printf("M=%-3lld %-10s %-22s %9.1f us %8.2f GB/s %6.0f%% of read BW "
                  "%7.1f GFLOP/s\n",
                  (long long)M, r.shape.c_str(), v.name, t * 1e6, r.gbps,
                  100 * r.roofline, r.gflops);
    }
  }

  if (jsonPath) {
    FILE *f = std::fopen(jsonPath, "w");
    if (!f) {
      std::perror(jsonPath);
      return 1;
    }
    std::fprintf(f, "{\n  \"isa\": \"%s\",\n  \"w8a8_isa\": \"%s\",\n"
                    "  \"qgemv4\": \"%s\",\n  \"qgemv_int\": \"%s\",\n"
                    "  \"threads\": %d,\n"
                    "  \"read_bandwidth_gbps\": %.3f,\n  \"rows\": [\n",
                 lq_rt_isa(), lq_rt_w8a8_isa(), dp ? "vdpbf16ps" : "f32",
                 i16 ? "int16" : "f32", threads, bw);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row &r = rows[i];
      std::fprintf(f,
                   "    {\"M\": %lld, \"N\": %lld, \"K\": %lld, \"variant\": "
                   "\"%s\", \"seconds\": %.9g, \"weight_bytes\": %.0f, "
                   "\"gbps\": %.3f, \"roofline_fraction\": %.4f, \"gflops\": "
                   "%.3f}%s\n",
                   (long long)r.M, (long long)r.N, (long long)r.K,
                   r.variant.c_str(), r.seconds, r.weightBytes, r.gbps,
                   r.roofline, r.gflops, i + 1 < rows.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
  }
  return 0;
}
