//===- dispatch.cpp - Pick a kernel ISA at run time ----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"
#include "gemv_i16.h"
#include "q4_dpbf16.h"

#include <array>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace lq_rt {
#define LQ_DECLARE_ISA(ns)                                                     \
  namespace ns {                                                               \
  void sgemm_nt(int64_t, int64_t, int64_t, const float *, int64_t,             \
                const float *, int64_t, float *, int64_t);                     \
  void sgemm_packed(int64_t, int64_t, int64_t, const float *, int64_t,         \
                    const float *, float *, int64_t);                          \
  void attention(const lq_rt_view4_t *, const lq_rt_view4_t *,                 \
                 const lq_rt_view4_t *, const lq_rt_view4_t *, float, int,     \
                 int64_t);                                                     \
  void attention_q(const lq_rt_view4_t *, const lq_rt_qview4_t *,             \
                   const lq_rt_qview4_t *, const lq_rt_view4_t *, float, int,  \
                   int64_t, const float *, const float *,                      \
                   const lq_rt_kv_window_t *);                                 \
  int linear_q(int64_t, int64_t, int64_t, const float *, int64_t,              \
               const uint8_t *, const float *, const float *, int32_t,         \
               int32_t, int64_t, float *, int64_t);                            \
  }
LQ_DECLARE_ISA(avx512)
LQ_DECLARE_ISA(avx2)
LQ_DECLARE_ISA(scalar)
#undef LQ_DECLARE_ISA
} // namespace lq_rt

namespace {

enum Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

bool supported(Isa isa) {
#if defined(__x86_64__)
  switch (isa) {
  case Avx512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  case Avx2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case Scalar:
    return true;
  }
  return false;
#else
  return isa == Scalar;
#endif
}

Isa best() {
  return supported(Avx512) ? Avx512 : supported(Avx2) ? Avx2 : Scalar;
}

std::atomic<int> current{-1};

Isa isa() {
  int c = current.load(std::memory_order_relaxed);
  if (c < 0) {
    c = best();
    current.store(c, std::memory_order_relaxed);
  }
  return Isa(c);
}

} // namespace

extern "C" {

const char *lq_rt_isa(void) {
  switch (isa()) {
  case Avx512: return "avx512";
  case Avx2: return "avx2";
  case Scalar: return "scalar";
  }
  return "scalar";
}

int lq_rt_force_isa(const char *name) {
  Isa want;
  if (!name)
    want = best();
  else if (!std::strcmp(name, "avx512"))
    want = Avx512;
  else if (!std::strcmp(name, "avx2"))
    want = Avx2;
  else if (!std::strcmp(name, "scalar"))
    want = Scalar;
  else
    return 0;
  if (!supported(want))
    return 0;
  current.store(want);
  return 1;
}

int lq_rt_qgemv_dpbf16(int enable) {
  return lq_rt::q4dp::setEnabled(enable != 0) ? 1 : 0;
}

int lq_rt_qgemv_i16(int enable) {
  return lq_rt::i16::setEnabled(enable != 0) ? 1 : 0;
}

void lq_rt_sgemm_nt(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float *C,
                    int64_t ldc) {
  switch (isa()) {
  case Avx512: return lq_rt::avx512::sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc);
  case Avx2: return lq_rt::avx2::sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc);
  case Scalar: return lq_rt::scalar::sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc);
  }
}

void lq_rt_sgemm_packed(int64_t M, int64_t N, int64_t K, const float *A,
                        int64_t lda, const float *packed, float *C,
                        int64_t ldc) {
  switch (isa()) {
  case Avx512: return lq_rt::avx512::sgemm_packed(M, N, K, A, lda, packed, C, ldc);
  case Avx2: return lq_rt::avx2::sgemm_packed(M, N, K, A, lda, packed, C, ldc);
  case Scalar: return lq_rt::scalar::sgemm_packed(M, N, K, A, lda, packed, C, ldc);
  }
}

int64_t lq_rt_packed_f32_size(int64_t N, int64_t K) {
  return (N + LQ_RT_PACK_WIDTH - 1) / LQ_RT_PACK_WIDTH * K * LQ_RT_PACK_WIDTH;
}

void lq_rt_pack_f32_panels(const float *w, int64_t N, int64_t K, float *out) {
  const int64_t W = LQ_RT_PACK_WIDTH;
  for (int64_t p = 0; p * W < N; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < W; ++j) {
        int64_t n = p * W + j;
        out[(p * K + k) * W + j] = n < N ? w[n * K + k] : 0.0f;
      }
}

void lq_rt_attention_f32(const lq_rt_view4_t *q, const lq_rt_view4_t *k,
                         const lq_rt_view4_t *v, const lq_rt_view4_t *out,
                         float scale, int causal) {
  switch (isa()) {
  case Avx512: return lq_rt::avx512::attention(q, k, v, out, scale, causal, k->sizes[2] - q->sizes[2]);
  case Avx2: return lq_rt::avx2::attention(q, k, v, out, scale, causal, k->sizes[2] - q->sizes[2]);
  case Scalar: return lq_rt::scalar::attention(q, k, v, out, scale, causal, k->sizes[2] - q->sizes[2]);
  }
}

