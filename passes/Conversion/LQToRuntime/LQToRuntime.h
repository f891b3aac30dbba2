//===- LQToRuntime.h - Call lq_rt kernels for hot lq ops -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_CONVERSION_LQTORUNTIME_LQTORUNTIME_H
#define LQ_PASSES_CONVERSION_LQTORUNTIME_LQTORUNTIME_H

#include "mlir/Pass/Pass.h"

namespace mlir::lq {

#define GEN_PASS_DECL_CONVERTLQTORUNTIMEPASS
#include "passes/Conversion/Passes.h.inc"

} // namespace mlir::lq

#endif // LQ_PASSES_CONVERSION_LQTORUNTIME_LQTORUNTIME_H
