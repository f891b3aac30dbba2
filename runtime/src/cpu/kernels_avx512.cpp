//===- kernels_avx512.cpp - AVX-512 kernels ------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
// Compiled with -mavx512f -mavx512vl -mfma; only called when the CPU has them.

#include "../core/hadamard_tables.h"
#include "../core/threads.h"
#include "gemv_i16.h"
#include "q4_dpbf16.h"
#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>
#include <vector>

namespace lq_rt::avx512 {
using vf = __m512;
constexpr int64_t VW = 16;
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vzero() { return _mm512_setzero_ps(); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline float vsum(vf v) { return _mm512_reduce_add_ps(v); }
// Lane i of the result = the horizontal sum of a[i], i < 16: a transposing
// reduction (15 shuffle pairs and adds, one permute), ~3 ops per input
// where 16 vsum calls cost ~8 each. Attention's scores use it: one dot
// product per cached key and query head.
static inline vf blockSum(const vf *a) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i) // lanes 0-7: a[2i] folded to 8, 8-15: a[2i+1]
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i) // 128-bit lane k: a[4i + k] folded to 4
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; ++i) // lane k: a[8i + k], a[8i + 4 + k], 2 each
    d[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0x44),
                         _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0xEE));
  // Lane 4k + j: a[4j + k].
  const __m512 e = _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88),
                                 _mm512_shuffle_ps(d[0], d[1], 0xDD));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
                                          14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, e);
}
// Quantized-code decoders (see kernels_q_impl.inc): a 16-entry table is one
// vpermps, and vpermps reads only the low 4 bits of each index.
struct Lut4 {
  __m512 t;
};
static inline Lut4 makeLut4(const float *t) { return {_mm512_loadu_ps(t)}; }
static inline void decode4(const uint8_t *p, const Lut4 &l, vf *out) {
  __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
  out[0] = _mm512_permutexvar_ps(b, l.t);
  out[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), l.t);
}
template <bool Signed> static inline void decode8(const uint8_t *p, vf *out) {
  for (int j = 0; j < 2; ++j) {
    __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * j));
    out[j] = _mm512_cvtepi32_ps(Signed ? _mm512_cvtepi8_epi32(v)
                                       : _mm512_cvtepu8_epi32(v));
  }
}
// FP8 bytes to f32 without a table (the KV cache's fast path). Normal codes:
// the byte's exponent and mantissa bits are moved into an f32's and the
// exponent rebiased by an integer add (+120 for E4M3, +112 for E5M2);
// subnormal codes (exponent 0) are their mantissa times 2^-9 / 2^-16, from
// an integer conversion. No f32 subnormal is ever formed, so a host that
// sets DAZ/FTZ decodes the same values. E4M3FN's S.1111.111 is NaN; E5M2's
// exponent 31 is inf (mantissa 0) or NaN.
template <bool E5M2> static inline vf fp8ToF32(const uint8_t *p) {
  const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
  const __m512i mag = _mm512_and_si512(b, _mm512_set1_epi32(0x7F));
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x80)), 24);
  const __m512i normal = _mm512_add_epi32(_mm512_slli_epi32(mag, E5M2 ? 21 : 20),
                                          _mm512_set1_epi32((E5M2 ? 112 : 120) << 23));
  const __m512 sub = _mm512_mul_ps(_mm512_cvtepi32_ps(mag),
                                   _mm512_set1_ps(E5M2 ? 0x1p-16f : 0x1p-9f));
  const __mmask16 isSub = _mm512_cmplt_epi32_mask(mag, _mm512_set1_epi32(E5M2 ? 4 : 8));
  __m512 f = _mm512_mask_mov_ps(_mm512_castsi512_ps(normal), isSub, sub);
  f = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(f), sign));
  if constexpr (E5M2) {
    const __mmask16 inf = _mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7C));
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(mag, _mm512_set1_epi32(0x7C));
    f = _mm512_mask_mov_ps(f, inf, _mm512_castsi512_ps(_mm512_or_si512(
                                       sign, _mm512_set1_epi32(0x7f800000))));
    return _mm512_mask_mov_ps(f, nan, _mm512_set1_ps(NAN));
  } else {
    const __mmask16 nan = _mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7F));
    return _mm512_mask_mov_ps(f, nan, _mm512_set1_ps(NAN));
  }
}
template <bool E5M2> static inline void decodeFp8(const uint8_t *p, vf *out) {
  out[0] = fp8ToF32<E5M2>(p);
  out[1] = fp8ToF32<E5M2>(p + 16);
}
// The 4-bit decode GEMV may take q4_dpbf16.cpp's vdpbf16ps kernel.
#define LQ_RT_Q4_DPBF16 1
#define LQ_RT_GEMV_I16 1
#include "kernels_impl.inc"
#include "kernels_q_impl.inc"
#include "kernels_kv_impl.inc"
#include "kernels_hadamard_impl.inc"
} // namespace lq_rt::avx512