void lq_rt_attention_at_f32(const lq_rt_view4_t *q, const lq_rt_view4_t *k,
                            const lq_rt_view4_t *v, const lq_rt_view4_t *out,
                            float scale, int causal, int64_t position) {
  switch (isa()) {
  case Avx512: return lq_rt::avx512::attention(q, k, v, out, scale, causal, position);
  case Avx2: return lq_rt::avx2::attention(q, k, v, out, scale, causal, position);
  case Scalar: return lq_rt::scalar::attention(q, k, v, out, scale, causal, position);
  }
}

namespace {
/// The 256 FP8 values of `format`, or null for integer codes.
const float *fp8Table(int32_t format) {
  static const auto tables = [] {
    std::array<std::array<float, 256>, 2> t{};
    for (int c = 0; c < 256; ++c) {
      t[0][c] = lq_fp8_e4m3fn_to_f32(uint8_t(c));
      t[1][c] = lq_fp8_e5m2_to_f32(uint8_t(c));
    }
    return t;
  }();
  if (format == LQ_FORMAT_FP8_E4M3)
    return tables[0].data();
  if (format == LQ_FORMAT_FP8_E5M2)
    return tables[1].data();
  return nullptr;
}

bool validQView(const lq_rt_qview4_t *x) {
  bool fmt = (x->format == LQ_FORMAT_INT && (x->bits == 8 || x->bits == 4)) ||
             ((x->format == LQ_FORMAT_FP8_E4M3 || x->format == LQ_FORMAT_FP8_E5M2) &&
              x->bits == 8) ||
             (x->format == LQ_FORMAT_NVFP4 && x->bits == 4);
  if (!fmt || !x->codes || !x->scales)
    return false;
  if (x->scale_type != LQ_RT_SCALE_F32 && x->scale_type != LQ_RT_SCALE_F16 &&
      x->scale_type != LQ_RT_SCALE_E4M3)
    return false;
  for (int i = 0; i < 4; ++i)
    if (x->sizes[i] < 0 || x->scale_sizes[i] <= 0)
      return false;
  for (int i = 0; i < 2; ++i)
    if (x->scale_sizes[i] != 1 && x->scale_sizes[i] != x->sizes[i])
      return false;
  if (x->sizes[2] % x->scale_sizes[2] || x->sizes[3] % x->scale_sizes[3])
    return false;
  const int64_t gd = x->sizes[3] / x->scale_sizes[3];
  return x->bits != 4 || (x->sizes[3] % 2 == 0 && (gd % 2 == 0 || gd == 1));
}
} // namespace

int lq_rt_attention_at_q_window(const lq_rt_view4_t *q,
                                const lq_rt_qview4_t *k,
                                const lq_rt_qview4_t *v,
                                const lq_rt_view4_t *out, float scale,
                                int causal, int64_t position,
                                const lq_rt_kv_window_t *w) {
  if (!validQView(k) || !validQView(v) || k->sizes[2] != v->sizes[2] ||
      k->sizes[1] != v->sizes[1] || k->sizes[1] <= 0 ||
      q->sizes[1] % k->sizes[1] != 0 || q->sizes[3] != k->sizes[3])
    return -1;
  if (w) {
    // The rings match the cache but for the positions, and hold at least
    // one. --quantize-kv-cache gives keys and values rings of one length
    // (R + T - 1 positions); the kernel reads each ring by its own length,
    // so it does not require them to match.
    auto fits = [](const lq_rt_view4_t *r, const lq_rt_qview4_t *c) {
      return r && r->data && r->sizes[0] == c->sizes[0] &&
             r->sizes[1] == c->sizes[1] && r->sizes[3] == c->sizes[3] &&
             r->sizes[2] > 0;
    };
    if (!fits(w->k, k) || !fits(w->v, v))
      return -1;
  }
  const float *kt = fp8Table(k->format), *vt = fp8Table(v->format);
  switch (isa()) {
  case Avx512: lq_rt::avx512::attention_q(q, k, v, out, scale, causal, position, kt, vt, w); break;
  case Avx2: lq_rt::avx2::attention_q(q, k, v, out, scale, causal, position, kt, vt, w); break;
  case Scalar: lq_rt::scalar::attention_q(q, k, v, out, scale, causal, position, kt, vt, w); break;
  }
  return 0;
}

int lq_rt_attention_at_q(const lq_rt_view4_t *q, const lq_rt_qview4_t *k,
                         const lq_rt_qview4_t *v, const lq_rt_view4_t *out,
                         float scale, int causal, int64_t position) {
  return lq_rt_attention_at_q_window(q, k, v, out, scale, causal, position,
                                     nullptr);
}

int lq_rt_qgemm_nt(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const uint8_t *codes, const float *scales,
                    const float *biases, int32_t format, int32_t bits,
                    int64_t group, float *C, int64_t ldc) {
  switch (isa()) {
  case Avx512:
    return lq_rt::avx512::linear_q(M, N, K, A, lda, codes, scales, biases,
                                   format, bits, group, C, ldc);
  case Avx2:
    return lq_rt::avx2::linear_q(M, N, K, A, lda, codes, scales, biases,
                                 format, bits, group, C, ldc);
  case Scalar:
    return lq_rt::scalar::linear_q(M, N, K, A, lda, codes, scales, biases,
                                   format, bits, group, C, ldc);
  }
  return -1;
}

} // extern "C"
