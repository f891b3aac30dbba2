//===- kv_attention_test.cpp - Attention over a quantized KV cache -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_rt_attention_at_q against a float64 reference that decodes the same
// codes: int8 / int4 (packed) / FP8 E4M3 / E5M2 / NVFP4 (packed E2M1 with
// E4M3 block scales of 16 and a tensor scale), per-token groups (whole
// chunks and groups smaller than a chunk) and per-channel scales, scales
// stored as f32, f16 or E4M3, GQA, chunks of several queries at a position.
// Rows at or after position + T hold NaN scales and garbage codes, to prove
// the kernel never reads them. KIVI's per-channel key groups (scales per
// channel and group of R tokens) beside per-token values, through the
// windowed entry point.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <xmmintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace {

class PerIsaQ : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!lq_rt_force_isa(GetParam()))
      GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }
  void TearDown() override { lq_rt_force_isa(nullptr); }
};

/// A quantized [B, H, S, D] tensor, its codes and scales, and the float64
/// values those codes decode to.
struct QTensor {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<uint8_t> scaleBytes; // f16 / E4M3 storage of the scales
  std::vector<double> decoded;
  lq_rt_qview4_t view;
};

double decodeCode(int32_t format, int32_t bits, int code) {
  if (format == LQ_FORMAT_FP8_E4M3)
    return lq_fp8_e4m3fn_to_f32(uint8_t(code));
  if (format == LQ_FORMAT_FP8_E5M2)
    return lq_fp8_e5m2_to_f32(uint8_t(code));
  if (format == LQ_FORMAT_NVFP4)
    return lq_fp4_e2m1_to_f32(uint8_t(code));
  return bits == 4 ? double(int8_t(uint8_t(code) << 4) >> 4) : double(int8_t(code));
}

/// A scale as stored (f16 bits or an E4M3 byte) and the value read back.
double storeScale(float sc, int32_t scaleType, uint8_t *dst) {
  if (scaleType == LQ_RT_SCALE_F16) {
    _Float16 h = static_cast<_Float16>(sc);
    std::memcpy(dst, &h, 2);
    return double(static_cast<float>(h));
  }
  if (scaleType == LQ_RT_SCALE_E4M3) {
    *dst = std::isnan(sc) ? uint8_t(0x7F) : lq_fp8_e4m3fn_from_f32(sc);
    return lq_fp8_e4m3fn_to_f32(*dst);
  }
  return sc;
}

