//===- bf16.h - BF16-weight GEMM internals -------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Shared by bf16.cpp (packing, dispatch, scalar kernel, threads) and the
// per-ISA kernels (bf16_avx512.cpp, bf16_avx512bf16.cpp, bf16_avx2.cpp).
// See lq_rt_gemm_bf16 in <lq_rt/kernels.h> for the math and the layout.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CPU_BF16_H
#define LQ_RT_SRC_CPU_BF16_H

#include <cstdint>

namespace lq_rt::bf16 {

constexpr int64_t kWidth = 16; // columns per panel
constexpr int64_t kBlock = 32; // uint16 per 2-deep K block (64 bytes)

/// One call. The widen kernels read the f32 activations A; the dpbf16
/// kernel reads xb, the activations rounded to bf16 once per call, as
/// rows of K2 uint32 pairs (k = 2b in the low half, 2b + 1 in the high
/// half; zero past K).
struct Args {
  int64_t M, N, K, K2, panels;
  const float *A;
  int64_t lda;
  const uint32_t *xb; // [M][K2], dpbf16 only
  const uint16_t *packed;
  const float *bias; // [N] or null
  float *C;
  int64_t ldc;

  const uint16_t *panel(int64_t p) const { return packed + p * K2 * kBlock; }
};

namespace avx512 {
void panels(const Args &a, int64_t p0, int64_t p1);
}
namespace avx512bf16 {
void panels(const Args &a, int64_t p0, int64_t p1);
/// xb[m][b] = the bf16 pair (A[m, 2b], A[m, 2b + 1]) (0 past K), rounded
/// to nearest even by vcvtne2ps2bf16 (as lq_bf16_from_f32, but denormal
/// inputs become zero, which vdpbf16ps would make of them anyway).
void roundRows(const float *A, int64_t lda, int64_t M, int64_t K, int64_t K2,
               uint32_t *xb);
}
namespace avx2 {
void panels(const Args &a, int64_t p0, int64_t p1);
}

} // namespace lq_rt::bf16

#endif // LQ_RT_SRC_CPU_BF16_H
