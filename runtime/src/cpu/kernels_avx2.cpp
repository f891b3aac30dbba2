//===- kernels_avx2.cpp - AVX2 + FMA kernels -----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
// Compiled with -mavx2 -mfma; only called when the CPU has them.

#include "../core/hadamard_tables.h"
#include "../core/threads.h"
#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>
#include <vector>

namespace lq_rt::avx2 {
using vf = __m256;
constexpr int64_t VW = 8;
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vset1(float x) { return _mm256_set1_ps(x); }
static inline vf vzero() { return _mm256_setzero_ps(); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline float vsum(vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// Lane i of the result = the horizontal sum of a[i], i < 8 (two hadd levels
// and one cross-lane add for all eight).
static inline vf blockSum(const vf *a) {
  const __m256 t0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 t1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20),
                       _mm256_permute2f128_ps(t0, t1, 0x31));
}
// Quantized-code decoders (see kernels_q_impl.inc): a 16-entry table is two
// 8-entry vpermps, blended on bit 3 of the index.
struct Lut4 {
  __m256 lo, hi;
};
static inline Lut4 makeLut4(const float *t) {
  return {_mm256_loadu_ps(t), _mm256_loadu_ps(t + 8)};
}
static inline vf lookup4(__m256i i, const Lut4 &l) {
  __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(i, 28));
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(l.lo, i),
                          _mm256_permutevar8x32_ps(l.hi, i), sel);
}
static inline void decode4(const uint8_t *p, const Lut4 &l, vf *out) {
  for (int h = 0; h < 2; ++h) {
    __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * h)));
    out[h] = lookup4(b, l);
    out[2 + h] = lookup4(_mm256_srli_epi32(b, 4), l);
  }
}
template <bool Signed> static inline void decode8(const uint8_t *p, vf *out) {
  for (int j = 0; j < 4; ++j) {
    __m128i v = _mm_loadl_epi64((const __m128i *)(p + 8 * j));
    out[j] = _mm256_cvtepi32_ps(Signed ? _mm256_cvtepi8_epi32(v)
                                       : _mm256_cvtepu8_epi32(v));
  }
}
// FP8 bytes to f32 without a table (see kernels_avx512.cpp).
template <bool E5M2> static inline vf fp8ToF32(const uint8_t *p) {
  const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
  const __m256i mag = _mm256_and_si256(b, _mm256_set1_epi32(0x7F));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x80)), 24);
  const __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(mag, E5M2 ? 21 : 20),
                                          _mm256_set1_epi32((E5M2 ? 112 : 120) << 23));
  const __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(mag),
                                   _mm256_set1_ps(E5M2 ? 0x1p-16f : 0x1p-9f));
  const __m256 isSub = _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32(E5M2 ? 4 : 8), mag));
  __m256 f = _mm256_blendv_ps(_mm256_castsi256_ps(normal), sub, isSub);
  f = _mm256_or_ps(f, _mm256_castsi256_ps(sign));
  if constexpr (E5M2) {
    const __m256 inf = _mm256_castsi256_ps(_mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7C)));
    const __m256 nan = _mm256_castsi256_ps(_mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7C)));
    f = _mm256_blendv_ps(f, _mm256_castsi256_ps(_mm256_or_si256(
                                sign, _mm256_set1_epi32(0x7f800000))), inf);
    return _mm256_blendv_ps(f, _mm256_set1_ps(NAN), nan);
  } else {
    const __m256 nan = _mm256_castsi256_ps(_mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7F)));
    return _mm256_blendv_ps(f, _mm256_set1_ps(NAN), nan);
  }
}
template <bool E5M2> static inline void decodeFp8(const uint8_t *p, vf *out) {
  for (int j = 0; j < 4; ++j)
    out[j] = fp8ToF32<E5M2>(p + 8 * j);
}
#include "kernels_impl.inc"
#include "kernels_q_impl.inc"
#include "kernels_kv_impl.inc"
#include "kernels_hadamard_impl.inc"
} // namespace lq_rt::avx2
