//===- cuda_kv_checks.h - Checks of attention over a quantized KV cache -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_cuda_attention_at_q (and its compiled-model entry points) against a
// float64 reference: random codes and scales of each format / scale type /
// granularity are dequantized on the host (lq_rt's format decoders, not the
// kernel's) and fed to refAttention. Per-token f32 scales of keys the call
// must not read (s >= position + T) are NaN, and the output is poisoned, so
// a read past the written keys or an unwritten output fails. Shared by
// lq_rt_cuda_tests and gpu_check; needs a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_TESTS_CUDA_KV_CHECKS_H
#define LQ_RT_TESTS_CUDA_KV_CHECKS_H

#include "cuda_checks.h"

#include "lq_rt/formats.h"

#include <cmath>

extern "C" {
struct LqMemRef4U8 {
  uint8_t *allocated, *aligned;
  int64_t offset, sizes[4], strides[4];
};
void _mlir_ciface_lq_rt_cuda_attention_at_q_i8(
    LqMemRef4 *q, LqMemRef4U8 *kc, LqMemRef4 *ks, LqMemRef4U8 *vc,
    LqMemRef4 *vs, LqMemRef4 *out, float scale, int32_t causal,
    int64_t position, int32_t format, int32_t bits);
void _mlir_ciface_lq_rt_cuda_attention_at_q_i8_f8E4M3FN(
    LqMemRef4 *q, LqMemRef4U8 *kc, LqMemRef4U8 *ks, LqMemRef4U8 *vc,
    LqMemRef4U8 *vs, LqMemRef4 *out, float scale, int32_t causal,
    int64_t position, int32_t format, int32_t bits, float kGlobal,
    float vGlobal);
}

namespace lqref {

/// Scale granularity of one side of the cache (--quantize-kv-cache's).
enum class KVGran {
  PerToken,  ///< [B, H, S, D / group]
  PerHead,   ///< [B, H, S, 1]
  PerChannel ///< [1, H, 1, D] (static keys)
};

/// One quantized side (K or V) on the host: codes, scales (bytes of
/// scaleType), and its dequantized values [B, H, S, D] as floats.
struct HostQView {
  int64_t B, H, S, D, rowBytes, rowStride;
  int64_t ssz[4];
  std::vector<uint8_t> codes, scales;
  std::vector<float> values;
  int scaleType, bits;
  lq_format_t fmt;
  float global;
};

inline float decodeKVCode(lq_format_t fmt, int bits, uint32_t c) {
  if (bits == 4)
    return fmt == LQ_FORMAT_NVFP4 ? lq_fp4_e2m1_to_f32(uint8_t(c))
                                  : float(int(c ^ 8u) - 8);
  if (fmt == LQ_FORMAT_FP8_E4M3)
    return lq_fp8_e4m3fn_to_f32(uint8_t(c));
  if (fmt == LQ_FORMAT_FP8_E5M2)
    return lq_fp8_e5m2_to_f32(uint8_t(c));
  return float(int8_t(uint8_t(c)));
}

/// Random codes (FP8 limited to |x| <= 8, finite) and scales that make the
/// values O(1); rows start `pad` bytes apart beyond their codes.
inline HostQView randomQView(std::mt19937 &rng, int64_t B, int64_t H,
                             int64_t S, int64_t D, lq_format_t fmt, int bits,
                             int scaleType, KVGran gran, int64_t group,
                             int64_t pad, int64_t written, float global) {
  HostQView x;
  x.B = B, x.H = H, x.S = S, x.D = D, x.fmt = fmt, x.bits = bits;
  x.scaleType = scaleType, x.global = fmt == LQ_FORMAT_NVFP4 ? global : 1.f;
  x.rowBytes = bits == 4 ? D / 2 : D;
  x.rowStride = x.rowBytes + pad;
  std::uniform_int_distribution<int> byte(0, 255);
  x.codes.resize(size_t(B * H * S * x.rowStride));
  for (auto &c : x.codes) {
    int v = byte(rng);
    if (bits == 8 && fmt != LQ_FORMAT_INT)
      while (!(std::fabs(decodeKVCode(fmt, 8, uint32_t(v))) <= 8.f))
        v = byte(rng);
    c = uint8_t(v);
  }
  const int64_t g = gran == KVGran::PerHead ? D : group > 0 ? group : D;
  if (gran == KVGran::PerChannel) {
    x.ssz[0] = 1, x.ssz[1] = H, x.ssz[2] = 1, x.ssz[3] = D;
  } else {
    x.ssz[0] = B, x.ssz[1] = H, x.ssz[2] = S, x.ssz[3] = D / g;
  }
  const double amax = bits == 4 ? (fmt == LQ_FORMAT_NVFP4 ? 6 : 8)
                      : fmt == LQ_FORMAT_INT ? 127
                                             : 8;
  std::uniform_real_distribution<double> ud(0.5, 1.5);
  const size_t ns = size_t(x.ssz[0] * x.ssz[1] * x.ssz[2] * x.ssz[3]);
  std::vector<float> sv(ns);
  const size_t es = scaleType == 0 ? 4 : scaleType == 1 ? 2 : 1;
  x.scales.resize(ns * es);
  for (size_t i = 0; i < ns; ++i) {
    const float want = float(ud(rng) / amax / x.global);
    if (scaleType == 1) {
      const uint16_t h = toHalfBits(want);
      std::memcpy(&x.scales[i * 2], &h, 2);
      sv[i] = fromHalfBits(h);
    } else if (scaleType == 2) {
      uint8_t best = 0x38; // 1.0
      for (int c = 0; c < 0x7f; ++c)
        if (std::fabs(lq_fp8_e4m3fn_to_f32(uint8_t(c)) - want) <
            std::fabs(lq_fp8_e4m3fn_to_f32(best) - want))
          best = uint8_t(c);
      x.scales[i] = best;
      sv[i] = lq_fp8_e4m3fn_to_f32(best);
    } else {
      std::memcpy(&x.scales[i * 4], &want, 4);
      sv[i] = want;
    }
  }
  // Unwritten keys' per-token f32 scales are NaN: reading them fails.
  if (scaleType == 0 && gran != KVGran::PerChannel)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t s = written; s < S; ++s)
          for (int64_t j = 0; j < x.ssz[3]; ++j) {
            const float nan = NAN;
            std::memcpy(
                &x.scales[size_t((((b * H + h) * S + s) * x.ssz[3] + j) * 4)],
                &nan, 4);
          }
  x.values.resize(size_t(B * H * S * D));
  const int64_t gs = S / x.ssz[2], gd = D / x.ssz[3];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t d = 0; d < D; ++d) {
          const uint8_t *row = &x.codes[size_t(((b * H + h) * S + s) *
                                               x.rowStride)];
          const uint32_t c =
              bits == 8 ? row[d] : (d % 2 ? row[d / 2] >> 4 : row[d / 2] & 15);
          const int64_t si =
              (((x.ssz[0] == 1 ? 0 : b) * x.ssz[1] + h) * x.ssz[2] + s / gs) *
                  x.ssz[3] + d / gd;
          x.values[size_t(((b * H + h) * S + s) * D + d)] =
              s < written ? decodeKVCode(fmt, bits, c) * sv[size_t(si)] *
                                x.global
                          : 0.f;
        }
  return x;
}