/// Quantizes random values with one scale per (gs tokens, gd channels);
/// rows s >= written get NaN scales and random codes. NVFP4 block scales
/// are E4M3(amax / 6 / global) times `global`.
QTensor makeQ(int64_t B, int64_t H, int64_t S, int64_t D, int64_t gs,
              int64_t gd, int32_t format, int32_t bits, int64_t written,
              std::mt19937 &rng, int32_t scaleType = LQ_RT_SCALE_F32,
              float global = 1.0f) {
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  const int64_t rowBytes = bits == 4 ? D / 2 : D;
  const int64_t sS = S / gs, sD = D / gd;
  QTensor q;
  q.codes.assign(size_t(B * H * S * rowBytes), 0);
  q.scales.assign(size_t(B * H * sS * sD), 0.0f);
  const int64_t scaleBytes = scaleType == LQ_RT_SCALE_F16 ? 2 : 1;
  q.scaleBytes.assign(size_t(B * H * sS * sD * scaleBytes), 0);
  const bool nvfp4 = format == LQ_FORMAT_NVFP4;
  if (!nvfp4)
    global = 1.0f;
  q.decoded.assign(size_t(B * H * S * D), 0.0);
  std::vector<float> x(size_t(B * H * S * D));
  for (float &v : x)
    v = u(rng);
  const float qmax = format == LQ_FORMAT_FP8_E4M3   ? 448.0f
                     : format == LQ_FORMAT_FP8_E5M2 ? 57344.0f
                     : nvfp4                        ? 6.0f
                     : bits == 4                    ? 7.0f
                                                    : 127.0f;
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t bs = 0; bs < sS; ++bs)
      for (int64_t bd = 0; bd < sD; ++bd) {
        float amax = 0;
        for (int64_t s = bs * gs; s < (bs + 1) * gs; ++s)
          for (int64_t d = bd * gd; d < (bd + 1) * gd; ++d)
            amax = std::max(amax, std::fabs(x[size_t((bh * S + s) * D + d)]));
        bool unwritten = bs * gs >= written;
        const size_t si = size_t((bh * sS + bs) * sD + bd);
        float sc = amax / qmax / global;
        q.scales[si] = unwritten ? NAN : sc;
        // The scale the kernel reads: rounded to its storage, times global.
        if (scaleType != LQ_RT_SCALE_F32)
          sc = float(storeScale(unwritten ? NAN : sc, scaleType,
                                q.scaleBytes.data() + si * size_t(scaleBytes)));
        sc *= global;
        for (int64_t s = bs * gs; s < (bs + 1) * gs; ++s)
          for (int64_t d = bd * gd; d < (bd + 1) * gd; ++d) {
            float v = x[size_t((bh * S + s) * D + d)] / sc;
            int code;
            if (nvfp4)
              code = lq_fp4_e2m1_from_f32(sc > 0 ? v : 0.0f);
            else if (format == LQ_FORMAT_FP8_E4M3)
              code = lq_fp8_e4m3fn_from_f32(v);
            else if (format == LQ_FORMAT_FP8_E5M2)
              code = lq_fp8_e5m2_from_f32(v);
            else
              code = int(std::nearbyint(std::clamp(v, -qmax, qmax))) & (bits == 4 ? 0xF : 0xFF);
            if (s >= written)
              code = byte(rng) & (bits == 4 ? 0xF : 0xFF);
            uint8_t &dst = q.codes[size_t((bh * S + s) * rowBytes + (bits == 4 ? d / 2 : d))];
            if (bits == 4)
              dst |= uint8_t(code << (d % 2 ? 4 : 0));
            else
              dst = uint8_t(code);
            q.decoded[size_t((bh * S + s) * D + d)] = decodeCode(format, bits, code) * sc;
          }
      }
  q.view.codes = q.codes.data();
  q.view.scales = scaleType == LQ_RT_SCALE_F32
                      ? static_cast<const void *>(q.scales.data())
                      : static_cast<const void *>(q.scaleBytes.data());
  q.view.scale_type = scaleType;
  q.view.global_scale = global;
  const int64_t sizes[4] = {B, H, S, D};
  const int64_t strides[4] = {H * S * rowBytes, S * rowBytes, rowBytes, 1};
  const int64_t ssizes[4] = {B, H, sS, sD};
  const int64_t sstrides[4] = {H * sS * sD, sS * sD, sD, 1};
  for (int i = 0; i < 4; ++i) {
    q.view.sizes[i] = sizes[i];
    q.view.strides[i] = strides[i];
    q.view.scale_sizes[i] = ssizes[i];
    q.view.scale_strides[i] = sstrides[i];
  }
  q.view.format = format;
  q.view.bits = bits;
  return q;
}

/// Checks `o` [B, Hq, T, D] against float64 attention of `q` over the keys
/// and values kAt / vAt(b, kv head, s, d) give, query t of GQA head h seeing
/// keys [0, visible(t)).
template <typename Visible, typename KAt, typename VAt>
void expectAttention(const std::vector<float> &q, const std::vector<float> &o,
                     int64_t B, int64_t Hq, int64_t Hkv, int64_t T, int64_t D,
                     float scale, Visible visible, KAt kAt, VAt vAt) {
  const int64_t group = Hq / Hkv;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t hk = h / group, n = visible(t);
        const float *qt = q.data() + ((b * Hq + h) * T + t) * D;
        std::vector<double> p(static_cast<size_t>(std::max<int64_t>(n, 0)));
        double mx = -INFINITY, sum = 0;
        for (int64_t s = 0; s < n; ++s) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += double(qt[d]) * kAt(b, hk, s, d);
          p[size_t(s)] = dot * scale;
          mx = std::max(mx, p[size_t(s)]);
        }
        for (double &x : p)
          sum += (x = std::exp(x - mx));
        for (int64_t e = 0; e < D; ++e) {
          double ref = 0;
          for (int64_t s = 0; s < n; ++s)
            ref += p[size_t(s)] / sum * vAt(b, hk, s, e);
          ASSERT_NEAR(o[size_t(((b * Hq + h) * T + t) * D + e)], ref,
                      2e-5 * (1 + std::fabs(ref)))
              << "b=" << b << " h=" << h << " t=" << t << " e=" << e;
        }
      }
}

