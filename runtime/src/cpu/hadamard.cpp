//===- hadamard.cpp - lq_rt_hadamard_f32: ISA dispatch and MLIR shim -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The kernel bodies are in kernels_hadamard_impl.inc (one copy per ISA); this
// checks the arguments, picks the ISA lq_rt_isa() reports, and gives compiled
// models their C-interface entry point (see mlir_abi.cpp for the memref
// descriptor convention).
//
//===----------------------------------------------------------------------===//

#include "../core/hadamard_tables.h"
#include "lq_rt/hadamard.h"
#include "lq_rt/kernels.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lq_rt {
#define LQ_DECLARE_ISA(ns)                                                     \
  namespace ns {                                                               \
  void hadamard(int64_t, int64_t, int64_t, int64_t, const float *, float *,    \
                int64_t);                                                      \
  }
LQ_DECLARE_ISA(avx512)
LQ_DECLARE_ISA(avx2)
LQ_DECLARE_ISA(scalar)
#undef LQ_DECLARE_ISA
} // namespace lq_rt

extern "C" {

int lq_rt_hadamard_f32(int64_t rows, int64_t n, int64_t block, float *x,
                       int64_t stride) {
  if (block <= 0)
    block = n;
  if (rows < 0 || n < 0 || (n > 0 && n % block))
    return -1;
  const int64_t m = lq_rt_hadamard_factor(block);
  if (m == 0)
    return -1;
  if (rows == 0 || n == 0)
    return 0;
  const float *ht = m > 1 ? lq_rt::hadamardTransposed(m) : nullptr;
  const char *isa = lq_rt_isa();
  if (!std::strcmp(isa, "avx512"))
    lq_rt::avx512::hadamard(rows, n, block, m, ht, x, stride);
  else if (!std::strcmp(isa, "avx2"))
    lq_rt::avx2::hadamard(rows, n, block, m, ht, x, stride);
  else
    lq_rt::scalar::hadamard(rows, n, block, m, ht, x, stride);
  return 0;
}

namespace {
struct MemRef2 {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
  float *data() const { return aligned + offset; }
};
} // namespace

/// out[M, N] = lq.hadamard(in[M, N]) with the given block (0: N). `out` is
/// row-contiguous (the compiler allocates it); `in` may be any layout, and
/// the same buffer as `out`.
void _mlir_ciface_lq_rt_hadamard_f32(MemRef2 *in, MemRef2 *out, int64_t block) {
  const int64_t M = in->sizes[0], N = in->sizes[1];
  float *o = out->data();
  const float *i = in->data();
  if (out->strides[1] != 1 || out->sizes[0] != M || out->sizes[1] != N) {
    std::fprintf(stderr, "lq_rt_hadamard_f32: output is not row-contiguous\n");
    std::abort();
  }
  if (i != o || in->strides[0] != out->strides[0] || in->strides[1] != 1)
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < N; ++c)
        o[r * out->strides[0] + c] = i[r * in->strides[0] + c * in->strides[1]];
  if (lq_rt_hadamard_f32(M, N, block, o, out->strides[0]) != 0) {
    std::fprintf(stderr, "lq_rt_hadamard_f32: unsupported size (N=%lld block=%lld)\n",
                 (long long)N, (long long)block);
    std::abort();
  }
}

} // extern "C"
