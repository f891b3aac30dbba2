//===- InitAll.h - Register every dialect and pass lq tools use ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_INITALL_H
#define LQ_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace lq {

/// Adds lq's dialects plus every upstream dialect and extension.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers lq's passes and pipelines plus every upstream pass.
void registerAllPasses();

} // namespace lq

#endif // LQ_INITALL_H
