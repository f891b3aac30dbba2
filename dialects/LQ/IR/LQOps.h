//===- LQOps.h - lq operations ------------------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_DIALECT_LQ_IR_LQOPS_H
#define LQ_DIALECT_LQ_IR_LQOPS_H

#include "dialects/LQ/IR/LQDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/LQ/IR/LQOps.h.inc"

namespace mlir::lq {

/// Reads the elements of a constant float tensor (`dense` of any float type,
/// or a `dense_resource` blob of f32/f16/bf16) as f32. Fails on anything else.
LogicalResult readFloatElements(Attribute attr, SmallVectorImpl<float> &out);

/// Reads the elements of a constant integer tensor as int64.
LogicalResult readIntElements(Attribute attr, SmallVectorImpl<int64_t> &out);

/// Builds the constant for quantized codes (one b-bit code per byte of
/// `codes`, in row-major order): a `dense` attribute when small, so tests and
/// readers see values, else a packed `dense_resource` blob in the layout of
/// <lq_rt/formats.h>.
ElementsAttr buildCodesAttr(RankedTensorType type, ArrayRef<uint8_t> codes);
/// The same for 16-bit codes (bf16): inline `dense` when small, else a
/// `dense_resource` blob of little-endian 16-bit values.
ElementsAttr buildBf16CodesAttr(RankedTensorType type, ArrayRef<uint16_t> codes);

/// Element count above which quantized constants become `dense_resource`.
inline constexpr int64_t kMaxInlineCodes = 256;

} // namespace mlir::lq

#endif // LQ_DIALECT_LQ_IR_LQOPS_H
