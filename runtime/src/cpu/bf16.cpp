//===- bf16.cpp - f32 activations x bfloat16 weights ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Linear layers with bfloat16 weights (the `bf16` format; llama.cpp's BF16
// GGUF type, GGML_TYPE_BF16, is the peer):
//
//   C[m, n] = sum_k A[m, k] * W[n, k]      (+ bias[n]),  W[n, k] a bfloat16
//
// bfloat16 is the top half of an IEEE float32 (Kalamkar et al., "A Study of
// BFLOAT16 for Deep Learning Training", arXiv:1905.12322), so a weight
// widens to f32 exactly by a 16-bit shift: the kernels never round a
// weight, and at half the bytes of f32 a memory-bound decode step reads
// half as much. Two arithmetics (see <lq_rt/kernels.h>):
//  - widen (AVX-512F, AVX2+FMA, scalar): each 64-byte block of 16 columns x
//    2 k widens with one shift (even k) and one mask (odd k) into two f32
//    vectors, which FMA with the broadcast activations; the activations
//    stay exact f32. Decode steps (M < LQ_RT_BF16_DOT_MIN_ROWS) use it.
//  - dpbf16 (AVX-512 BF16): the activations are rounded to bf16 (nearest
//    even) once per call and each block is one vdpbf16ps operand: 32
//    multiply-adds per instruction (products exact in f32), as llama.cpp's
//    ggml_vec_dot_bf16 and oneDNN's BF16 GEMMs do. Prefill uses it when the
//    CPU has avx512_bf16.
// The packed layout (16-column panels of 2-deep K blocks, built at compile
// time by lq_rt_pack_bf16) is vdpbf16ps's operand order, and the same bytes
// serve every kernel, so a compiled model is ISA-independent.
//
// This file owns packing, argument checks, the kernel choice, the bf16
// activation copy and the split of panels over lq_rt's thread pool; the
// portable kernel is here too.
//
//===----------------------------------------------------------------------===//

#include "bf16.h"

#include "../core/threads.h"
#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

namespace lq_rt::bf16 {
namespace {

/// The portable kernel: f32 sums of exactly widened weights.
void scalarPanels(const Args &a, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const uint16_t *panel = a.panel(p);
    const int64_t n0 = p * kWidth, nr = std::min(kWidth, a.N - n0);
    for (int64_t m = 0; m < a.M; ++m) {
      const float *x = a.A + m * a.lda;
      float acc[kWidth] = {};
      for (int64_t b = 0; b < a.K2; ++b) {
        const uint16_t *blk = panel + b * kBlock;
        const float x0 = x[2 * b];
        const float x1 = 2 * b + 1 < a.K ? x[2 * b + 1] : 0.0f;
        for (int64_t j = 0; j < kWidth; ++j)
          acc[j] += x0 * lq_bf16_to_f32(blk[2 * j]) +
                    x1 * lq_bf16_to_f32(blk[2 * j + 1]);
      }
      for (int64_t j = 0; j < nr; ++j)
        a.C[m * a.ldc + n0 + j] = acc[j] + (a.bias ? a.bias[n0 + j] : 0.0f);
    }
  }
}

enum class Impl { Dpbf16 = 0, Avx512 = 1, Avx2 = 2, Scalar = 3 };

bool cpuHas(Impl impl) {
#if defined(__x86_64__)
  switch (impl) {
  case Impl::Dpbf16:
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && // its TU is built with it
           __builtin_cpu_supports("avx512bf16");
  case Impl::Avx512:
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  case Impl::Avx2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case Impl::Scalar:
    return true;
  }
  return false;
#else
  return impl == Impl::Scalar;
#endif
}

std::atomic<int> forced{-1};

Impl implFor(int64_t M) {
  const int f = forced.load(std::memory_order_relaxed);
  if (f >= 0)
    return Impl(f);
  const char *isa = lq_rt_isa();
  if (!std::strcmp(isa, "scalar"))
    return Impl::Scalar;
  if (!std::strcmp(isa, "avx2"))
    return Impl::Avx2;
  static const bool dot = cpuHas(Impl::Dpbf16);
  return dot && M >= LQ_RT_BF16_DOT_MIN_ROWS ? Impl::Dpbf16 : Impl::Avx512;
}

} // namespace
} // namespace lq_rt::bf16

