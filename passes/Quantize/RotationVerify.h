//===- RotationVerify.h - Checking that fused rotations cancel -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// --quarot / --spinquant verify=true: the rotations must leave the float
// network unchanged. RotationVerifier keeps a copy of the module before the
// rotation, then JIT-runs it and the rotated function (passes/Calibrate's
// ModelRunner: one lowering, one ExecutionEngine) on the same token ids and
// compares their logits.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_QUANTIZE_ROTATIONVERIFY_H
#define LQ_PASSES_QUANTIZE_ROTATIONVERIFY_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace mlir::lq {

class RotationVerifier {
public:
  /// Before the rotation: checks that `f` can be run (its module's entry and
  /// only function with a body, [1, T] int64 token ids, static f32 logits as
  /// its first result) and copies its module. Errors name `pass`.
  LogicalResult prepare(func::FuncOp f, llvm::StringRef pass);
  /// After the rotation: runs the copy and the rotated `f` on ids 1..T and
  /// emits an error when max|Δlogit| / max|logit| > `tolerance`, else a
  /// remark with the figure.
  LogicalResult check(func::FuncOp f, double tolerance);

private:
  OwningOpRef<ModuleOp> reference;
  std::string what;
  int idsArg = 0;
};

} // namespace mlir::lq

#endif // LQ_PASSES_QUANTIZE_ROTATIONVERIFY_H
