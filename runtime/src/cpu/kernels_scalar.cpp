//===- kernels_scalar.cpp - Portable kernels -----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
// One-lane "vectors": the same algorithms in plain C++, for any CPU.

#include "../core/threads.h"
#include "lq_rt/kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lq_rt::scalar {
using vf = float;
constexpr int64_t VW = 1;
static inline vf vload(const float *p) { return *p; }
static inline void vstore(float *p, vf v) { *p = v; }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vset1(float x) { return x; }
static inline vf vzero() { return 0.0f; }
static inline float vsum(vf v) { return v; }
#include "kernels_impl.inc"
} // namespace lq_rt::scalar
