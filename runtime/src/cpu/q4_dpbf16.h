//===- q4_dpbf16.h - 4-bit decode GEMV through vdpbf16ps ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The decode step's (M = 1) GEMV for 4-bit weights whose 16 code values are
// exact in bfloat16 (int4 symmetric and asymmetric: -8..7, 0..15; FP4 E2M1),
// on CPUs with AVX-512 BF16. See q4_dpbf16.cpp for the arithmetic;
// kernels_q_impl.inc decides when it runs (lq_rt_qgemm_nt, M = 1, groups of
// whole 32-code chunks, K % 64 == 0).
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CPU_Q4_DPBF16_H
#define LQ_RT_SRC_CPU_Q4_DPBF16_H

#include <cstdint>

namespace lq_rt::q4dp {

/// Codes per chunk: 32 bytes, one vpmovzxbw.
constexpr int64_t kChunk = 64;

struct Args {
  int64_t N, K, group, G, rowBytes;
  const uint8_t *codes;  // [N][rowBytes], code k in nibble k % 2 of byte k / 2
  const float *scales;   // [N][G]
  const float *biases;   // [N][G] or null (zero points: + b * sum(x[group]))
  const float *xsum;     // [G] sums of x per group (biases only)
  const uint16_t *xs;    // x split by prepareX
  const float *lut;      // [16] code values, each exact in bf16
  float *C;              // [N]
};

/// Whether this CPU runs the kernel (avx512f, avx512bw, avx512_bf16).
bool cpuHas();

/// Whether lq_rt_qgemm_nt uses it: cpuHas() unless turned off by
/// lq_rt_qgemv_dpbf16(0) (tests and benchmarks compare both).
bool enabled();
/// Turns it on (where the CPU has it) or off; returns enabled().
bool setEnabled(bool on);

/// Whether every code value is a bfloat16 (the low 16 bits of its f32 are
/// zero), so the products with the split activations are exact.
bool lutIsBf16(const float lut[16]);

/// xs[c * 128 + ...] for each 64-code chunk c: the bf16 high and low parts
/// of x's even elements x[64c + 2j], then of its odd ones x[64c + 2j + 1]
/// (j < 32): [hi even | lo even | hi odd | lo odd]. K % 64 == 0.
void prepareX(const float *x, int64_t K, uint16_t *xs);

/// C[n] for rows n0..n1, one row at a time (a single stream of codes).
void rows(const Args &a, int64_t n0, int64_t n1);

/// C[n] for rows n0..n1 in blocks of four rows sharing each chunk's
/// activation loads (rows shorter than 1 KB, where a row's set-up is a
/// large part of it, and rows of a page or more, whose activations no
/// longer fit in L1), the last n % 4 rows alone in the same order.
void rowBlocks(const Args &a, int64_t n0, int64_t n1);

} // namespace lq_rt::q4dp

#endif // LQ_RT_SRC_CPU_Q4_DPBF16_H
