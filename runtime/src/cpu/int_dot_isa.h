//===- int_dot_isa.h - Which integer dot-product kernel runs -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The integer GEMMs (W8A8, W4A8) have three kernels: AVX-512 VNNI
// (vpdpbusd, needs +BW/VL), AVX2 (vpmaddubsw / vpmaddwd) and scalar. The
// choice follows lq_rt_isa(), so lq_rt_force_isa picks the kernel in tests;
// an AVX-512 CPU without VNNI runs the AVX2 kernel.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_CPU_INT_DOT_ISA_H
#define LQ_RT_CPU_INT_DOT_ISA_H

#include "../core/threads.h"
#include "lq_rt/kernels.h"

#include <cstring>

namespace lq_rt {

enum class IntDotImpl { Vnni, Avx2, Scalar };

inline bool cpuHasVnni() {
#if defined(__x86_64__)
  static const bool has = __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

inline IntDotImpl intDotImpl() {
  const char *isa = lq_rt_isa();
  if (!std::strcmp(isa, "scalar"))
    return IntDotImpl::Scalar;
  if (!std::strcmp(isa, "avx512") && cpuHasVnni())
    return IntDotImpl::Vnni;
  return IntDotImpl::Avx2;
}

/// Runs panels [0, a.panels) of an integer GEMM through the chosen kernel
/// (each `panels(a, p0, p1)`), on the thread pool above the thresholds of
/// the other GEMMs (below them a fork/join costs more than the work).
template <typename Args, typename Vnni, typename Avx2, typename Scalar>
void runIntDotPanels(IntDotImpl impl, const Args &a, int64_t M, int64_t N,
                     int64_t K, Vnni vnni, Avx2 avx2, Scalar scalar) {
  auto body = [&](int64_t p0, int64_t p1) {
    switch (impl) {
    case IntDotImpl::Vnni: return vnni(a, p0, p1);
    case IntDotImpl::Avx2: return avx2(a, p0, p1);
    case IntDotImpl::Scalar: return scalar(a, p0, p1);
    }
  };
  const bool parallel = M * N * K >= (int64_t(1) << 20) ||
                        (M <= 4 && N * K >= (int64_t(1) << 17));
  if (parallel)
    parallelFor(a.panels, body);
  else
    body(0, a.panels);
}

} // namespace lq_rt

#endif // LQ_RT_CPU_INT_DOT_ISA_H
