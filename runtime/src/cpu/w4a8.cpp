//===- w4a8.cpp - int8 activations x int4 grouped weights ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// W4A8 linear layers (int4 weights in groups along K, e.g. GPTQ's,
// arXiv:2210.17323, with dynamic per-token int8 activations, as in
// QServe's W4A8, arXiv:2405.04532, and llama.cpp's Q4_0 x Q8_0 dot) as
// integer GEMMs:
//
//   C[m, n] = sx[m] * sum_g sw[n, g] * sum_{k in g} xq[m, k] (q[n, k] - z[n, g])
//             (+ bias[n])
//
// with each group's sum in int32 (exact) and the sum over groups in f32,
// instead of dequantizing the weight to f32. The zero point (8 for
// symmetric codes, which are stored biased to u = q + 8 in [0, 15]) comes
// out of the inner sum: sum_k x (u - z') = sum_k x u - z' sum_k x, and the
// activation sums per (row, group) are computed once per call (M K adds).
//
// Packing (once, at compile time; lq_rt_pack_w4a8): 16-column panels; per
// group a header (float sw[16], then int32 z'[16] when asymmetric) and
// G / 8 blocks of 64 bytes, byte 4 j + i of block c holding column j's
// u[8 c + i] (low nibble) and u[8 c + 4 + i] (high nibble). Why this form:
//  - one 64-byte load, an AND and a shift+AND give two 16-column x 4-deep
//    u8 operands of AVX-512 VNNI's vpdpbusd (u8 x s8 -> int32), against the
//    4 activation bytes x[8 c .. 8 c + 3] / x[8 c + 4 .. 8 c + 7] broadcast
//    to all lanes. The weight is the unsigned operand (u in [0, 15]) and the
//    activation the signed one, so no +128 trick is needed;
//  - AVX2 uses the same bytes 32 at a time: vpmaddubsw (u8 x s8 pairs into
//    int16, |2 * 15 * 128| < 2^15: never saturates) and vpmaddwd by ones;
//  - each group's scales and zero points sit next to its codes, so a decode
//    GEMV reads the weight as one sequential stream (4.5 bits per weight at
//    G = 128 symmetric: 0.5 B codes + 4 B / 128 scale).
//
// Each ISA's kernel (this file: scalar; w4a8_avx2.cpp; w4a8_avx512vnni.cpp)
// computes the same int32 group sums and the same float steps (w4a8.h), so
// all return bit-identical results. This file owns packing, argument
// checks, the activation group sums and the split of panels over lq_rt's
// thread pool.
//
//===----------------------------------------------------------------------===//

#include "w4a8.h"
#include "int_dot_isa.h"

#include "../core/threads.h"
#include "lq_rt/kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace lq_rt::w4a8 {
namespace {

/// The portable kernel: the same sums in plain C++.
void scalarPanels(const Args &a, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const int8_t *panel = a.packed + p * a.panelBytes;
    const int64_t n0 = p * kWidth, nr = std::min(kWidth, a.N - n0);
    for (int64_t m = 0; m < a.M; ++m) {
      const int8_t *xr = a.x + m * a.ldx;
      float f[kWidth] = {};
      for (int64_t g = 0; g < a.groups; ++g) {
        const int8_t *grp = panel + g * a.groupBytes;
        float sw[kWidth];
        int32_t z[kWidth];
        std::memcpy(sw, grp, sizeof sw);
        if (a.asym)
          std::memcpy(z, grp + kScales, sizeof z);
        else
          std::fill(z, z + kWidth, 8);
        const auto *codes = reinterpret_cast<const uint8_t *>(
            grp + kScales + (a.asym ? kZeros : 0));
        const int8_t *xg = xr + g * a.group;
        int32_t acc[kWidth] = {};
        for (int64_t c = 0; c < a.blocks; ++c) {
          const uint8_t *blk = codes + c * kBlock;
          for (int64_t j = 0; j < kWidth; ++j)
            for (int64_t i = 0; i < 4; ++i) {
              const uint8_t b = blk[4 * j + i];
              acc[j] += int32_t(xg[8 * c + i]) * int32_t(b & 15) +
                        int32_t(xg[8 * c + 4 + i]) * int32_t(b >> 4);
            }
        }
        const int32_t xs = a.xsum[m * a.groups + g];
        for (int64_t j = 0; j < kWidth; ++j)
          f[j] = groupStep(f[j], acc[j] - z[j] * xs, sw[j]);
      }
      const float sx = a.sx[a.perToken ? m : 0];
      for (int64_t j = 0; j < nr; ++j)
        a.C[m * a.ldc + n0 + j] = epilogue(f[j], sx, a.bias, n0 + j);
    }
  }
}

using Impl = IntDotImpl;
Impl current() { return intDotImpl(); }

bool goodShape(int64_t K, int64_t group) {
  return K >= 0 && K < (int64_t(1) << 20) && group >= 8 && group % 8 == 0 &&
         K % group == 0;
}

} // namespace
} // namespace lq_rt::w4a8

using namespace lq_rt::w4a8;

