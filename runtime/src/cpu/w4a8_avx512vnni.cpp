//===- w4a8_avx512vnni.cpp - int8 x int4 GEMM with vpdpbusd --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; only called
// when the CPU has them (w4a8.cpp checks).
//
// A 64-byte block of a packed group is 16 columns x 8 k as nibbles; AND
// 0x0F gives u[.., 8c + i] and a 16-bit shift by 4 then AND gives
// u[.., 8c + 4 + i], each a 16-column x 4-deep u8 operand of
// vpdpbusd acc, u, x: acc[j] += sum_{i<4} u8(u[4j+i]) * s8(x[i]), with the
// row's 4 activation bytes broadcast to all 16 lanes. At the end of a group
// the int32 sums become acc - z' * xsum (exact) and are added to the row's
// f32 sums as float(d) * sw (w4a8.h's order, lane-wise).
//
// Tiles of MR rows x NP panels (16 NP columns):
//  - prefill (M > 4): 8 x 2, one accumulator per output (16 zmm), each
//    unpacked pair of blocks reused by 8 rows while the panel pair stays
//    in L1 across row blocks; the f32 group sums live in a stack buffer
//    (touched once per group, i.e. per 32 vpdpbusd per output at G = 128);
//  - decode (M <= 4, the GEMV form): M x 2 with separate accumulators for
//    the low and high nibbles (and U = 2 interleaved blocks for M = 1), so
//    4-8 independent vpdpbusd chains per row cover the instruction's
//    latency while the panels stream through once.
//
//===----------------------------------------------------------------------===//

#include "w4a8.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace lq_rt::w4a8::avx512vnni {
namespace {

inline int32_t load32(const int8_t *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// S accumulator sets per output: block c's low nibbles go to set
/// (2 c) % S, its high nibbles to (2 c + 1) % S.
template <int MR, int NP, int S>
void tile(const Args &a, int64_t m0, int64_t p0) {
  const int8_t *x = a.x + m0 * a.ldx;
  const int8_t *panel[NP];
  for (int j = 0; j < NP; ++j)
    panel[j] = a.packed + (p0 + j) * a.panelBytes;
  const int64_t hdr = kScales + (a.asym ? kZeros : 0);
  const __m512i low = _mm512_set1_epi8(0x0F);
  alignas(64) float f[MR][NP][kWidth];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j)
      _mm512_store_ps(f[i][j], _mm512_setzero_ps());
  // Prefetch distance: the next tile's panels when a panel pair is short
  // (a decode step of a small model), else 3 KB ahead in the stream (one
  // core, 4096 x 4096 / 11008 decode from DRAM, interleaved runs: 1 KB
  // 16.1 / 17.1 GB/s, 2 KB 16.3 / 18.4, 3 KB 16.9 / 18.2, 4 KB and more
  // or into L2 only (prefetcht2) slower).
  const int64_t ahead =
      NP * a.panelBytes <= 16384 ? NP * a.panelBytes : int64_t(3072);
  for (int64_t g = 0; g < a.groups; ++g) {
    const int8_t *codes[NP];
    for (int j = 0; j < NP; ++j)
      codes[j] = panel[j] + g * a.groupBytes + hdr;
    const int8_t *xg = x + g * a.group;
    __m512i acc[S][MR][NP];
    for (int s = 0; s < S; ++s)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NP; ++j)
          acc[s][i][j] = _mm512_setzero_si512();
    auto step = [&](int64_t c, int s0) {
      __m512i lo[NP], hi[NP];
      for (int j = 0; j < NP; ++j) {
        _mm_prefetch((const char *)(codes[j] + c * kBlock + ahead),
                     _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(codes[j] + c * kBlock);
        lo[j] = _mm512_and_si512(v, low);
        hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      }
      constexpr int s1 = S > 1 ? 1 : 0;
      for (int i = 0; i < MR; ++i) {
        const __m512i xl = _mm512_set1_epi32(load32(xg + i * a.ldx + 8 * c));
        const __m512i xh =
            _mm512_set1_epi32(load32(xg + i * a.ldx + 8 * c + 4));
        for (int j = 0; j < NP; ++j) {
          acc[s0][i][j] = _mm512_dpbusd_epi32(acc[s0][i][j], lo[j], xl);
          acc[(s0 + s1) % S][i][j] =
              _mm512_dpbusd_epi32(acc[(s0 + s1) % S][i][j], hi[j], xh);
        }
      }
    };
    int64_t c = 0;
    if constexpr (S == 4)
      for (; c + 2 <= a.blocks; c += 2) {
        step(c, 0);
        step(c + 1, 2);
      }
    for (; c < a.blocks; ++c)
      step(c, 0);
    // Group end, lane-wise in w4a8::groupStep's order.
    for (int j = 0; j < NP; ++j) {
      const int8_t *grp = panel[j] + g * a.groupBytes;
      const __m512 sw = _mm512_loadu_ps(reinterpret_cast<const float *>(grp));
      const __m512i z = a.asym ? _mm512_loadu_si512(grp + kScales)
                               : _mm512_set1_epi32(8);
      for (int i = 0; i < MR; ++i) {
        __m512i d = acc[0][i][j];
        for (int s = 1; s < S; ++s)
          d = _mm512_add_epi32(d, acc[s][i][j]);
        const __m512i xs = _mm512_set1_epi32(a.xsum[(m0 + i) * a.groups + g]);
        d = _mm512_sub_epi32(d, _mm512_mullo_epi32(z, xs));
        const __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(d), sw);
        _mm512_store_ps(f[i][j], _mm512_add_ps(_mm512_load_ps(f[i][j]), p));
      }
    }
  }
  // Epilogue: y = f * sx, y = y + bias.
  for (int j = 0; j < NP; ++j) {
    const int64_t n0 = (p0 + j) * kWidth;
    const int64_t nr = std::min(kWidth, a.N - n0);
    const __mmask16 mask = __mmask16((1u << nr) - 1);
    const __m512 bias =
        a.bias ? _mm512_maskz_loadu_ps(mask, a.bias + n0) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      const float sx = a.sx[a.perToken ? m0 + i : 0];
      __m512 y = _mm512_mul_ps(_mm512_load_ps(f[i][j]), _mm512_set1_ps(sx));
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
  case 1: return tile<1, NP, 2>(a, m, p);
  case 2: return tile<2, NP, 2>(a, m, p);
  case 3: return tile<3, NP, 2>(a, m, p);
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

} // namespace lq_rt::w4a8::avx512vnni
