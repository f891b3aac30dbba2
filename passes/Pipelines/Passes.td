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

def ExpandStridedCopiesPass : Pass<"lq-expand-strided-copies", "func::FuncOp"> {
  let summary = "Turn memref.copy between strided buffers into loops";
  let description = [{
    `memref.copy` between contiguous buffers lowers to `llvm.memcpy`; any other
    copy becomes a call to `memrefCopy` from MLIR's C runner utilities, which a
    compiled model must not depend on. This pass rewrites those copies to
    `linalg.copy`, which `convert-linalg-to-loops` turns into plain loops.
  }];
  let dependentDialects = ["linalg::LinalgDialect"];
}

def ExpandErfPass : Pass<"lq-expand-erf", "func::FuncOp"> {
  let summary = "Replace math.erf by MLIR's polynomial approximation";
  let description = [{
    LLVM has no erf intrinsic and MathToLibm would also turn other math ops
    into libm calls that do not exist (`rsqrtf`), so erf (GELU in many
    exports) is expanded in place with upstream's polynomial approximation.
  }];
  let dependentDialects = ["math::MathDialect", "arith::ArithDialect"];
}

#endif // LQ_PIPELINES_PASSES_TD
