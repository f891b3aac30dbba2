//===- LQDialect.cpp - The lq dialect -----------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "dialects/LQ/IR/LQDialect.h"
#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::lq;

#include "dialects/LQ/IR/LQDialect.cpp.inc"

void LQDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialects/LQ/IR/LQOps.cpp.inc"
      >();
}

Operation *LQDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                          Type type, Location loc) {
  // Folded quantized constants are plain arith.constant ops of the storage
  // type; the #lq.scheme encoding rides on the tensor type.
  if (auto typed = dyn_cast<TypedAttr>(value))
    if (arith::ConstantOp::isBuildableWith(typed, type))
      return arith::ConstantOp::create(builder, loc, type, typed);
  return nullptr;
}
