//===- w4a8.h - int8 x int4 GEMM internals -------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Shared by w4a8.cpp (packing, dispatch, scalar kernel) and the per-ISA
// kernels (w4a8_avx512vnni.cpp, w4a8_avx2.cpp). See lq_rt_gemm_w4a8 in
// <lq_rt/kernels.h> for the math and the packed layout.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CPU_W4A8_H
#define LQ_RT_SRC_CPU_W4A8_H

#include <cstdint>

namespace lq_rt::w4a8 {

constexpr int64_t kWidth = 16; // columns per panel
constexpr int64_t kBlock = 64; // bytes per block: 16 columns x 8 k (nibbles)
constexpr int64_t kScales = 64; // float sw[16] at the head of each group
constexpr int64_t kZeros = 64;  // int32 z'[16] after them (asymmetric)

/// One call. The kernels read the int8 activation codes in place (K is a
/// multiple of 8, so every 4-byte load stays in the row).
struct Args {
  int64_t M, N, K, ldx;
  int64_t group, groups;   // G and K / G
  int64_t blocks;          // G / 8 blocks per group
  int64_t groupBytes;      // header + blocks * 64
  int64_t panels, panelBytes;
  bool asym;
  const int8_t *x;         // [M, ldx]
  const int32_t *xsum;     // [M][groups]: sum_{k in g} x[m, k]
  const int8_t *packed;
  const float *sx;         // [M] when perToken, else [1]
  bool perToken;
  const float *bias;       // [N] or null
  float *C;
  int64_t ldc;
};

/// The group step and the final epilogue: the same IEEE operations in every
/// ISA (the vector kernels do them lane-wise, in this order), so results
/// are bit-identical everywhere. No FMA contraction.
inline float groupStep(float f, int32_t d, float sw) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  const float p = float(d) * sw;
  return f + p;
}
inline float epilogue(float f, float sx, const float *bias, int64_t n) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  float y = f * sx;
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

} // namespace lq_rt::w4a8

#endif // LQ_RT_SRC_CPU_W4A8_H
