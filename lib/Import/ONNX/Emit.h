//===- Emit.h - Building blocks for ONNX op translators -----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Helpers shared by the translators: numpy broadcasting on the host and in IR
// (linalg.generic with broadcasting indexing maps), reshapes, and host
// tensor indexing.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_LIB_IMPORT_ONNX_EMIT_H
#define LQ_LIB_IMPORT_ONNX_EMIT_H

#include "Importer.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace lq::onnx_import {

/// Numpy-style multidirectional broadcast of `shapes`; fails with a
/// diagnostic naming both shapes.
mlir::FailureOr<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<llvm::ArrayRef<int64_t>> shapes,
                mlir::Location loc);

/// Row-major strides of `shape`.
llvm::SmallVector<int64_t> stridesOf(llvm::ArrayRef<int64_t> shape);

/// Host elementwise map with broadcasting.
HostTensor hostMap(llvm::ArrayRef<const HostTensor *> ins,
                   llvm::ArrayRef<int64_t> outShape, int outDtype,
                   llvm::function_ref<double(llvm::ArrayRef<double>)> fn);

/// A host tensor of `shape` whose element at each multi-index is
/// `src.data[index(multiIndex)]`.
HostTensor hostGather(const HostTensor &src, llvm::ArrayRef<int64_t> shape,
                      llvm::function_ref<int64_t(llvm::ArrayRef<int64_t>)> index);

using BodyFn = llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                              mlir::ValueRange)>;

/// Elementwise linalg.generic over the broadcast of `ins` to `outShape`.
mlir::Value emitMap(mlir::OpBuilder &b, mlir::Location loc,
                    mlir::ValueRange ins, llvm::ArrayRef<int64_t> outShape,
                    mlir::Type outElt, BodyFn body);

/// tensor.empty of `shape`, taking dynamic sizes from `like` where needed.
mlir::Value emitEmpty(mlir::OpBuilder &b, mlir::Location loc,
                      llvm::ArrayRef<int64_t> shape, mlir::Type elt,
                      mlir::Value like = {});

/// A scalar constant of type `elt`.
mlir::Value scalarConst(mlir::OpBuilder &b, mlir::Location loc, mlir::Type elt,
                        double v);

/// Reshape a statically shaped tensor (collapse + expand, which the
/// canonicalizer merges); fails on dynamic shapes.
mlir::FailureOr<mlir::Value> emitReshape(mlir::OpBuilder &b,
                                         mlir::Location loc, mlir::Value v,
                                         llvm::ArrayRef<int64_t> shape);

/// Converts `v` between element types with ONNX Cast semantics.
mlir::Value convertScalar(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value v, mlir::Type to, bool srcUnsigned);

/// The raw bytes of a constant: host values re-encoded one code per byte,
/// blobs as stored. `what` names the operand in the diagnostic.
mlir::FailureOr<std::vector<uint8_t>>
constantBytes(Val &v, mlir::Location loc,
              llvm::StringRef what = "the operand");

} // namespace lq::onnx_import

/// Binds `var` to input `idx` of `node` in a translator, or returns failure
/// (the importer has emitted the diagnostic).
#define LQ_GET_INPUT(var, idx)                                                 \
  mlir::FailureOr<::lq::onnx_import::Val *> var##OrErr =                       \
      im.input(node, idx, loc);                                                \
  if (mlir::failed(var##OrErr))                                                \
    return mlir::failure();                                                    \
  ::lq::onnx_import::Val &var = **var##OrErr;

#endif // LQ_LIB_IMPORT_ONNX_EMIT_H
