//===- Passes.td - Passes that close lq's pipelines --------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PIPELINES_PASSES_TD
#define LQ_PIPELINES_PASSES_TD

include "mlir/Pass/PassBase.td"

def VerifyLoweredPass : Pass<"lq-verify-lowered", "ModuleOp"> {
  let summary = "Reject any lq op or #lq.scheme-encoded tensor left after lowering";
  let description = [{
    The last pass of `--lower-to-cpu`: a lowering pipeline must leave no
    `lq.*` op and no tensor type whose encoding is a `#lq.scheme` (in results,
    operands or block arguments). Each offender gets an error at its location.
  }];
}

#endif // LQ_PIPELINES_PASSES_TD
