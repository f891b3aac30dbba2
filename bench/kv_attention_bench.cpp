//===- kv_attention_bench.cpp - Decode attention over f32 vs quantized caches -===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// One decode step's attention (T = 1 query, `pos` cached keys) of one layer,
// timed through lq_rt_attention_at_f32 (float cache) and
// lq_rt_attention_at_q (int8 / int4 / FP8 E4M3 codes, one f32 scale per head
// and token, the layout --quantize-kv-cache writes; NVFP4: E2M1 codes with
// an E4M3 scale per 16 channels, format=nvfp4; int4 KIVI keys: a scale per
// channel and 32 tokens, values per token), on the same machine in
// the same run. Caches are rotated over enough copies to exceed the L3 cache
// when one copy fits in it, so long contexts read DRAM as a whole model's
// layers would. Prints a markdown table: microseconds (median of 15
// interleaved rounds) and
// the speed-up over the float cache.
//
// usage: kv_attention_bench [Hq Hkv D] (default 8 4 32: pd-llama-6m)
//
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

int main(int argc, char **argv) {
  const int64_t Hq = argc > 3 ? std::atoll(argv[1]) : 8;
  const int64_t Hkv = argc > 3 ? std::atoll(argv[2]) : 4;
  const int64_t D = argc > 3 ? std::atoll(argv[3]) : 32;
  lq_rt_set_num_threads(1);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::printf("| context | f32 cache (us) | int8 (us) | int4 (us) | fp8 e4m3 (us) | int4 KIVI keys (us) | nvfp4 (us) | int8 vs f32 | int4 vs f32 | KIVI vs f32 | nvfp4 vs f32 |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int64_t S : {1024, 4096, 16384, 65536}) {
    const int64_t pos = S - 1;
    // Enough copies that the rotation spans > 64 MiB of float cache.
    const int64_t floatBytes = 2 * Hkv * S * D * 4;
    const int copies = int(std::max<int64_t>(1, (int64_t(64) << 20) / floatBytes + 1));
    std::vector<float> q(Hq * D), o(Hq * D);
    for (float &x : q)
      x = u(rng);
    std::vector<std::vector<float>> kf(copies), vf(copies);
    std::vector<std::vector<uint8_t>> c8(copies), c4(copies), cf8(copies);
    std::vector<std::vector<float>> sc(copies);
    std::vector<std::vector<uint8_t>> sc8(copies); // E4M3 scales per 16
    for (int c = 0; c < copies; ++c) {
      kf[c].resize(Hkv * S * D);
      vf[c].resize(Hkv * S * D);
      for (float &x : kf[c]) x = u(rng);
      for (float &x : vf[c]) x = u(rng);
      c8[c].resize(2 * Hkv * S * D);
      cf8[c].resize(2 * Hkv * S * D);
      c4[c].resize(Hkv * S * D);
      for (auto &x : c8[c]) x = uint8_t(byte(rng) % 255); // no -128
      for (auto &x : c4[c]) x = uint8_t(byte(rng));
      for (auto &x : cf8[c]) x = uint8_t(byte(rng) & 0x77); // finite E4M3
      sc[c].assign(2 * Hkv * S + Hkv * S * D / 32, 0.01f); // + KIVI key scales
      sc8[c].assign(2 * Hkv * S * (D / 16), uint8_t(0x20)); // E4M3 2^-3
    }
    lq_rt_view4_t qv{q.data(), {1, Hq, 1, D}, {Hq * D, D, D, 1}};
    lq_rt_view4_t ov{o.data(), {1, Hq, 1, D}, {Hq * D, D, D, 1}};
    auto fview = [&](float *p) {
      return lq_rt_view4_t{p, {1, Hkv, S, D}, {Hkv * S * D, S * D, D, 1}};
    };
    auto qview = [&](const uint8_t *codes, const float *scales, int bits, int fmt) {
      lq_rt_qview4_t x{}; // f32 scales (scale_type 0)
      const int64_t rb = bits == 4 ? D / 2 : D;
      const int64_t sz[4] = {1, Hkv, S, D}, st[4] = {Hkv * S * rb, S * rb, rb, 1};
      const int64_t ss[4] = {1, Hkv, S, 1}, sst[4] = {Hkv * S, S, 1, 1};
      for (int i = 0; i < 4; ++i) {
        x.sizes[i] = sz[i];
        x.strides[i] = st[i];
        x.scale_sizes[i] = ss[i];
        x.scale_strides[i] = sst[i];
      }
      x.codes = codes;
      x.scales = scales;
      x.bits = bits;
      x.format = fmt;
      return x;
    };
    auto nvview = [&](const uint8_t *codes, const uint8_t *scales) {
      lq_rt_qview4_t x = qview(codes, nullptr, 4, LQ_FORMAT_NVFP4);
      const int64_t ss[4] = {1, Hkv, S, D / 16}, sst[4] = {Hkv * S * (D / 16), S * (D / 16), D / 16, 1};
      for (int i = 0; i < 4; ++i) {
        x.scale_sizes[i] = ss[i];
        x.scale_strides[i] = sst[i];
      }
      x.scales = scales;
      x.scale_type = LQ_RT_SCALE_E4M3;
      x.global_scale = 1.0f;
      return x;
    };
    const float scale = 0.17f;
    auto quant = [&](std::vector<std::vector<uint8_t>> &codes, int bits, int fmt) {
      return [&, bits, fmt](int c) {
        const int64_t half = Hkv * S * (bits == 4 ? D / 2 : D);
        auto k = qview(codes[c].data(), sc[c].data(), bits, fmt);
        auto v = qview(codes[c].data() + half, sc[c].data() + Hkv * S, bits, fmt);
        if (lq_rt_attention_at_q(&qv, &k, &v, &ov, scale, 1, pos) != 0)
          std::abort();
      };
    };
    std::vector<std::function<void(int)>> variants = {
        [&](int c) {
          auto k = fview(kf[c].data()), v = fview(vf[c].data());
          lq_rt_attention_at_f32(&qv, &k, &v, &ov, scale, 1, pos);
        },
        quant(c8, 8, LQ_FORMAT_INT), quant(c4, 4, LQ_FORMAT_INT),
        quant(cf8, 8, LQ_FORMAT_FP8_E4M3),
        [&](int c) { // KIVI: int4 keys with a scale per channel and 32 tokens
          const int64_t half = Hkv * S * D / 2;
          auto k = qview(c4[c].data(), sc[c].data(), 4, LQ_FORMAT_INT);
          const int64_t ss[4] = {1, Hkv, S / 32, D},
                        sst[4] = {Hkv * (S / 32) * D, (S / 32) * D, D, 1};
          for (int i = 0; i < 4; ++i) {
            k.scale_sizes[i] = ss[i];
            k.scale_strides[i] = sst[i];
          }
          auto v = qview(c4[c].data() + half, sc[c].data() + Hkv * S, 4, LQ_FORMAT_INT);
          if (lq_rt_attention_at_q(&qv, &k, &v, &ov, scale, 1, pos) != 0)
            std::abort();
        },
        [&](int c) {
          const int64_t half = Hkv * S * D / 2;
          auto k = nvview(c4[c].data(), sc8[c].data());
          auto v = nvview(c4[c].data() + half, sc8[c].data() + Hkv * S * (D / 16));
          if (lq_rt_attention_at_q(&qv, &k, &v, &ov, scale, 1, pos) != 0)
            std::abort();
        }};
    // Rounds run every variant in turn, so load from other processes hits
    // them alike; medians over 15 rounds.
    std::vector<std::vector<double>> t(variants.size());
    for (int rep = 0; rep < 15; ++rep)
      for (size_t i = 0; i < variants.size(); ++i) {
        auto t0 = std::chrono::steady_clock::now();
        for (int c = 0; c < copies; ++c)
          variants[i](c);
        t[i].push_back(std::chrono::duration<double, std::micro>(
                           std::chrono::steady_clock::now() - t0).count() / copies);
      }
    auto median = [&](size_t i) {
      std::sort(t[i].begin(), t[i].end());
      return t[i][t[i].size() / 2];
    };
    double f32 = median(0), i8 = median(1), i4 = median(2), f8 = median(3),
           kivi = median(4), n4 = median(5);
    std::printf("| %lld | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2fx | %.2fx | %.2fx |\n",
                (long long)S, f32, i8, i4, f8, kivi, n4, f32 / i8, f32 / i4,
                f32 / kivi, f32 / n4);
    std::fflush(stdout);
  }
  return 0;
}
