//===- w8a8_avx2.cpp - int8 GEMM with vpmaddwd ---------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled with -mavx2; only called when the CPU has it.
//
// AVX2 has no u8 x s8 dot into int32 without saturation: vpmaddubsw adds
// two u8 x s8 products into a saturating int16 (255 * 127 * 2 > 32767), so
// it would be wrong for x + 128. Instead both operands are int16: the
// activations are sign-extended once per call (w8a8.cpp), the weights 16
// bytes at a time (vpmovsxbw: 4 columns x 4 k of a packed block), and
// vpmaddwd adds pairs of exact int16 products (|x w| <= 2^14) into int32
// lanes. A 64-byte block gives 4 vectors, lanes (2c, 2c + 1) holding column
// c's sums over k = 4b..4b+1 and 4b+2..4b+3; x[m, 4b..4b+3] is broadcast
// as one 64-bit pattern. At the end vphaddd + vpermq fold lane pairs into
// 8 columns per vector.
//
// Tiles: MR rows of one panel, 4 accumulators per row (16 columns):
// prefill MR = 3 (12 accumulators, the weight vectors converted one at a
// time), decode M <= 4 as rows of 1-2 with U = 2 chains along K for M = 1.
//
//===----------------------------------------------------------------------===//

#include "w8a8.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace lq_rt::w8a8::avx2 {
namespace {

inline int64_t load64(const int16_t *p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

template <int MR, int U>
void tile(const Args &a, int64_t m0, int64_t p) {
  const int64_t kp = a.K4 * 4;
  const auto *x = static_cast<const int16_t *>(a.x) + m0 * kp;
  const int8_t *w = a.packed + p * a.panelBytes + kHeader;
  __m256i acc[U][MR][4];
  for (int u = 0; u < U; ++u)
    for (int i = 0; i < MR; ++i)
      for (int q = 0; q < 4; ++q)
        acc[u][i][q] = _mm256_setzero_si256();
  auto step = [&](int64_t b, int u) {
    __m256i xv[MR];
    for (int i = 0; i < MR; ++i)
      xv[i] = _mm256_set1_epi64x(load64(x + i * kp + 4 * b));
    for (int q = 0; q < 4; ++q) {
      const __m256i wv = _mm256_cvtepi8_epi16(
          _mm_loadu_si128((const __m128i *)(w + b * kBlock + 16 * q)));
      for (int i = 0; i < MR; ++i)
        acc[u][i][q] =
            _mm256_add_epi32(acc[u][i][q], _mm256_madd_epi16(xv[i], wv));
    }
  };
  int64_t b = 0;
  for (; b + U <= a.K4; b += U) {
    _mm_prefetch((const char *)(w + b * kBlock + 1024), _MM_HINT_T0);
    for (int u = 0; u < U; ++u)
      step(b + u, u);
  }
  for (; b < a.K4; ++b)
    step(b, 0);
  const int64_t n0 = p * kWidth, nr = std::min(kWidth, a.N - n0);
  for (int i = 0; i < MR; ++i) {
    __m256i s[4];
    for (int q = 0; q < 4; ++q) {
      s[q] = acc[0][i][q];
      for (int u = 1; u < U; ++u)
        s[q] = _mm256_add_epi32(s[q], acc[u][i][q]);
    }
    // [c0 c0' c1 c1' | c2 c2' c3 c3'] pairs -> columns in order.
    alignas(32) int32_t out[kWidth];
    for (int h = 0; h < 2; ++h)
      _mm256_store_si256(
          (__m256i *)(out + 8 * h),
          _mm256_permute4x64_epi64(_mm256_hadd_epi32(s[2 * h], s[2 * h + 1]),
                                   0xD8));
    const float sx = a.sx[a.perToken ? m0 + i : 0];
    float *c = a.C + (m0 + i) * a.ldc + n0;
    for (int64_t j = 0; j < nr; ++j)
      c[j] = epilogue(out[j], sx, a.sw[n0 + j], a.bias, n0 + j);
  }
}

void panel(const Args &a, int64_t p) {
  if (a.M <= 4) {
    switch (a.M) {
    case 1: return tile<1, 2>(a, 0, p);
    case 2: return tile<2, 1>(a, 0, p);
    case 3: return tile<3, 1>(a, 0, p);
    default: return tile<2, 1>(a, 0, p), tile<2, 1>(a, 2, p);
    }
  }
  int64_t m = 0;
  for (; m + 3 <= a.M; m += 3)
    tile<3, 1>(a, m, p);
  if (a.M - m == 2)
    tile<2, 1>(a, m, p);
  else if (a.M - m == 1)
    tile<1, 1>(a, m, p);
}

} // namespace

void panels(const Args &a, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p)
    panel(a, p);
}

} // namespace lq_rt::w8a8::avx2
