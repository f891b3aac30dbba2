//===- w8a8.h - int8 x int8 GEMM internals -------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Shared by w8a8.cpp (packing, dispatch, scalar kernel) and the per-ISA
// kernels (w8a8_avx512vnni.cpp, w8a8_avx2.cpp). See lq_rt_gemm_w8a8 in
// <lq_rt/kernels.h> for the math and the packed layout.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CPU_W8A8_H
#define LQ_RT_SRC_CPU_W8A8_H

#include <cstdint>

namespace lq_rt::w8a8 {

constexpr int64_t kWidth = 16;      // columns per panel
constexpr int64_t kHeader = 64;     // bytes of int32 comp[16] per panel
constexpr int64_t kBlock = 64;      // bytes per 4-deep K block of a panel

/// One call, with the activations already copied into the form the ISA's
/// kernel reads: rows of K4 * 4 elements (zero-padded past K) of
///  - avx512-vnni: uint8 x + 128 (vpdpbusd multiplies u8 by s8),
///  - avx2: int16 x (vpmaddwd on sign-extended weights; no saturation),
///  - scalar: int8 x.
struct Args {
  int64_t M, N, K4, panels, panelBytes;
  const void *x; // [M][K4 * 4]
  const int8_t *packed;
  const float *sx; // [M] when perToken, else [1]
  bool perToken;
  const float *sw;   // [N]
  const float *bias; // [N] or null
  float *C;
  int64_t ldc;
};

/// C[m, n] from the exact integer sum: the same three IEEE operations in
/// every ISA (the vector epilogues do them lane-wise, in this order), so
/// the result is bit-identical everywhere. No FMA contraction.
inline float epilogue(int32_t acc, float sx, float sw, const float *bias,
                      int64_t n) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  const float s = sx * sw;
  float y = float(acc) * s;
  if (bias)
    y = y + bias[n];
  return y;
}

namespace avx512vnni {
void panels(const Args &a, int64_t p0, int64_t p1);
}
namespace avx2 {
void panels(const Args &a, int64_t p0, int64_t p1);
}

} // namespace lq_rt::w8a8

#endif // LQ_RT_SRC_CPU_W8A8_H