TEST_P(PerIsaQ, QuantizedCacheAttentionMatchesFloat64Reference) {
  std::mt19937 rng(11);
  struct Case {
    int64_t B, Hq, Hkv, T, S, D, gs, gd;
    int32_t format, bits;
    int causal;
    int64_t pos;
    int32_t scaleType = LQ_RT_SCALE_F32;
    float global = 1.0f;
  };
  const Case cases[] = {
      {1, 8, 4, 1, 64, 32, 1, 32, LQ_FORMAT_INT, 8, 1, 37},
      {1, 8, 4, 1, 64, 32, 1, 32, LQ_FORMAT_INT, 4, 1, 0},
      {1, 8, 4, 1, 64, 32, 1, 16, LQ_FORMAT_INT, 4, 1, 63},
      {2, 4, 2, 5, 19, 16, 1, 8, LQ_FORMAT_INT, 8, 1, 3},
      {1, 4, 2, 3, 17, 8, 1, 8, LQ_FORMAT_FP8_E4M3, 8, 0, 6},
      {1, 6, 2, 4, 33, 12, 1, 4, LQ_FORMAT_FP8_E5M2, 8, 1, 20},
      {1, 2, 1, 2, 9, 10, 1, 10, LQ_FORMAT_INT, 4, 1, 7},
      // The chunked fast path (per-token scales in whole 32-code chunks):
      // several chunks, several groups, GQA groups of 4, query chunks.
      {1, 8, 2, 3, 40, 64, 1, 32, LQ_FORMAT_INT, 4, 1, 20},
      {2, 4, 4, 1, 33, 64, 1, 64, LQ_FORMAT_INT, 8, 1, 32},
      {1, 8, 2, 2, 17, 64, 1, 32, LQ_FORMAT_FP8_E4M3, 8, 1, 9},
      {1, 4, 1, 5, 21, 96, 1, 32, LQ_FORMAT_FP8_E5M2, 8, 0, 11},
      {1, 2, 2, 4, 12, 32, 1, 32, LQ_FORMAT_INT, 4, 0, 3},
      // Per-channel scales (one per head and channel over all tokens).
      {1, 4, 2, 1, 40, 32, 40, 1, LQ_FORMAT_INT, 8, 1, 39},
      {1, 4, 4, 4, 24, 16, 24, 1, LQ_FORMAT_INT, 4, 1, 10},
      // Groups smaller than a chunk on the fast path (scaled per element).
      {1, 8, 2, 2, 30, 32, 1, 8, LQ_FORMAT_INT, 4, 1, 11},
      {1, 4, 2, 1, 25, 64, 1, 4, LQ_FORMAT_FP8_E4M3, 8, 1, 24},
      // NVFP4: E2M1 codes, E4M3 scales per 16 channels, a tensor scale;
      // fast path (D % 32 == 0), rows (D = 16, 48), f32 block scales.
      {1, 8, 4, 1, 64, 32, 1, 16, LQ_FORMAT_NVFP4, 4, 1, 37, LQ_RT_SCALE_E4M3},
      {2, 8, 2, 3, 40, 64, 1, 16, LQ_FORMAT_NVFP4, 4, 1, 20, LQ_RT_SCALE_E4M3, 0.37f},
      {1, 4, 2, 2, 19, 16, 1, 16, LQ_FORMAT_NVFP4, 4, 0, 9, LQ_RT_SCALE_E4M3},
      {1, 6, 2, 4, 33, 48, 1, 16, LQ_FORMAT_NVFP4, 4, 1, 20, LQ_RT_SCALE_E4M3, 2.5f},
      {1, 4, 2, 1, 21, 32, 1, 16, LQ_FORMAT_NVFP4, 4, 1, 20},
      // f16 scales: int8 / int4 / FP8 codes, fast path and rows.
      {1, 8, 2, 1, 40, 64, 1, 64, LQ_FORMAT_INT, 8, 1, 39, LQ_RT_SCALE_F16},
      {1, 4, 2, 3, 17, 32, 1, 16, LQ_FORMAT_INT, 4, 1, 5, LQ_RT_SCALE_F16},
      {1, 4, 1, 2, 13, 10, 1, 10, LQ_FORMAT_INT, 4, 1, 4, LQ_RT_SCALE_F16},
      {1, 6, 2, 1, 20, 32, 1, 32, LQ_FORMAT_FP8_E5M2, 8, 1, 19, LQ_RT_SCALE_F16},
      // Long contexts: the templated decode path (blocks of keys reduced
      // together, four values per pass) plus its tails; 1-8 query rows per
      // KV head, several chunks with a scale each, causal chunks of 2.
      {1, 8, 4, 1, 150, 32, 1, 32, LQ_FORMAT_INT, 4, 1, 149},
      {1, 6, 2, 1, 77, 32, 1, 32, LQ_FORMAT_INT, 4, 1, 76},
      {1, 16, 4, 1, 99, 64, 1, 32, LQ_FORMAT_INT, 8, 1, 98},
      {1, 8, 2, 2, 70, 128, 1, 64, LQ_FORMAT_FP8_E4M3, 8, 1, 60},
      {1, 4, 4, 1, 100, 32, 1, 32, LQ_FORMAT_INT, 4, 1, 99, LQ_RT_SCALE_F16},
      {2, 8, 4, 1, 96, 32, 32, 1, LQ_FORMAT_INT, 4, 1, 95}, // KIVI keys
      {1, 8, 4, 1, 70, 32, 1, 32, LQ_FORMAT_INT, 8, 0, 69},
      {1, 10, 2, 1, 70, 32, 1, 32, LQ_FORMAT_INT, 4, 1, 69}, // 5 rows
      {1, 12, 2, 1, 66, 32, 1, 32, LQ_FORMAT_INT, 8, 1, 65}, // 6 rows
      {1, 7, 1, 1, 50, 64, 1, 32, LQ_FORMAT_FP8_E5M2, 8, 1, 49}, // 7 rows
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(::testing::Message() << "format " << c.format << " bits " << c.bits
                                      << " T=" << c.T << " S=" << c.S << " pos=" << c.pos
                                      << " gs=" << c.gs << " gd=" << c.gd
                                      << " D=" << c.D << " scale type " << c.scaleType);
    // Per-channel scales span all rows, so poison no rows through them.
    const int64_t written = c.gs == 1 ? c.pos + c.T : c.S;
    QTensor k = makeQ(c.B, c.Hkv, c.S, c.D, c.gs, c.gd, c.format, c.bits,
                      written, rng, c.scaleType, c.global);
    QTensor v = makeQ(c.B, c.Hkv, c.S, c.D, c.gs, c.gd, c.format, c.bits,
                      written, rng, c.scaleType, c.global);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> q(size_t(c.B * c.Hq * c.T * c.D)), o(size_t(c.B * c.Hq * c.T * c.D), -9.0f);
    for (float &x : q)
      x = u(rng);
    lq_rt_view4_t qv{q.data(), {c.B, c.Hq, c.T, c.D},
                     {c.Hq * c.T * c.D, c.T * c.D, c.D, 1}};
    lq_rt_view4_t ov{o.data(), {c.B, c.Hq, c.T, c.D},
                     {c.Hq * c.T * c.D, c.T * c.D, c.D, 1}};
    const float scale = 1.0f / std::sqrt(float(c.D));
    ASSERT_EQ(lq_rt_attention_at_q(&qv, &k.view, &v.view, &ov, scale, c.causal, c.pos), 0);
    auto at = [&](const QTensor &x) {
      return [&x, &c](int64_t b, int64_t hk, int64_t s, int64_t d) {
        return x.decoded[size_t(((b * c.Hkv + hk) * c.S + s) * c.D + d)];
      };
    };
    expectAttention(q, o, c.B, c.Hq, c.Hkv, c.T, c.D, scale,
                    [&](int64_t t) {
                      return std::min(c.S, c.causal ? c.pos + t + 1 : c.pos + c.T);
                    },
                    at(k), at(v));
  }
}

