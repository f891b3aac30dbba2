//===- bf16_avx512.cpp - BF16 weights widened to f32, AVX-512F -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled with -mavx512f -mavx512vl -mfma; only called when the CPU has
// them (bf16.cpp checks).
//
// A 64-byte packed block holds 16 columns x 2 k as 32-bit lanes
// (W[n, 2b] low, W[n, 2b + 1] high). vpslld 16 gives the even-k weights as
// f32 and vpandd 0xFFFF0000 the odd-k ones, both exact; each FMAs with the
// broadcast activation x[m, 2b] / x[m, 2b + 1] into one accumulator per
// (row, panel). Tiles of MR rows x NP panels:
//  - prefill (M >= 5): 8 x 2 (16 zmm accumulators, each 128-byte block pair
//    widened once for 8 rows, the panel pair staying in L1/L2 across row
//    blocks);
//  - decode (M <= 4): M x 4 panels, even and odd k in separate accumulators
//    for M <= 2 (U = 2), so 8+ independent FMA chains cover the latency
//    while the weights stream through once.
//
//===----------------------------------------------------------------------===//

#include "bf16.h"

#include <immintrin.h>

#include <algorithm>

namespace lq_rt::bf16::avx512 {
namespace {

template <int MR, int NP, int U>
void tile(const Args &a, int64_t m0, int64_t p0) {
  const uint16_t *w[NP];
  for (int j = 0; j < NP; ++j)
    w[j] = a.panel(p0 + j);
  const float *x[MR];
  for (int i = 0; i < MR; ++i)
    x[i] = a.A + (m0 + i) * a.lda;
  __m512 acc[U][MR][NP];
  for (int u = 0; u < U; ++u)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NP; ++j)
        acc[u][i][j] = _mm512_setzero_ps();
  const __m512i hi = _mm512_set1_epi32(int32_t(0xFFFF0000u));
  // Prefetch 1 KB ahead in each panel (the next tile's panels when these
  // are short), as the int8 kernels do.
  const int64_t panelBytes = a.K2 * kBlock * 2;
  const int64_t ahead =
      NP * panelBytes <= 16384 ? NP * panelBytes : int64_t(1024);
  const int64_t pairs = a.K / 2;
  for (int64_t b = 0; b < pairs; ++b) {
    __m512 we[NP], wo[NP];
    for (int j = 0; j < NP; ++j) {
      const char *blk = reinterpret_cast<const char *>(w[j] + b * kBlock);
      _mm_prefetch(blk + ahead, _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(blk);
      we[j] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      wo[j] = _mm512_castsi512_ps(_mm512_and_si512(v, hi));
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 xe = _mm512_set1_ps(x[i][2 * b]);
      const __m512 xo = _mm512_set1_ps(x[i][2 * b + 1]);
      for (int j = 0; j < NP; ++j) {
        acc[0][i][j] = _mm512_fmadd_ps(xe, we[j], acc[0][i][j]);
        acc[U - 1][i][j] = _mm512_fmadd_ps(xo, wo[j], acc[U - 1][i][j]);
      }
    }
  }
  if (a.K % 2) { // the last, unpaired k: even half only
    const int64_t b = pairs;
    for (int j = 0; j < NP; ++j) {
      const __m512 we = _mm512_castsi512_ps(
          _mm512_slli_epi32(_mm512_loadu_si512(w[j] + b * kBlock), 16));
      for (int i = 0; i < MR; ++i)
        acc[0][i][j] =
            _mm512_fmadd_ps(_mm512_set1_ps(x[i][2 * b]), we, acc[0][i][j]);
    }
  }
  for (int j = 0; j < NP; ++j) {
    const int64_t n0 = (p0 + j) * kWidth;
    const int64_t nr = std::min(kWidth, a.N - n0);
    const __mmask16 mask = __mmask16((1u << nr) - 1);
    const __m512 bias =
        a.bias ? _mm512_maskz_loadu_ps(mask, a.bias + n0) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      __m512 y = acc[0][i][j];
      if (U > 1)
        y = _mm512_add_ps(y, acc[U - 1][i][j]);
      if (a.bias)
        y = _mm512_add_ps(y, bias);
      _mm512_mask_storeu_ps(a.C + (m0 + i) * a.ldc + n0, mask, y);
    }
  }
}

template <int NP> void decode(const Args &a, int64_t p) {
  switch (a.M) {
  case 1: return tile<1, NP, 2>(a, 0, p);
  case 2: return tile<2, NP, 2>(a, 0, p);
  case 3: return tile<3, NP, 1>(a, 0, p);
  case 4: return tile<4, NP, 1>(a, 0, p);
  }
}

template <int NP> void prefill(const Args &a, int64_t p) {
  int64_t m = 0;
  for (; m + 8 <= a.M; m += 8)
    tile<8, NP, 1>(a, m, p);
  switch (a.M - m) {
  case 1: return tile<1, NP, 1>(a, m, p);
  case 2: return tile<2, NP, 1>(a, m, p);
  case 3: return tile<3, NP, 1>(a, m, p);
  case 4: return tile<4, NP, 1>(a, m, p);
  case 5: return tile<5, NP, 1>(a, m, p);
  case 6: return tile<6, NP, 1>(a, m, p);
  case 7: return tile<7, NP, 1>(a, m, p);
  }
}

} // namespace

void panels(const Args &a, int64_t p0, int64_t p1) {
  int64_t p = p0;
  if (a.M <= 4) {
    for (; p + 4 <= p1; p += 4)
      decode<4>(a, p);
    for (; p < p1; ++p)
      decode<1>(a, p);
    return;
  }
  for (; p + 2 <= p1; p += 2)
    prefill<2>(a, p);
  for (; p < p1; ++p)
    prefill<1>(a, p);
}

} // namespace lq_rt::bf16::avx512