inline lq_cuda_qview4_t deviceQView(const HostQView &x, const DevBuf &codes,
                                    const DevBuf &scales) {
  lq_cuda_qview4_t v;
  v.codes = codes.as<uint8_t>();
  v.scales = scales.p;
  v.sizes[0] = x.B, v.sizes[1] = x.H, v.sizes[2] = x.S, v.sizes[3] = x.D;
  v.strides[3] = 1, v.strides[2] = x.rowStride, v.strides[1] = x.S * x.rowStride,
  v.strides[0] = x.H * x.S * x.rowStride;
  for (int i = 0; i < 4; ++i)
    v.scale_sizes[i] = x.ssz[i];
  v.scale_strides[3] = 1, v.scale_strides[2] = x.ssz[3],
  v.scale_strides[1] = x.ssz[2] * x.ssz[3],
  v.scale_strides[0] = x.ssz[1] * x.ssz[2] * x.ssz[3];
  v.format = x.fmt, v.bits = x.bits, v.scale_type = x.scaleType;
  v.global_scale = x.global;
  return v;
}

struct KVCase {
  lq_format_t fmt;
  int bits;
  int scaleType; // LQ_CUDA_SCALE_*
  KVGran kGran, vGran;
  int64_t group; // per-token channels per scale (0: D)
};

