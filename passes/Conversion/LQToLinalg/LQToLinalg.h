//===- LQToLinalg.h - Lower lq ops to linalg on tensors -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_CONVERSION_LQTOLINALG_LQTOLINALG_H
#define LQ_PASSES_CONVERSION_LQTOLINALG_LQTOLINALG_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
class TypeConverter;

namespace lq {

#define GEN_PASS_DECL_CONVERTLQTOLINALGPASS
#include "passes/Conversion/Passes.h.inc"

/// Adds the patterns that rewrite every lq op, and every `arith.constant` of
/// a quantized tensor type, to linalg/tensor/arith/math/scf on tensors. The
/// patterns take their operands from the conversion's value mapping, so they
/// need no type converter; a driver that also rewrites function signatures
/// uses `populateLQTypeConversions`.
void populateLQToLinalgConversionPatterns(RewritePatternSet &patterns);

/// Makes `converter` strip the `#lq.scheme` encoding of quantized tensor
/// types (the storage element type stays) and leave other types alone.
void populateLQTypeConversions(TypeConverter &converter);

} // namespace lq
} // namespace mlir

#endif // LQ_PASSES_CONVERSION_LQTOLINALG_LQTOLINALG_H
