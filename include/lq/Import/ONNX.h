//===- ONNX.h - Import ONNX models into MLIR ----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_IMPORT_ONNX_H
#define LQ_IMPORT_ONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace lq {

struct ONNXImportOptions {
  /// Pins graph input shapes: `input_ids` -> {1, 128}. A negative entry keeps
  /// that dimension dynamic.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Pins a symbolic dimension (ONNX `dim_param`, e.g. `seq`) in every input
  /// that uses it.
  llvm::StringMap<int64_t> dimParams;
  /// Largest tensor (elements) the importer evaluates at compile time when all
  /// of an op's inputs are constant (shape plumbing, masks, RoPE tables).
  int64_t maxFoldElements = 1 << 20;
};

/// Statistics of an imported model, for `quant-import --stats`.
struct ONNXImportStats {
  int64_t irVersion = 0;
  llvm::SmallVector<std::pair<std::string, int64_t>> opsets;
  llvm::StringMap<int64_t> opCounts;
  int64_t numNodes = 0;
  int64_t numParameters = 0;
  int64_t numFoldedNodes = 0;
};

/// Parses the tools' `--input-shape name=1x128` (`?` keeps a dim dynamic) and
/// `--dim name=N` flags into `options`; reports the first bad one to `err`.
bool parseShapeFlags(llvm::ArrayRef<std::string> inputShapes,
                     llvm::ArrayRef<std::string> dims,
                     ONNXImportOptions &options, llvm::raw_ostream &err);

/// Imports an ONNX model file (binary protobuf; `.onnxtext` files use ONNX's
/// textual syntax). Weights stored as external data are read relative to the
/// model's directory. Errors are reported through the context's diagnostic
/// handler, located at the offending node, and the import fails as a whole.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importONNXFile(llvm::StringRef path, mlir::MLIRContext *context,
               const ONNXImportOptions &options,
               ONNXImportStats *stats = nullptr);

/// Imports a model held in memory (`bytes`: a binary protobuf, or ONNX text
/// when `path` ends in `.onnxtext`). `path` names the model in diagnostics
/// and is the directory external data is read relative to.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importONNXBuffer(llvm::StringRef bytes, llvm::StringRef path,
                 mlir::MLIRContext *context, const ONNXImportOptions &options,
                 ONNXImportStats *stats = nullptr);

} // namespace lq

#endif // LQ_IMPORT_ONNX_H