// KIVI's float window: positions [end - R, end) read from f32 rings (slot
// s mod R), the rest decoded; fast path and row path, T = 1 and chunks, a
// ring larger than what is written, R = 1.
TEST_P(PerIsaQ, WindowedCacheAttentionMatchesFloat64Reference) {
  std::mt19937 rng(23);
  struct Case {
    int64_t B, Hq, Hkv, T, S, D, gd, R;
    int32_t format, bits;
    int64_t pos;
  };
  const Case cases[] = {
      {1, 8, 2, 1, 64, 64, 32, 16, LQ_FORMAT_INT, 4, 40},   // fast path, int4
      {1, 4, 2, 3, 40, 32, 32, 8, LQ_FORMAT_INT, 8, 20},    // chunk of 3
      {2, 4, 4, 1, 20, 32, 16, 32, LQ_FORMAT_NVFP4, 4, 5},  // R > written
      {1, 4, 2, 2, 17, 10, 10, 5, LQ_FORMAT_INT, 4, 9},     // row path
      {1, 6, 2, 1, 33, 64, 64, 1, LQ_FORMAT_FP8_E4M3, 8, 31}, // R = 1
      {1, 8, 4, 1, 120, 32, 32, 32, LQ_FORMAT_INT, 4, 100}, // long: fast, then ring
      {1, 8, 4, 2, 90, 32, 32, 8, LQ_FORMAT_INT, 8, 80},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(::testing::Message() << "format " << c.format << " D=" << c.D
                                      << " T=" << c.T << " R=" << c.R
                                      << " pos=" << c.pos);
    const int32_t st = c.format == LQ_FORMAT_NVFP4 ? LQ_RT_SCALE_E4M3
                                                   : LQ_RT_SCALE_F32;
    const int64_t end = c.pos + c.T;
    QTensor k = makeQ(c.B, c.Hkv, c.S, c.D, 1, c.gd, c.format, c.bits, end, rng, st);
    QTensor v = makeQ(c.B, c.Hkv, c.S, c.D, 1, c.gd, c.format, c.bits, end, rng, st);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> kr(size_t(c.B * c.Hkv * c.R * c.D)), vr(kr.size());
    for (float &x : kr)
      x = 3 * u(rng); // far from the decoded values: a wrong source shows
    for (float &x : vr)
      x = 3 * u(rng);
    const int64_t rs[4] = {c.Hkv * c.R * c.D, c.R * c.D, c.D, 1};
    lq_rt_view4_t kw{kr.data(), {c.B, c.Hkv, c.R, c.D}, {rs[0], rs[1], rs[2], rs[3]}};
    lq_rt_view4_t vw{vr.data(), {c.B, c.Hkv, c.R, c.D}, {rs[0], rs[1], rs[2], rs[3]}};
    lq_rt_kv_window_t win{&kw, &vw, end};
    std::vector<float> q(size_t(c.B * c.Hq * c.T * c.D)), o(q.size(), -9.0f);
    for (float &x : q)
      x = u(rng);
    lq_rt_view4_t qv{q.data(), {c.B, c.Hq, c.T, c.D},
                     {c.Hq * c.T * c.D, c.T * c.D, c.D, 1}};
    lq_rt_view4_t ov{o.data(), {c.B, c.Hq, c.T, c.D},
                     {c.Hq * c.T * c.D, c.T * c.D, c.D, 1}};
    const float scale = 1.0f / std::sqrt(float(c.D));
    ASSERT_EQ(lq_rt_attention_at_q_window(&qv, &k.view, &v.view, &ov, scale, 1,
                                          c.pos, &win),
              0);
    const int64_t start = std::max<int64_t>(0, end - c.R);
    auto at = [&](const QTensor &x, const std::vector<float> &ring) {
      return [&, start](int64_t b, int64_t hk, int64_t s, int64_t d) {
        if (s >= start && s < end)
          return double(ring[size_t(((b * c.Hkv + hk) * c.R + s % c.R) * c.D + d)]);
        return x.decoded[size_t(((b * c.Hkv + hk) * c.S + s) * c.D + d)];
      };
    };
    expectAttention(q, o, c.B, c.Hq, c.Hkv, c.T, c.D, scale,
                    [&](int64_t t) { return c.pos + t + 1; }, at(k, kr),
                    at(v, vr));
  }
}

