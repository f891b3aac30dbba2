//===- dispatch.cpp - Pick a kernel ISA at run time ----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq_rt/kernels.h"

#include <atomic>
#include <cstdint>
#include <cstring>

namespace lq_rt {
#define LQ_DECLARE_ISA(ns)                                                     \
  namespace ns {                                                               \
  void sgemm_nt(int64_t, int64_t, int64_t, const float *, int64_t,             \
                const float *, int64_t, float *, int64_t);                     \
  void attention(const lq_rt_view4_t *, const lq_rt_view4_t *,                 \
                 const lq_rt_view4_t *, const lq_rt_view4_t *, float, int,     \
                 int64_t);                                                     \
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

void lq_rt_sgemm_nt(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float *C,
                    int64_t ldc) {
  switch (isa()) {
  case Avx512: return lq_rt::avx512::sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc);
  case Avx2: return lq_rt::avx2::sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc);
  case Scalar: return lq_rt::scalar::sgemm_nt(M, N, K, A, lda, B, ldb, C, ldc);
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
