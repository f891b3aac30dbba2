//===- bf16_avx512bf16.cpp - BF16 GEMM with vdpbf16ps -------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled with -mavx512f -mavx512vl -mavx512bf16; only called when the CPU
// has them (bf16.cpp checks). The only translation unit built for AVX-512
// BF16.
//
// vdpbf16ps acc, x, w: acc[j] += x[2j] w[2j] + x[2j+1] w[2j+1] for the 16
// f32 lanes, products exact (8-bit significands), sums rounded to f32 (and
// denormals flushed: Intel SDM, VDPBF16PS). A packed block is 16 columns x 2
// k in exactly that order, and x is the bf16 pair (x[m, 2b], x[m, 2b + 1])
// broadcast to every lane (roundRows rounds the activations once per call,
// 32 at a time with vcvtne2ps2bf16: a scalar loop there cost as much as the
// GEMM itself for K = 768, N = 256),
// so one instruction does 32 multiply-adds of one row against 16 columns:
// twice an f32 FMA's. Tiles: 8 rows x 2 panels (16 accumulators) for
// prefill; M <= 4 rows x 4 panels when forced onto a decode step (tests).
//
//===----------------------------------------------------------------------===//

#include "bf16.h"

#include <immintrin.h>

#include <algorithm>

namespace lq_rt::bf16::avx512bf16 {
namespace {

template <int MR, int NP> void tile(const Args &a, int64_t m0, int64_t p0) {
  const uint16_t *w[NP];
  for (int j = 0; j < NP; ++j)
    w[j] = a.panel(p0 + j);
  const uint32_t *x = a.xb + m0 * a.K2;
  __m512 acc[MR][NP];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j)
      acc[i][j] = _mm512_setzero_ps();
  const int64_t panelBytes = a.K2 * kBlock * 2;
  const int64_t ahead =
      NP * panelBytes <= 16384 ? NP * panelBytes : int64_t(1024);
  for (int64_t b = 0; b < a.K2; ++b) {
    __m512bh wv[NP];
    for (int j = 0; j < NP; ++j) {
      const char *blk = reinterpret_cast<const char *>(w[j] + b * kBlock);
      _mm_prefetch(blk + ahead, _MM_HINT_T0);
      wv[j] = (__m512bh)_mm512_loadu_si512(blk);
    }
    for (int i = 0; i < MR; ++i) {
      const __m512bh xv =
          (__m512bh)_mm512_set1_epi32(int32_t(x[i * a.K2 + b]));
      for (int j = 0; j < NP; ++j)
        acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
    }
  }
  for (int j = 0; j < NP; ++j) {
    const int64_t n0 = (p0 + j) * kWidth;
    const int64_t nr = std::min(kWidth, a.N - n0);
    const __mmask16 mask = __mmask16((1u << nr) - 1);
    const __m512 bias =
        a.bias ? _mm512_maskz_loadu_ps(mask, a.bias + n0) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      __m512 y = acc[i][j];
      if (a.bias)
        y = _mm512_add_ps(y, bias);
      _mm512_mask_storeu_ps(a.C + (m0 + i) * a.ldc + n0, mask, y);
    }
  }
}

template <int NP> void rows(const Args &a, int64_t p) {
  int64_t m = 0;
  for (; m + 8 <= a.M; m += 8)
    tile<8, NP>(a, m, p);
  switch (a.M - m) {
  case 1: return tile<1, NP>(a, m, p);
  case 2: return tile<2, NP>(a, m, p);
  case 3: return tile<3, NP>(a, m, p);
  case 4: return tile<4, NP>(a, m, p);
  case 5: return tile<5, NP>(a, m, p);
  case 6: return tile<6, NP>(a, m, p);
  case 7: return tile<7, NP>(a, m, p);
  }
}

} // namespace

void roundRows(const float *A, int64_t lda, int64_t M, int64_t K, int64_t K2,
               uint32_t *xb) {
  for (int64_t m = 0; m < M; ++m) {
    const float *x = A + m * lda;
    uint32_t *out = xb + m * K2;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16),
                                             _mm512_loadu_ps(x + k));
      _mm512_storeu_si512(out + k / 2, (__m512i)v);
    }
    if (k < K) {
      const __mmask16 lo = __mmask16(K - k >= 16 ? 0xFFFF : (1u << (K - k)) - 1);
      const __mmask16 hi =
          __mmask16(K - k <= 16 ? 0 : (1u << (K - k - 16)) - 1);
      const __m512bh v =
          _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + k + 16),
                              _mm512_maskz_loadu_ps(lo, x + k));
      const int64_t pairs = (K - k + 1) / 2;
      _mm512_mask_storeu_epi32(out + k / 2, __mmask16((1u << pairs) - 1),
                               (__m512i)v);
    }
  }
}

void panels(const Args &a, int64_t p0, int64_t p1) {
  int64_t p = p0;
  if (a.M <= 4)
    for (; p + 4 <= p1; p += 4)
      rows<4>(a, p);
  for (; p + 2 <= p1; p += 2)
    rows<2>(a, p);
  for (; p < p1; ++p)
    rows<1>(a, p);
}

} // namespace lq_rt::bf16::avx512bf16