// KIVI's per-channel keys (--quantize-kv-cache key-granularity=per-channel
// scales=dynamic residual=R): key scales [B, Hkv, S / R, D] (one per
// channel and group of R positions), values per token; complete groups
// below floor(end / R) * R decoded, the last positions from the rings (the
// key ring of R + T - 1 slots, the value ring of R); groups from
// floor(end / R) * R on hold NaN scales and garbage codes. Fast path
// (D % 32 == 0) and rows (odd D / 2), int8 / int4 / FP8, f16 scales.
TEST_P(PerIsaQ, PerChannelKeyGroupsMatchFloat64Reference) {
  std::mt19937 rng(31);
  struct Case {
    int64_t B, Hq, Hkv, T, S, D, R, vgd;
    int32_t format, bits;
    int64_t pos;
    int32_t scaleType = LQ_RT_SCALE_F32;
  };
  const Case cases[] = {
      {1, 8, 2, 1, 64, 64, 16, 64, LQ_FORMAT_INT, 4, 40},
      {1, 8, 4, 1, 96, 32, 32, 32, LQ_FORMAT_INT, 4, 70},
      {2, 4, 2, 3, 40, 64, 8, 32, LQ_FORMAT_INT, 8, 21},
      {1, 6, 2, 5, 45, 96, 9, 32, LQ_FORMAT_FP8_E4M3, 8, 30},
      {1, 4, 2, 2, 27, 10, 3, 10, LQ_FORMAT_INT, 4, 17},   // rows
      {1, 3, 1, 1, 35, 14, 7, 14, LQ_FORMAT_INT, 8, 33},   // rows, odd sizes
      {1, 8, 2, 1, 64, 64, 16, 64, LQ_FORMAT_INT, 4, 47, LQ_RT_SCALE_F16},
      {1, 4, 4, 4, 48, 32, 4, 16, LQ_FORMAT_INT, 8, 2},    // end < R
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(::testing::Message() << "format " << c.format << " bits " << c.bits
                                      << " D=" << c.D << " T=" << c.T << " R=" << c.R
                                      << " pos=" << c.pos << " scale type " << c.scaleType);
    const int64_t end = c.pos + c.T, complete = end / c.R * c.R;
    const int64_t W = c.R + c.T - 1;
    QTensor k = makeQ(c.B, c.Hkv, c.S, c.D, c.R, 1, c.format, c.bits, complete,
                      rng, c.scaleType);
    QTensor v = makeQ(c.B, c.Hkv, c.S, c.D, 1, c.vgd, c.format, c.bits, end, rng,
                      c.scaleType);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> kr(size_t(c.B * c.Hkv * W * c.D)),
        vr(size_t(c.B * c.Hkv * c.R * c.D));
    for (float &x : kr)
      x = 3 * u(rng);
    for (float &x : vr)
      x = 3 * u(rng);
    lq_rt_view4_t kw{kr.data(), {c.B, c.Hkv, W, c.D},
                     {c.Hkv * W * c.D, W * c.D, c.D, 1}};
    lq_rt_view4_t vw{vr.data(), {c.B, c.Hkv, c.R, c.D},
                     {c.Hkv * c.R * c.D, c.R * c.D, c.D, 1}};
    lq_rt_kv_window_t win{&kw, &vw, end};
    std::vector<float> q(size_t(c.B * c.Hq * c.T * c.D)), o(q.size(), -9.0f);
    for (float &x : q)
      x = u(rng);
    lq_rt_view4_t qv{q.data(), {c.B, c.Hq, c.T, c.D},
                     {c.Hq * c.T * c.D, c.T * c.D, c.D, 1}};
    lq_rt_view4_t ov{o.data(), {c.B, c.Hq, c.T, c.D},
                     {c.Hq * c.T * c.D, c.T * c.D, c.D, 1}};
    const float scale = 1.0f / std::sqrt(float(c.D));
    ASSERT_EQ(lq_rt_attention_at_q_window(&qv, &k.view, &v.view, &ov, scale, 1,
                                          c.pos, &win),
              0);
    auto at = [&](const QTensor &x, const std::vector<float> &ring, int64_t slots) {
      return [&, slots](int64_t b, int64_t hk, int64_t s, int64_t d) {
        if (s >= end - slots && s < end)
          return double(ring[size_t(((b * c.Hkv + hk) * slots + s % slots) * c.D + d)]);
        return x.decoded[size_t(((b * c.Hkv + hk) * c.S + s) * c.D + d)];
      };
    };
    expectAttention(q, o, c.B, c.Hq, c.Hkv, c.T, c.D, scale,
                    [&](int64_t t) { return c.pos + t + 1; }, at(k, kr, W),
                    at(v, vr, c.R));
  }
}

