//===- Passes.h - lq's conversion passes --------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_CONVERSION_PASSES_H
#define LQ_PASSES_CONVERSION_PASSES_H

#include "passes/Conversion/LQToLinalg/LQToLinalg.h"
#include "passes/Conversion/LQToRuntime/LQToRuntime.h"

namespace mlir::lq {

#define GEN_PASS_REGISTRATION
#include "passes/Conversion/Passes.h.inc"

} // namespace mlir::lq

#endif // LQ_PASSES_CONVERSION_PASSES_H
