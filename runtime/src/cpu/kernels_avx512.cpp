//===- kernels_avx512.cpp - AVX-512 kernels ------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
// Compiled with -mavx512f -mavx512vl -mfma; only called when the CPU has them.

#include "../core/hadamard_tables.h"
#include "../core/threads.h"
#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
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
static inline float vsum(vf v) { return _mm512_reduce_add_ps(v); }
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
#include "kernels_impl.inc"
#include "kernels_q_impl.inc"
#include "kernels_kv_impl.inc"
#include "kernels_hadamard_impl.inc"
} // namespace lq_rt::avx512