TEST(QuantizedCacheAttention, RejectsUnsupportedCaches) {
  std::mt19937 rng(3);
  QTensor k = makeQ(1, 2, 8, 8, 1, 8, LQ_FORMAT_INT, 8, 8, rng);
  QTensor v = makeQ(1, 2, 8, 8, 1, 8, LQ_FORMAT_INT, 8, 8, rng);
  std::vector<float> q(16, 0.5f), o(16, -9.0f);
  lq_rt_view4_t qv{q.data(), {1, 2, 1, 8}, {16, 8, 8, 1}};
  lq_rt_view4_t ov{o.data(), {1, 2, 1, 8}, {16, 8, 8, 1}};
  lq_rt_qview4_t bad = k.view;
  bad.bits = 3; // int3 is not a cache format
  EXPECT_EQ(lq_rt_attention_at_q(&qv, &bad, &v.view, &ov, 1.0f, 1, 0), -1);
  bad = k.view;
  bad.format = LQ_FORMAT_NF4;
  EXPECT_EQ(lq_rt_attention_at_q(&qv, &bad, &v.view, &ov, 1.0f, 1, 0), -1);
  bad = k.view;
  bad.format = LQ_FORMAT_NVFP4; // NVFP4 codes are 4 bits
  EXPECT_EQ(lq_rt_attention_at_q(&qv, &bad, &v.view, &ov, 1.0f, 1, 0), -1);
  bad = k.view;
  bad.scale_type = 3; // no such scale storage
  EXPECT_EQ(lq_rt_attention_at_q(&qv, &bad, &v.view, &ov, 1.0f, 1, 0), -1);
  bad = k.view;
  bad.scale_sizes[3] = 3; // 3 scales do not divide 8 channels
  EXPECT_EQ(lq_rt_attention_at_q(&qv, &bad, &v.view, &ov, 1.0f, 1, 0), -1);
  bad = k.view;
  bad.bits = 4;
  bad.scale_sizes[3] = 4; // int4 groups of 3 channels split a byte
  bad.sizes[3] = 12;
  EXPECT_EQ(lq_rt_attention_at_q(&qv, &bad, &v.view, &ov, 1.0f, 1, 0), -1);
  // A window whose heads differ from the cache's.
  std::vector<float> ring(2 * 4 * 8, 0.0f);
  lq_rt_view4_t kw{ring.data(), {1, 1, 4, 8}, {32, 32, 8, 1}};
  lq_rt_kv_window_t win{&kw, &kw, 1};
  EXPECT_EQ(lq_rt_attention_at_q_window(&qv, &k.view, &v.view, &ov, 1.0f, 1, 0, &win), -1);
  for (float x : o)
    EXPECT_EQ(x, -9.0f); // nothing written
}

