//===- w8a8.cpp - int8 activations x int8 weights ------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// W8A8 linear layers (SmoothQuant, arXiv:2211.10438; LLM.int8()'s
// per-token activation scales, arXiv:2208.07339) as integer GEMMs:
//
//   C[m, n] = sx[m] * sw[n] * sum_k xq[m, k] * wq[n, k]      (+ bias[n])
//
// with the sum in int32 (exact), instead of dequantizing both operands to
// f32. The weight is packed once, at compile time, into 16-column panels of
// 4-deep K blocks (64 bytes: 16 columns x 4 k), the operand layout of
// AVX-512 VNNI's vpdpbusd: one instruction multiplies 4 consecutive u8
// activations (broadcast to every lane) with the 4 s8 weights of each of 16
// columns and adds the 4 products to that column's int32 accumulator. Why
// pre-pack rather than read the row-major [N, K] codes:
//  - the micro-kernel streams each panel sequentially with no shuffles, no
//    horizontal sums and no per-call packing (a prefill reuses each 64-byte
//    load across 8 rows, a decode reads the weight exactly once, in order);
//  - the same bytes serve every ISA (AVX2 sign-extends 16 of them at a
//    time; scalar indexes them), so a compiled model is ISA-independent;
//  - vpdpbusd is u8 x s8: activations go in as x + 128 and the kernel
//    subtracts 128 * sum_k wq[n, k], which the packer stores in each
//    panel's 64-byte header (no extra pass over the weight at run time).
// Packing costs one pass at compile time and 64 bytes per 16 columns.
//
// Each ISA's kernel (this file: scalar; w8a8_avx2.cpp; w8a8_avx512vnni.cpp)
// computes the same int32 sums and applies the same epilogue (w8a8.h), so
// all return bit-identical results. This file owns packing, argument
// checks, the activation copy each kernel reads, and the split of panels
// over lq_rt's thread pool.
//
//===----------------------------------------------------------------------===//

#include "w8a8.h"
#include "int_dot_isa.h"

#include "../core/threads.h"
#include "lq_rt/kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace lq_rt::w8a8 {
namespace {

/// The portable kernel: the same sums in plain C++.
void scalarPanels(const Args &a, int64_t p0, int64_t p1) {
  const auto *x = static_cast<const int8_t *>(a.x);
  const int64_t kp = a.K4 * 4;
  for (int64_t p = p0; p < p1; ++p) {
    const int8_t *panel = a.packed + p * a.panelBytes + kHeader;
    const int64_t n0 = p * kWidth, nr = std::min(kWidth, a.N - n0);
    for (int64_t m = 0; m < a.M; ++m) {
      const int8_t *xr = x + m * kp;
      int32_t acc[kWidth] = {};
      for (int64_t b = 0; b < a.K4; ++b) {
        const int8_t *blk = panel + b * kBlock;
        for (int64_t j = 0; j < kWidth; ++j)
          for (int64_t i = 0; i < 4; ++i)
            acc[j] += int32_t(xr[4 * b + i]) * int32_t(blk[4 * j + i]);
      }
      const float sx = a.sx[a.perToken ? m : 0];
      for (int64_t j = 0; j < nr; ++j)
        a.C[m * a.ldc + n0 + j] =
            epilogue(acc[j], sx, a.sw[n0 + j], a.bias, n0 + j);
    }
  }
}

using Impl = IntDotImpl;
Impl current() { return intDotImpl(); }

} // namespace
} // namespace lq_rt::w8a8

using namespace lq_rt::w8a8;

extern "C" {

int64_t lq_rt_w8a8_panel_bytes(int64_t K) {
  return kHeader + (K + 3) / 4 * kBlock;
}

int64_t lq_rt_packed_w8a8_size(int64_t N, int64_t K) {
  return (N + kWidth - 1) / kWidth * lq_rt_w8a8_panel_bytes(K);
}

void lq_rt_pack_w8a8(const int8_t *w, int64_t N, int64_t K, int8_t *out) {
  const int64_t K4 = (K + 3) / 4, pb = lq_rt_w8a8_panel_bytes(K);
  for (int64_t p = 0; p * kWidth < N; ++p) {
    int8_t *panel = out + p * pb;
    int32_t comp[kWidth] = {};
    for (int64_t j = 0; j < kWidth; ++j) {
      const int64_t n = p * kWidth + j;
      for (int64_t b = 0; b < K4; ++b)
        for (int64_t i = 0; i < 4; ++i) {
          const int64_t k = 4 * b + i;
          const int8_t v = n < N && k < K ? w[n * K + k] : 0;
          panel[kHeader + b * kBlock + 4 * j + i] = v;
          comp[j] += 128 * int32_t(v);
        }
    }
    std::memcpy(panel, comp, sizeof comp);
  }
}

const char *lq_rt_w8a8_isa(void) {
  switch (current()) {
  case Impl::Vnni: return "avx512-vnni";
  case Impl::Avx2: return "avx2";
  case Impl::Scalar: return "scalar";
  }
  return "scalar";
}

int lq_rt_gemm_w8a8(int64_t M, int64_t N, int64_t K, const int8_t *xq,
                    int64_t ldx, const float *sx, int32_t per_token,
                    const int8_t *packed, const float *sw, const float *bias,
                    float *C, int64_t ldc) {
  if (M < 0 || N < 0 || K < 0 || K >= 131072 || ldx < K || ldc < N)
    return -1;
  if (M == 0 || N == 0)
    return 0;
  if ((K > 0 && !xq) || !sx || !packed || !sw || !C)
    return -1;
  const Impl impl = current();
  const int64_t K4 = (K + 3) / 4, kp = K4 * 4;
  // The activations in the kernel's form, zero-padded to K4 * 4 columns
  // (M * K bytes: small next to the N * K weight bytes the call reads).
  std::vector<uint8_t> xu;
  std::vector<int16_t> xs;
  std::vector<int8_t> x8;
  const void *x = nullptr;
  switch (impl) {
  case Impl::Vnni:
    xu.assign(size_t(M * kp), 0x80);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k)
        xu[m * kp + k] = uint8_t(xq[m * ldx + k]) ^ 0x80;
    x = xu.data();
    break;
  case Impl::Avx2:
    xs.assign(size_t(M * kp), 0);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k)
        xs[m * kp + k] = xq[m * ldx + k];
    x = xs.data();
    break;
  case Impl::Scalar:
    x8.assign(size_t(M * kp), 0);
    for (int64_t m = 0; m < M; ++m)
      if (K)
        std::memcpy(x8.data() + m * kp, xq + m * ldx, size_t(K));
    x = x8.data();
    break;
  }
  Args a{M,  N,  K4,  (N + kWidth - 1) / kWidth, lq_rt_w8a8_panel_bytes(K),
         x,  packed, sx, per_token != 0, sw, bias, C, ldc};
  lq_rt::runIntDotPanels(impl, a, M, N, K, avx512vnni::panels, avx2::panels,
                         scalarPanels);
  return 0;
}

} // extern "C"
