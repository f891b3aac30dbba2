//===- w4a8_avx2.cpp - int8 x int4 GEMM with vpmaddubsw ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled with -mavx2; only called when the CPU has it.
//
// A 64-byte packed block is two 32-byte halves of 8 columns x 8 k. Per
// half, AND 0x0F / shift+AND give the low (k = 8c..8c+3) and high
// (8c+4..8c+7) nibbles as u8; vpmaddubsw multiplies them with the row's 4
// activation bytes (s8, broadcast) and adds adjacent pairs into int16
// lanes (|2 * 15 * 128| = 3840: exact, never saturates); the low and high
// results are added in int16 (|7680| < 2^15), then vpmaddwd by ones adds
// the remaining pair into the column's int32 lane. Lanes come out in column
// order, so the group end is lane-wise (w4a8.h's order) with no shuffles.
//
// Tiles: MR rows of one panel, two accumulators (8 columns each) per row;
// prefill MR = 4, decode the M <= 4 rows at once.
//
//===----------------------------------------------------------------------===//

#include "w4a8.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace lq_rt::w4a8::avx2 {
namespace {

inline int32_t load32(const int8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int MR> void tile(const Args &a, int64_t m0, int64_t p) {
  const int8_t *x = a.x + m0 * a.ldx;
  const int8_t *panel = a.packed + p * a.panelBytes;
  const int64_t hdr = kScales + (a.asym ? kZeros : 0);
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 f[MR][2];
  for (int i = 0; i < MR; ++i)
    f[i][0] = f[i][1] = _mm256_setzero_ps();
  for (int64_t g = 0; g < a.groups; ++g) {
    const int8_t *grp = panel + g * a.groupBytes;
    const int8_t *codes = grp + hdr;
    const int8_t *xg = x + g * a.group;
    __m256i acc[MR][2];
    for (int i = 0; i < MR; ++i)
      acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    for (int64_t c = 0; c < a.blocks; ++c) {
      _mm_prefetch((const char *)(codes + c * kBlock + 1024), _MM_HINT_T0);
      __m256i xl[MR], xh[MR];
      for (int i = 0; i < MR; ++i) {
        xl[i] = _mm256_set1_epi32(load32(xg + i * a.ldx + 8 * c));
        xh[i] = _mm256_set1_epi32(load32(xg + i * a.ldx + 8 * c + 4));
      }
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_loadu_si256(
            (const __m256i *)(codes + c * kBlock + 32 * h));
        const __m256i lo = _mm256_and_si256(v, low);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        for (int i = 0; i < MR; ++i) {
          const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl[i]),
                                               _mm256_maddubs_epi16(hi, xh[i]));
          acc[i][h] =
              _mm256_add_epi32(acc[i][h], _mm256_madd_epi16(s16, ones));
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 sw =
          _mm256_loadu_ps(reinterpret_cast<const float *>(grp) + 8 * h);
      const __m256i z =
          a.asym ? _mm256_loadu_si256((const __m256i *)(grp + kScales) + h)
                 : _mm256_set1_epi32(8);
      for (int i = 0; i < MR; ++i) {
        const __m256i xs = _mm256_set1_epi32(a.xsum[(m0 + i) * a.groups + g]);
        const __m256i d =
            _mm256_sub_epi32(acc[i][h], _mm256_mullo_epi32(z, xs));
        f[i][h] =
            _mm256_add_ps(f[i][h], _mm256_mul_ps(_mm256_cvtepi32_ps(d), sw));
      }
    }
  }
  const int64_t n0 = p * kWidth, nr = std::min(kWidth, a.N - n0);
  for (int i = 0; i < MR; ++i) {
    alignas(32) float out[kWidth];
    _mm256_store_ps(out, f[i][0]);
    _mm256_store_ps(out + 8, f[i][1]);
    const float sx = a.sx[a.perToken ? m0 + i : 0];
    float *c = a.C + (m0 + i) * a.ldc + n0;
    for (int64_t j = 0; j < nr; ++j)
      c[j] = epilogue(out[j], sx, a.bias, n0 + j);
  }
}

void panel(const Args &a, int64_t p) {
  if (a.M <= 4) {
    switch (a.M) {
    case 1: return tile<1>(a, 0, p);
    case 2: return tile<2>(a, 0, p);
    case 3: return tile<3>(a, 0, p);
    default: return tile<4>(a, 0, p);
    }
  }
  int64_t m = 0;
  for (; m + 4 <= a.M; m += 4)
    tile<4>(a, m, p);
  switch (a.M - m) {
  case 3: return tile<3>(a, m, p);
  case 2: return tile<2>(a, m, p);
  case 1: return tile<1>(a, m, p);
  default: return;
  }
}

} // namespace

void panels(const Args &a, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p)
    panel(a, p);
}

} // namespace lq_rt::w4a8::avx2
