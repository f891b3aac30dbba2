//===- gram.cpp - Accumulated Gram matrix XᵀX (SYRK) -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// GPTQ's Hessian proxy H = Σ_calls XᵀX (arXiv:2210.17323, eq. 2; the 2/n
// factor is applied by the caller) over every calibration call of a linear,
// X: [M tokens, K channels]. H is symmetric, so only its lower triangle is
// formed (a SYRK): the K columns are cut into blocks of B, and block row
// b, rows [bB, (b+1)B), needs only columns [0, (b+1)B):
//
//   H[bB:(b+1)B, 0:(b+1)B] += X[:, bB:(b+1)B]ᵀ · X[:, 0:(b+1)B]
//
// which is one SGEMM NT over the transposed activations Xᵀ [K, M] (both
// operands token-contiguous), M·K²·(1 + B/K) flops per call instead of the
// full product's 2·M·K². The right operand is Xᵀ packed once per call into
// the 16-channel panels of lq_rt_pack_f32_panels (O(M·K) work against the
// product's O(M·K²)), so the product runs lq_rt_sgemm_packed's register-
// tiled micro-kernel on every block row without repacking (95 against 66
// GFLOP/s per core for the unpacked SGEMM at these shapes, bench/
// results/gemv.md). Block rows end on multiples of 16 channels (or at K),
// so block row b reads a prefix of the panels. Each block row's float result is folded into
// the double-precision running sum while it is still in cache (the per-call
// products are exact-in-float sums over M tokens; the running sum over calls
// is double, so thousands of calls do not lose the small ones).
//
//===----------------------------------------------------------------------===//

#include "lq_rt/gram.h"
#include "lq_rt/kernels.h"

#include "../core/threads.h"

#include <algorithm>
#include <vector>

extern "C" void lq_rt_gram_accumulate(int64_t M, int64_t K, const float *X,
                                      int64_t stride_m, int64_t stride_k,
                                      double *H) {
  if (M <= 0 || K <= 0)
    return;
  // Xᵀ [K, M], token-contiguous: the left operand's rows.
  // (Scratch reused across calls; workers see it through plain pointers,
  // never by the thread_local names, which would be their own empty ones.)
  thread_local std::vector<float> xtBuffer, blockBuffer, panelBuffer;
  xtBuffer.resize(size_t(K * M));
  float *xt = xtBuffer.data();
  lq_rt::parallelFor(K, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t m = 0; m < M; ++m)
        xt[k * M + m] = X[m * stride_m + k * stride_k];
  });
  // Block rows of 256: the triangle's waste is B/K of the full product's
  // flops (1/16 at K = 4096), and a block row's float result (B·K floats,
  // 4 MiB at K = 4096) stays in the last-level cache for the fold.
  constexpr int64_t B = 256;
  // lq_rt_pack_f32_panels' layout of Xᵀ, read straight from X (a panel's
  // 16 channels of one token are adjacent in X): panels[p][m][j] =
  // X[m, 16 p + j], zero past K.
  constexpr int64_t W = LQ_RT_PACK_WIDTH;
  static_assert(B % W == 0, "block rows end on panel bounds");
  const int64_t numPanels = (K + W - 1) / W;
  panelBuffer.resize(size_t(lq_rt_packed_f32_size(K, M)));
  float *panels = panelBuffer.data();
  lq_rt::parallelFor(numPanels, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < W; ++j) {
          const int64_t k = p * W + j;
          panels[(p * M + m) * W + j] =
              k < K ? X[m * stride_m + k * stride_k] : 0.0f;
        }
  });
  blockBuffer.resize(size_t(std::min(B, K) * K));
  float *block = blockBuffer.data();
  for (int64_t r0 = 0; r0 < K; r0 += B) {
    const int64_t rows = std::min(B, K - r0), cols = r0 + rows;
    lq_rt_sgemm_packed(rows, cols, M, xt + r0 * M, M, panels, block, cols);
    lq_rt::parallelFor(rows, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float *src = block + i * cols;
        double *dst = H + (r0 + i) * K;
        for (int64_t j = 0; j <= r0 + i; ++j)
          dst[j] += double(src[j]);
      }
    });
  }
}

extern "C" void lq_rt_gram_symmetrize(int64_t K, double *H) {
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < i; ++j)
      H[j * K + i] = H[i * K + j];
}
