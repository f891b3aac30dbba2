//===- hadamard.cpp - lq_rt_hadamard_f32: ISA dispatch ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The kernel bodies are in kernels_hadamard_impl.inc (one copy per ISA); this
// checks the arguments and picks the ISA lq_rt_isa() reports. Compiled
// models call it through _mlir_ciface_lq_rt_hadamard_f32 (mlir_abi.cpp).
//
//===----------------------------------------------------------------------===//

#include "../core/hadamard_tables.h"
#include "lq_rt/hadamard.h"
#include "lq_rt/kernels.h"

#include <cstdint>
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

} // extern "C"
