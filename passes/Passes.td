//===- Passes.td - lq's algorithm passes -------------------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_TD
#define LQ_PASSES_TD

include "mlir/Pass/PassBase.td"

#endif // LQ_PASSES_TD