using namespace lq_rt::bf16;

extern "C" {

int64_t lq_rt_packed_bf16_size(int64_t N, int64_t K) {
  return (N + kWidth - 1) / kWidth * ((K + 1) / 2) * kBlock * 2;
}

void lq_rt_pack_bf16(const uint16_t *w, int64_t N, int64_t K, uint16_t *out) {
  const int64_t K2 = (K + 1) / 2;
  for (int64_t p = 0; p * kWidth < N; ++p)
    for (int64_t b = 0; b < K2; ++b) {
      uint16_t *blk = out + (p * K2 + b) * kBlock;
      for (int64_t j = 0; j < kWidth; ++j)
        for (int64_t i = 0; i < 2; ++i) {
          const int64_t n = p * kWidth + j, k = 2 * b + i;
          blk[2 * j + i] = n < N && k < K ? w[n * K + k] : 0;
        }
    }
}

const char *lq_rt_bf16_isa(int64_t M) {
  switch (implFor(M)) {
  case Impl::Dpbf16: return "avx512-bf16";
  case Impl::Avx512: return "avx512";
  case Impl::Avx2: return "avx2";
  case Impl::Scalar: return "scalar";
  }
  return "scalar";
}

int lq_rt_force_bf16_isa(const char *name) {
  int want;
  if (!name)
    want = -1;
  else if (!std::strcmp(name, "avx512-bf16"))
    want = int(Impl::Dpbf16);
  else if (!std::strcmp(name, "avx512"))
    want = int(Impl::Avx512);
  else if (!std::strcmp(name, "avx2"))
    want = int(Impl::Avx2);
  else if (!std::strcmp(name, "scalar"))
    want = int(Impl::Scalar);
  else
    return 0;
  if (want >= 0 && !cpuHas(Impl(want)))
    return 0;
  forced.store(want);
  return 1;
}

int lq_rt_gemm_bf16(int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const uint16_t *packed, const float *bias,
                    float *C, int64_t ldc) {
  if (M < 0 || N < 0 || K < 0 || lda < K || ldc < N)
    return -1;
  if (M == 0 || N == 0)
    return 0;
  if (!C || (K > 0 && (!A || !packed)))
    return -1;
  const int64_t K2 = (K + 1) / 2;
  const Impl impl = K == 0 ? Impl::Scalar : implFor(M);
  // dpbf16: the activations rounded to bf16 once, as (k, k + 1) pairs.
  std::vector<uint32_t> xb;
  if (impl == Impl::Dpbf16) {
    xb.resize(size_t(M * K2));
    avx512bf16::roundRows(A, lda, M, K, K2, xb.data());
  }
  Args a{M, N, K, K2, (N + kWidth - 1) / kWidth, A, lda, xb.data(), packed,
         bias, C, ldc};
  auto body = [&](int64_t p0, int64_t p1) {
    switch (impl) {
    case Impl::Dpbf16: return avx512bf16::panels(a, p0, p1);
    case Impl::Avx512: return avx512::panels(a, p0, p1);
    case Impl::Avx2: return avx2::panels(a, p0, p1);
    case Impl::Scalar: return scalarPanels(a, p0, p1);
    }
  };
  // As the other GEMMs: below these sizes a fork/join costs more than the
  // work.
  const bool parallel = M * N * K >= (int64_t(1) << 20) ||
                        (M <= 4 && N * K >= (int64_t(1) << 17));
  if (parallel)
    lq_rt::parallelFor(a.panels, body);
  else
    body(0, a.panels);
  return 0;
}

} // extern "C"