extern "C" {

int64_t lq_rt_w4a8_panel_bytes(int64_t K, int64_t group, int32_t asymmetric) {
  if (!goodShape(K, group))
    return -1;
  return K / group *
         (kScales + (asymmetric ? kZeros : 0) + group / 8 * kBlock);
}

int64_t lq_rt_packed_w4a8_size(int64_t N, int64_t K, int64_t group,
                               int32_t asymmetric) {
  const int64_t pb = lq_rt_w4a8_panel_bytes(K, group, asymmetric);
  if (pb < 0 || N < 0)
    return -1;
  return (N + kWidth - 1) / kWidth * pb;
}

int lq_rt_pack_w4a8(const int8_t *codes, const float *scales,
                    const int32_t *zero_points, int64_t N, int64_t K,
                    int64_t group, int8_t *out) {
  const bool asym = zero_points != nullptr;
  const int64_t pb = lq_rt_w4a8_panel_bytes(K, group, asym);
  if (pb < 0 || N < 0 || (N * K > 0 && (!codes || !scales || !out)))
    return -1;
  const int64_t G = K / group, hdr = kScales + (asym ? kZeros : 0);
  const int64_t gb = hdr + group / 8 * kBlock;
  for (int64_t i = 0; i < N * K; ++i)
    if (asym ? codes[i] < 0 || codes[i] > 15 : codes[i] < -8 || codes[i] > 7)
      return -1;
  for (int64_t i = 0; asym && i < N * G; ++i)
    if (zero_points[i] < 0 || zero_points[i] > 15)
      return -1;
  for (int64_t p = 0; p * kWidth < N; ++p)
    for (int64_t g = 0; g < G; ++g) {
      int8_t *grp = out + p * pb + g * gb;
      float sw[kWidth] = {};
      int32_t z[kWidth] = {};
      for (int64_t j = 0; j < kWidth; ++j) {
        const int64_t n = p * kWidth + j;
        if (n < N) {
          sw[j] = scales[n * G + g];
          z[j] = asym ? zero_points[n * G + g] : 8;
        }
      }
      std::memcpy(grp, sw, sizeof sw);
      if (asym)
        std::memcpy(grp + kScales, z, sizeof z);
      auto *blk = reinterpret_cast<uint8_t *>(grp + hdr);
      for (int64_t c = 0; c < group / 8; ++c)
        for (int64_t j = 0; j < kWidth; ++j) {
          const int64_t n = p * kWidth + j;
          for (int64_t i = 0; i < 4; ++i) {
            uint8_t lo = 0, hi = 0;
            if (n < N) {
              const int8_t *row = codes + n * K + g * group + 8 * c;
              lo = uint8_t(row[i] + (asym ? 0 : 8));
              hi = uint8_t(row[4 + i] + (asym ? 0 : 8));
            }
            blk[c * kBlock + 4 * j + i] = uint8_t(lo | hi << 4);
          }
        }
    }
  return 0;
}

const char *lq_rt_w4a8_isa(void) {
  switch (current()) {
  case Impl::Vnni: return "avx512-vnni";
  case Impl::Avx2: return "avx2";
  case Impl::Scalar: return "scalar";
  }
  return "scalar";
}

int lq_rt_gemm_w4a8(int64_t M, int64_t N, int64_t K, const int8_t *xq,
                    int64_t ldx, const float *sx, int32_t per_token,
                    const int8_t *packed, int64_t group, int32_t asymmetric,
                    const float *bias, float *C, int64_t ldc) {
  if (M < 0 || N < 0 || !goodShape(K, group) || ldx < K || ldc < N)
    return -1;
  if (M == 0 || N == 0)
    return 0;
  if ((K > 0 && !xq) || !sx || (K > 0 && !packed) || !C)
    return -1;
  const Impl impl = current();
  const int64_t G = K / group;
  // The zero-point correction's activation sums, once per (row, group).
  std::vector<int32_t> xsum(size_t(M * G), 0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < G; ++g) {
      int32_t s = 0;
      for (int64_t k = 0; k < group; ++k)
        s += xq[m * ldx + g * group + k];
      xsum[size_t(m * G + g)] = s;
    }
  Args a{};
  a.M = M;
  a.N = N;
  a.K = K;
  a.ldx = ldx;
  a.group = group;
  a.groups = G;
  a.blocks = group / 8;
  a.asym = asymmetric != 0;
  a.groupBytes = kScales + (a.asym ? kZeros : 0) + a.blocks * kBlock;
  a.panels = (N + kWidth - 1) / kWidth;
  a.panelBytes = G * a.groupBytes;
  a.x = xq;
  a.xsum = xsum.data();
  a.packed = packed;
  a.sx = sx;
  a.perToken = per_token != 0;
  a.bias = bias;
  a.C = C;
  a.ldc = ldc;
  if (K == 0) {
    // An empty sum: C = 0 * sx (+ bias), as every kernel would compute.
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        C[m * ldc + n] = epilogue(0.0f, sx[a.perToken ? m : 0], bias, n);
    return 0;
  }
  lq_rt::runIntDotPanels(impl, a, M, N, K, avx512vnni::panels, avx2::panels,
                         scalarPanels);
  return 0;
}

} // extern "C"
