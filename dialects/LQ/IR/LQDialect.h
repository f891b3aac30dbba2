//===- LQDialect.h - The lq dialect -------------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_DIALECT_LQ_IR_LQDIALECT_H
#define LQ_DIALECT_LQ_IR_LQDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/TensorEncoding.h"

#include "dialects/LQ/IR/LQDialect.h.inc"
#include "dialects/LQ/IR/LQEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/LQ/IR/LQAttrs.h.inc"

#endif // LQ_DIALECT_LQ_IR_LQDIALECT_H
