//===- kernels_avx512.cpp - AVX-512 kernels ------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
// Compiled with -mavx512f -mavx512vl -mfma; only called when the CPU has them.

#include "../core/threads.h"
#include "lq_rt/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
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
#include "kernels_impl.inc"
} // namespace lq_rt::avx512
