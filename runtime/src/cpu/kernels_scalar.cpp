//===- kernels_scalar.cpp - Portable kernels -----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
// One-lane "vectors": the same algorithms in plain C++, for any CPU.

#include "../core/hadamard_tables.h"
#include "../core/threads.h"
#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>
#include <vector>

namespace lq_rt::scalar {
using vf = float;
constexpr int64_t VW = 1;
static inline vf vload(const float *p) { return *p; }
static inline void vstore(float *p, vf v) { *p = v; }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vset1(float x) { return x; }
static inline vf vzero() { return 0.0f; }
static inline vf vmax(vf a, vf b) { return std::max(a, b); }
static inline float vsum(vf v) { return v; }
// blockSum: with one lane, the sum of a[0] is a[0] (the quantized prefill's
// tile reduction calls it). decodeFp8 only makes the shared kernels compile:
// with VW = 1 the decode-attention fast paths that call it are off.
static inline vf blockSum(const vf *a) { return a[0]; }
// Quantized-code decoders (see kernels_q_impl.inc).
struct Lut4 {
  const float *t;
};
static inline Lut4 makeLut4(const float *t) { return {t}; }
static inline void decode4(const uint8_t *p, const Lut4 &l, vf *out) {
  for (int i = 0; i < 16; ++i) {
    out[i] = l.t[p[i] & 15];
    out[16 + i] = l.t[p[i] >> 4];
  }
}
template <bool Signed> static inline void decode8(const uint8_t *p, vf *out) {
  for (int i = 0; i < 32; ++i)
    out[i] = Signed ? float(int8_t(p[i])) : float(p[i]);
}
template <bool E5M2> static inline void decodeFp8(const uint8_t *p, vf *out) {
  for (int i = 0; i < 32; ++i)
    out[i] = E5M2 ? lq_fp8_e5m2_to_f32(p[i]) : lq_fp8_e4m3fn_to_f32(p[i]);
}
#include "kernels_impl.inc"
#include "kernels_q_impl.inc"
#include "kernels_kv_impl.inc"
#include "kernels_hadamard_impl.inc"
} // namespace lq_rt::scalar
