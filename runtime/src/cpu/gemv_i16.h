//===- gemv_i16.h - Integer-weight decode GEMV on int16 activations -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The decode step's (M = 1) GEMV for integer weights (LQ_FORMAT_INT, 4 and
// 8 bits, symmetric or asymmetric) on CPUs with AVX-512 VNNI: the
// activations are quantized once per call to int16 with one f32 scale per
// segment of the row, and codes x activations are summed exactly in int32
// by vpdpwssd. See gemv_i16.cpp for the arithmetic and the error bound;
// kernels_q_impl.inc decides when it runs.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_SRC_CPU_GEMV_I16_H
#define LQ_RT_SRC_CPU_GEMV_I16_H

#include <cstdint>
#include <memory>

namespace lq_rt::i16 {

/// Codes per chunk: one vpdpwssd pair (64 int16 activations).
constexpr int64_t kChunk = 64;

/// Whether this CPU runs the kernel (avx512f, avx512bw, avx512_vnni).
bool cpuHas();

/// Whether lq_rt_qgemm_nt uses it: cpuHas() unless turned off by
/// lq_rt_qgemv_i16(0) or LQ_QGEMV_I16=0 (tests and benchmarks compare).
bool enabled();
/// Turns it on (where the CPU has it) or off; returns enabled().
bool setEnabled(bool on);

/// The activations' segment for rows of K codes in groups of `group`: the
/// group itself up to 256 codes, else the largest of 256, 128, 64 dividing
/// it; 64 (two groups) for groups of 32. 0 when the kernel does not apply
/// (K not a multiple of 64 codes, or the group neither 32 nor a multiple
/// of 64).
int64_t segmentFor(int64_t K, int64_t group);

/// x quantized: int16 values (4-bit weights: each 64-code chunk's even
/// elements, then its odd ones, as the codes' nibbles are widened), one
/// scale per segment, and for symmetric 4-bit codes (read offset by 8, see
/// gemv_i16.cpp) each segment's -8 * sum(x16) spread over 16 int32 lanes.
struct X {
  int64_t K = 0, seg = 0;
  std::unique_ptr<int16_t[]> v;
  std::unique_ptr<float[]> scale;
  std::unique_ptr<int32_t[]> offset; // [K / seg][16], symmetric 4-bit only
};

/// Quantizes x[0, K) for `bits`-bit codes (symmetric 4-bit: with the
/// offset term). Returns false, leaving `out` unusable, when x holds an
/// infinity or a NaN: the caller keeps the f32 kernel, which propagates it.
bool prepareX(const float *x, int64_t K, int64_t seg, int bits, bool sym,
              X &out);

struct Args {
  int64_t K, group, G, rowBytes;
  const uint8_t *codes; // [N][rowBytes]: lq_rt_qgemm_nt's layout
  const float *scales;  // [N][G]
  const float *biases;  // [N][G] or null (zero points: + b * sum(x[group]))
  const float *xsum;    // [G] sums of x per group (biases only)
  const X *x;
  float *C;             // [N]
};

/// C[n] for rows n0..n1, one row at a time (each row one sequential
/// stream: with several rows in flight the hardware prefetcher kept up
/// less well), 4-bit rows under 1 KB four at a time. `sym`: two's
/// complement codes, else unsigned. Results do not depend on the split.
void rows4(const Args &a, bool sym, int64_t n0, int64_t n1);
void rows8(const Args &a, bool sym, int64_t n0, int64_t n1);

} // namespace lq_rt::i16

#endif // LQ_RT_SRC_CPU_GEMV_I16_H
