//===- bf16_avx2.cpp - BF16 weights widened to f32, AVX2+FMA -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled with -mavx2 -mfma; only called when the CPU has them (bf16.cpp
// checks). The AVX-512F kernel's arithmetic (bf16_avx512.cpp) on 256-bit
// vectors: a 64-byte packed block is two halves of 8 columns x 2 k, each
// widened by one shift (even k) and one mask (odd k) into exact f32
// weights that FMA with the broadcast activations. Tiles of MR rows x one
// panel (2 ymm accumulators per row): prefill MR = 4 (8 accumulators, 4
// widened weight vectors, 2 broadcasts: 14 of the 16 registers), decode
// M <= 4 rows at once, two panels for M = 1.
//
//===----------------------------------------------------------------------===//

#include "bf16.h"

#include <immintrin.h>

#include <algorithm>

namespace lq_rt::bf16::avx2 {
namespace {

template <int MR, int NP> void tile(const Args &a, int64_t m0, int64_t p0) {
  constexpr int H = 2 * NP; // 8-column halves
  const uint16_t *w[NP];
  for (int j = 0; j < NP; ++j)
    w[j] = a.panel(p0 + j);
  const float *x[MR];
  for (int i = 0; i < MR; ++i)
    x[i] = a.A + (m0 + i) * a.lda;
  __m256 acc[MR][H];
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < H; ++h)
      acc[i][h] = _mm256_setzero_ps();
  const __m256i hi = _mm256_set1_epi32(int32_t(0xFFFF0000u));
  const int64_t panelBytes = a.K2 * kBlock * 2;
  const int64_t ahead =
      NP * panelBytes <= 16384 ? NP * panelBytes : int64_t(1024);
  const int64_t pairs = a.K / 2;
  for (int64_t b = 0; b < pairs; ++b) {
    __m256 we[H], wo[H];
    for (int h = 0; h < H; ++h) {
      const char *blk =
          reinterpret_cast<const char *>(w[h / 2] + b * kBlock) + 32 * (h % 2);
      if (h % 2 == 0)
        _mm_prefetch(blk + ahead, _MM_HINT_T0);
      const __m256i v =
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk));
      we[h] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
      wo[h] = _mm256_castsi256_ps(_mm256_and_si256(v, hi));
    }
    for (int i = 0; i < MR; ++i) {
      const __m256 xe = _mm256_set1_ps(x[i][2 * b]);
      const __m256 xo = _mm256_set1_ps(x[i][2 * b + 1]);
      for (int h = 0; h < H; ++h)
        acc[i][h] = _mm256_fmadd_ps(xo, wo[h], _mm256_fmadd_ps(xe, we[h], acc[i][h]));
    }
  }
  if (a.K % 2) {
    const int64_t b = pairs;
    for (int h = 0; h < H; ++h) {
      const char *blk =
          reinterpret_cast<const char *>(w[h / 2] + b * kBlock) + 32 * (h % 2);
      const __m256 we = _mm256_castsi256_ps(_mm256_slli_epi32(
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk)), 16));
      for (int i = 0; i < MR; ++i)
        acc[i][h] = _mm256_fmadd_ps(_mm256_set1_ps(x[i][2 * b]), we, acc[i][h]);
    }
  }
  for (int h = 0; h < H; ++h) {
    const int64_t n0 = (p0 + h / 2) * kWidth + 8 * (h % 2);
    const int64_t nr = std::max<int64_t>(0, std::min<int64_t>(8, a.N - n0));
    if (nr == 0)
      continue;
    alignas(32) float tmp[8];
    for (int i = 0; i < MR; ++i) {
      float *c = a.C + (m0 + i) * a.ldc + n0;
      if (nr == 8) {
        __m256 y = acc[i][h];
        if (a.bias)
          y = _mm256_add_ps(y, _mm256_loadu_ps(a.bias + n0));
        _mm256_storeu_ps(c, y);
      } else {
        _mm256_store_ps(tmp, acc[i][h]);
        for (int64_t j = 0; j < nr; ++j)
          c[j] = tmp[j] + (a.bias ? a.bias[n0 + j] : 0.0f);
      }
    }
  }
}

template <int NP> void rows(const Args &a, int64_t p) {
  int64_t m = 0;
  for (; m + 4 <= a.M; m += 4)
    tile<4, NP>(a, m, p);
  switch (a.M - m) {
  case 1: return tile<1, NP>(a, m, p);
  case 2: return tile<2, NP>(a, m, p);
  case 3: return tile<3, NP>(a, m, p);
  }
}

} // namespace

void panels(const Args &a, int64_t p0, int64_t p1) {
  int64_t p = p0;
  if (a.M == 1)
    for (; p + 2 <= p1; p += 2)
      tile<1, 2>(a, 0, p);
  for (; p < p1; ++p)
    rows<1>(a, p);
}

} // namespace lq_rt::bf16::avx2