/// The FP8 code tests below: S = 32 keys (a vector block) of D = 32 channels
/// (one chunk), f32 scales, one query row.
constexpr int64_t kFp8S = 32, kFp8D = 32;

/// The codes of `format` with a finite value.
std::vector<int> finiteFp8Codes(int32_t format) {
  std::vector<int> codes;
  for (int c = 0; c < 256; ++c)
    if (std::isfinite(decodeCode(format, 8, c)))
      codes.push_back(c);
  return codes;
}

/// A [1, 1, 32, 32] FP8 cache view with one scale per token.
lq_rt_qview4_t fp8View(int32_t format, std::vector<uint8_t> &codes,
                       std::vector<float> &scales) {
  constexpr int64_t S = kFp8S, D = kFp8D;
  lq_rt_qview4_t x{};
  const int64_t sz[4] = {1, 1, S, D}, st[4] = {S * D, S * D, D, 1};
  const int64_t ss[4] = {1, 1, S, 1}, sst[4] = {S, S, 1, 1};
  for (int i = 0; i < 4; ++i) {
    x.sizes[i] = sz[i];
    x.strides[i] = st[i];
    x.scale_sizes[i] = ss[i];
    x.scale_strides[i] = sst[i];
  }
  x.codes = codes.data();
  x.scales = scales.data();
  x.bits = 8;
  x.format = format;
  return x;
}

/// Attention of one query row `q` over the 32 keys / values (scale 1), run
/// with denormals-are-zero and flush-to-zero set (as -ffast-math
/// executables run): FP8 subnormals are normal f32 values and must not pass
/// through an f32 subnormal on the way.
std::vector<float> fp8Attention(int32_t format, std::vector<uint8_t> &k,
                                std::vector<float> &ks, std::vector<uint8_t> &v,
                                std::vector<float> &vs, std::vector<float> q) {
  constexpr int64_t D = kFp8D;
  lq_rt_qview4_t kv = fp8View(format, k, ks), vv = fp8View(format, v, vs);
  std::vector<float> o(D, -1.0f);
  lq_rt_view4_t qv{q.data(), {1, 1, 1, D}, {D, D, D, 1}};
  lq_rt_view4_t ov{o.data(), {1, 1, 1, D}, {D, D, D, 1}};
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u);
  const int rc = lq_rt_attention_at_q(&qv, &kv, &vv, &ov, 1.0f, 1, kFp8S - 1);
  _mm_setcsr(csr);
  EXPECT_EQ(rc, 0);
  return o;
}

