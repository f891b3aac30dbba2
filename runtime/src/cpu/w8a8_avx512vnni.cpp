//===- w8a8_avx512vnni.cpp - int8 GEMM with vpdpbusd ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; only called
// when the CPU has them (w8a8.cpp checks).
//
// vpdpbusd acc, a, w: acc[j] += sum_{i<4} u8(a[4j+i]) * s8(w[4j+i]). A
// 64-byte block of a packed panel is 16 columns x 4 consecutive k, and `a`
// is x[m, 4b..4b+3] + 128 broadcast to all 16 lanes, so one instruction does
// 64 multiply-adds of one row against 16 columns. The +128 is taken back
// once per output: acc - 128 * sum_k w[n, k] (the panel header). Partial
// sums wrap modulo 2^32 (vpdpbusd does not saturate), which is harmless:
// the final difference is the exact sum, which fits in int32.
//
// Tiles of MR rows x NP panels (16 NP columns) with U accumulators per
// output interleaved along K:
//  - prefill (M > 4): 8 x 2 (16 zmm accumulators, 2 weight loads and 8
//    broadcasts per 4-deep K step), each 128-byte pair of blocks reused by
//    8 rows while the panel pair stays in L1 across row blocks;
//  - decode (M <= 4, the GEMV form): M x 2 with U = 4 (M = 1) or 2, so 8 or
//    more independent vpdpbusd chains cover its latency while the panels
//    stream through once.
//
//===----------------------------------------------------------------------===//

#include "w8a8.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace lq_rt::w8a8::avx512vnni {
namespace {

inline int32_t load32(const uint8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int MR, int NP, int U>
void tile(const Args &a, int64_t m0, int64_t p0) {
  const int64_t kp = a.K4 * 4;
  const auto *x = static_cast<const uint8_t *>(a.x) + m0 * kp;
  const int8_t *w[NP];
  for (int j = 0; j < NP; ++j)
    w[j] = a.packed + (p0 + j) * a.panelBytes + kHeader;
  __m512i acc[U][MR][NP];
  for (int u = 0; u < U; ++u)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NP; ++j)
        acc[u][i][j] = _mm512_setzero_si512();
  // Software prefetch: 1 KB ahead in each panel's stream; for short
  // panels (small K, a decode step of a small model) the same position of
  // the next tile's panels instead, so a new tile's first blocks are not
  // a DRAM miss each (the hardware prefetcher needs a few misses to pick
  // up a new stream).
  const int64_t ahead =
      NP * a.panelBytes <= 16384 ? NP * a.panelBytes : int64_t(1024);
  int64_t b = 0;
  for (; b + U <= a.K4; b += U)
    for (int u = 0; u < U; ++u) {
      __m512i wv[NP];
      for (int j = 0; j < NP; ++j) {
        _mm_prefetch((const char *)(w[j] + (b + u) * kBlock + ahead),
                     _MM_HINT_T0);
        wv[j] = _mm512_loadu_si512(w[j] + (b + u) * kBlock);
      }
      for (int i = 0; i < MR; ++i) {
        const __m512i xv = _mm512_set1_epi32(load32(x + i * kp + 4 * (b + u)));
        for (int j = 0; j < NP; ++j)
          acc[u][i][j] = _mm512_dpbusd_epi32(acc[u][i][j], xv, wv[j]);
      }
    }
  for (; b < a.K4; ++b) {
    __m512i wv[NP];
    for (int j = 0; j < NP; ++j)
      wv[j] = _mm512_loadu_si512(w[j] + b * kBlock);
    for (int i = 0; i < MR; ++i) {
      const __m512i xv = _mm512_set1_epi32(load32(x + i * kp + 4 * b));
      for (int j = 0; j < NP; ++j)
        acc[0][i][j] = _mm512_dpbusd_epi32(acc[0][i][j], xv, wv[j]);
    }
  }
  // Epilogue, lane-wise in w8a8::epilogue's order: s = sx * sw,
  // y = float(acc) * s, y = y + bias.
  for (int j = 0; j < NP; ++j) {
    const int64_t n0 = (p0 + j) * kWidth;
    const int64_t nr = std::min(kWidth, a.N - n0);
    const __mmask16 mask = __mmask16((1u << nr) - 1);
    const __m512i comp = _mm512_loadu_si512(w[j] - kHeader);
    const __m512 sw = _mm512_maskz_loadu_ps(mask, a.sw + n0);
    const __m512 bias =
        a.bias ? _mm512_maskz_loadu_ps(mask, a.bias + n0) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      __m512i s = acc[0][i][j];
      for (int u = 1; u < U; ++u)
        s = _mm512_add_epi32(s, acc[u][i][j]);
      s = _mm512_sub_epi32(s, comp);
      const float sx = a.sx[a.perToken ? m0 + i : 0];
      __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(s),
                               _mm512_mul_ps(_mm512_set1_ps(sx), sw));
      if (a.bias)
        y = _mm512_add_ps(y, bias);
      _mm512_mask_storeu_ps(a.C + (m0 + i) * a.ldc + n0, mask, y);
    }
  }
}

/// Rows [0, M) of panels [p, p + NP) in blocks of 8, the last block's rows
/// through the matching instantiation.
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
  default: return;
  }
}

template <int NP> void decode(const Args &a, int64_t p) {
  switch (a.M) {
  case 1: return tile<1, NP, 4>(a, 0, p);
  case 2: return tile<2, NP, 2>(a, 0, p);
  case 3: return tile<3, NP, 2>(a, 0, p);
  default: return tile<4, NP, 2>(a, 0, p);
  }
}

} // namespace

void panels(const Args &a, int64_t p0, int64_t p1) {
  int64_t p = p0;
  for (; p + 2 <= p1; p += 2)
    a.M <= 4 ? decode<2>(a, p) : prefill<2>(a, p);
  if (p < p1)
    a.M <= 4 ? decode<1>(a, p) : prefill<1>(a, p);
}

} // namespace lq_rt::w8a8::avx512vnni