/// ||out - ref|| / ||ref|| of lq_cuda_attention_at_q (or, `ciface`, the
/// compiled-model entry point for its code / scale types: i8 with f32
/// scales, i8_f8E4M3FN) on random inputs; position < 0 means S - T.
inline double checkAttentionQ(uint32_t seed, int64_t B, int64_t Hq,
                              int64_t Hkv, int64_t T, int64_t S, int64_t D,
                              int64_t Dv, bool causal, int64_t position,
                              const KVCase &c, int64_t pad, bool ciface,
                              std::string *error = nullptr) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t pos = position < 0 ? S - T : position;
  std::vector<float> q(size_t(B * Hq * T * D));
  for (auto &x : q)
    x = nd(rng);
  HostQView k = randomQView(rng, B, Hkv, S, D, c.fmt, c.bits, c.scaleType,
                            c.kGran, c.group, pad, pos + T, 0.75f);
  HostQView v = randomQView(rng, B, Hkv, S, Dv, c.fmt, c.bits, c.scaleType,
                            c.vGran, c.group, pad, pos + T, 1.25f);
  const float scale = 1.f / std::sqrt(float(D));
  DevBuf dq = upload(q), dkc = upload(k.codes), dks = upload(k.scales),
         dvc = upload(v.codes), dvs = upload(v.scales);
  DevBuf dout(size_t(B * Hq * T * Dv) * 4);
  lq_cuda_view4_t vq, vo;
  vq.data = dq.as<float>(), vo.data = dout.as<float>();
  const int64_t qs[4] = {B, Hq, T, D}, os[4] = {B, Hq, T, Dv};
  for (int i = 0; i < 4; ++i)
    vq.sizes[i] = qs[i], vo.sizes[i] = os[i];
  vq.strides[3] = 1, vq.strides[2] = D, vq.strides[1] = T * D,
  vq.strides[0] = Hq * T * D;
  vo.strides[3] = 1, vo.strides[2] = Dv, vo.strides[1] = T * Dv,
  vo.strides[0] = Hq * T * Dv;
  lq_cuda_qview4_t kq = deviceQView(k, dkc, dks), vqv = deviceQView(v, dvc, dvs);
  if (ciface) {
    auto mr = [](const lq_cuda_view4_t &x) {
      LqMemRef4 r;
      r.allocated = r.aligned = x.data;
      r.offset = 0;
      for (int i = 0; i < 4; ++i)
        r.sizes[i] = x.sizes[i], r.strides[i] = x.strides[i];
      return r;
    };
    auto mc = [](const lq_cuda_qview4_t &x) { // codes as the model holds them
      LqMemRef4U8 r;
      r.allocated = r.aligned = const_cast<uint8_t *>(x.codes);
      r.offset = 0;
      for (int i = 0; i < 4; ++i)
        r.sizes[i] = x.sizes[i], r.strides[i] = x.strides[i];
      if (x.bits == 4)
        r.sizes[3] /= 2;
      return r;
    };
    auto ms = [](const lq_cuda_qview4_t &x) {
      LqMemRef4 r;
      r.allocated = r.aligned =
          static_cast<float *>(const_cast<void *>(x.scales));
      r.offset = 0;
      for (int i = 0; i < 4; ++i)
        r.sizes[i] = x.scale_sizes[i], r.strides[i] = x.scale_strides[i];
      return r;
    };
    LqMemRef4 mq = mr(vq), mo = mr(vo), mks = ms(kq), mvs = ms(vqv);
    LqMemRef4U8 mkc = mc(kq), mvc = mc(vqv);
    if (c.scaleType == LQ_CUDA_SCALE_E4M3) {
      LqMemRef4U8 ks8, vs8;
      std::memcpy(&ks8, &mks, sizeof ks8);
      std::memcpy(&vs8, &mvs, sizeof vs8);
      _mlir_ciface_lq_rt_cuda_attention_at_q_i8_f8E4M3FN(
          &mq, &mkc, &ks8, &mvc, &vs8, &mo, scale, causal ? 1 : 0, pos,
          c.fmt, c.bits, kq.global_scale, vqv.global_scale);
    } else {
      _mlir_ciface_lq_rt_cuda_attention_at_q_i8(&mq, &mkc, &mks, &mvc, &mvs,
                                                &mo, scale, causal ? 1 : 0,
                                                pos, c.fmt, c.bits);
    }
  } else {
    lq_cuda_status_t s = lq_cuda_attention_at_q(&vq, &kq, &vqv, &vo, scale,
                                                causal ? 1 : 0, pos, nullptr);
    if (s)
      return apiFail(error, s);
  }
  if (syncFail(error))
    return INFINITY;
  return relErr(readBack(dout.p, size_t(B * Hq * T * Dv), LQ_DTYPE_F32),
                refAttention(q, k.values, v.values, B, Hq, Hkv, T, S, D, Dv,
                             scale, causal, pos));
}

} // namespace lqref

#endif // LQ_RT_TESTS_CUDA_KV_CHECKS_H