// Every finite FP8 code through the value decode paths (the vector ones move
// the byte's bits into an f32's and rebias; subnormals included): zero
// queries give every key the weight 1 / S, and each value channel holds one
// code, so each output channel is that code's value / S, checked exactly.
TEST_P(PerIsaQ, EveryFiniteFp8CodeDecodesExactly) {
  constexpr int64_t S = kFp8S, D = kFp8D;
  for (int32_t format : {LQ_FORMAT_FP8_E4M3, LQ_FORMAT_FP8_E5M2}) {
    const std::vector<int> codes = finiteFp8Codes(format);
    for (size_t first = 0; first < codes.size(); first += D) {
      std::vector<uint8_t> k(S * D, 0), v(S * D, 0);
      std::vector<float> ks(S, 1.0f), vs(S, 1.0f);
      std::vector<double> want(D, 0.0);
      for (int64_t d = 0; d < D && first + size_t(d) < codes.size(); ++d) {
        const int c = codes[first + size_t(d)];
        v[size_t((d % S) * D + d)] = uint8_t(c); // row d mod S, channel d
        want[size_t(d)] = decodeCode(format, 8, c) / double(S);
      }
      const std::vector<float> o =
          fp8Attention(format, k, ks, v, vs, std::vector<float>(D, 0.0f));
      for (int64_t d = 0; d < D; ++d)
        EXPECT_NEAR(o[size_t(d)], want[size_t(d)], 1e-6 * std::fabs(want[size_t(d)]))
            << "format " << format << " code "
            << (first + size_t(d) < codes.size() ? codes[first + size_t(d)] : -1);
    }
  }
}

// The same for keys: key s holds one code x_s at channel s, scaled per token
// by a power of two f_s that brings |x_s f_s| into [1, 2), and the query is
// all ones, so score s is y_s = x_s f_s exactly; values are one-hot (code
// 1.0 at channel s), so output channel s is softmax(y)_s. A wrong mantissa
// bit moves y_s by >= 1/8, a wrong exponent or sign by more.
TEST_P(PerIsaQ, EveryFiniteFp8KeyCodeDecodesExactly) {
  constexpr int64_t S = kFp8S, D = kFp8D;
  for (int32_t format : {LQ_FORMAT_FP8_E4M3, LQ_FORMAT_FP8_E5M2}) {
    const uint8_t one = format == LQ_FORMAT_FP8_E4M3 ? 0x38 : 0x3C;
    ASSERT_EQ(decodeCode(format, 8, one), 1.0);
    const std::vector<int> codes = finiteFp8Codes(format);
    for (size_t first = 0; first < codes.size(); first += S) {
      std::vector<uint8_t> k(S * D, 0), v(S * D, 0);
      std::vector<float> ks(S, 1.0f), vs(S, 1.0f);
      std::vector<double> y(S, 0.0);
      for (int64_t s = 0; s < S; ++s) {
        v[size_t(s * D + s)] = one;
        if (first + size_t(s) >= codes.size())
          continue;
        const int c = codes[first + size_t(s)];
        const double x = decodeCode(format, 8, c);
        k[size_t(s * D + s)] = uint8_t(c);
        ks[size_t(s)] = x == 0 ? 1.0f : std::ldexp(1.0f, -std::ilogb(x));
        y[size_t(s)] = x * double(ks[size_t(s)]);
      }
      const std::vector<float> o =
          fp8Attention(format, k, ks, v, vs, std::vector<float>(D, 1.0f));
      double mx = -INFINITY, sum = 0;
      for (double t : y)
        mx = std::max(mx, t);
      for (double t : y)
        sum += std::exp(t - mx);
      for (int64_t s = 0; s < S; ++s) {
        const double want = std::exp(y[size_t(s)] - mx) / sum;
        EXPECT_NEAR(o[size_t(s)], want, 1e-5 * want)
            << "format " << format << " code "
            << (first + size_t(s) < codes.size() ? codes[first + size_t(s)] : -1);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, PerIsaQ,
                         ::testing::Values("avx512", "avx2", "scalar"));

} // namespace
