//===- Importer.h - ONNX graph to MLIR, shared state --------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_LIB_IMPORT_ONNX_IMPORTER_H
#define LQ_LIB_IMPORT_ONNX_IMPORTER_H

#include "Tensors.h"
#include "lq/Import/ONNX.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/StringMap.h"

#include "onnx/onnx_pb.h"

#include <string>

namespace lq::onnx_import {

class Importer;

/// Translates one node. Emits its own diagnostic on failure.
using Translator = mlir::LogicalResult (*)(Importer &, const onnx::NodeProto &,
                                           mlir::Location);

/// The translator for (domain, op_type), or null when unsupported.
Translator lookupTranslator(llvm::StringRef domain, llvm::StringRef opType);

class Importer {
public:
  Importer(mlir::MLIRContext *ctx, const ONNXImportOptions &options,
           llvm::StringRef modelPath)
      : ctx(ctx), b(ctx), options(options), modelPath(modelPath.str()) {}

  mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
  run(const onnx::ModelProto &model, ONNXImportStats *stats);

  //===--- services for translators ----------------------------------------===//

  /// The value named by input `i` of `node`; fails with a diagnostic if it
  /// is missing (use hasInput for optional inputs).
  mlir::FailureOr<Val *> input(const onnx::NodeProto &node, int i,
                               mlir::Location loc);
  bool hasInput(const onnx::NodeProto &node, int i) const {
    return i < node.input_size() && !node.input(i).empty();
  }
  bool hasOutput(const onnx::NodeProto &node, int i) const {
    return i < node.output_size() && !node.output(i).empty();
  }
  /// Records output `i`. Host-only values get their type from the host shape.
  void setOutput(const onnx::NodeProto &node, int i, Val v);
  void setOutput(const onnx::NodeProto &node, int i, mlir::Value v, int dtype);
  void setHostOutput(const onnx::NodeProto &node, int i, HostTensor t);

  /// The IR value of `v`, creating the constant on first use.
  mlir::Value get(Val &v, mlir::Location loc);

  /// Reads a TensorProto (inline, typed fields or external data).
  /// `linearLayout`: a 2-D float32 MatMul weight, stored transposed
  /// (see Val::linearLayout) and never evaluated on the host.
  mlir::LogicalResult readTensor(const onnx::TensorProto &proto,
                                 mlir::Location loc, Val &out,
                                 bool forceHost = false,
                                 bool linearLayout = false);

  int64_t opsetFor(llvm::StringRef domain) const {
    return domain.empty() || domain == "ai.onnx" ? opset : msOpset;
  }
  bool shouldFold(int64_t numel) const {
    return numel <= options.maxFoldElements;
  }

  mlir::MLIRContext *ctx;
  mlir::OpBuilder b;
  const ONNXImportOptions &options;
  std::string modelPath;
  int64_t opset = 0;
  int64_t msOpset = 0;
  int64_t numFolded = 0;

private:
  mlir::LogicalResult checkGraph(const onnx::GraphProto &graph);
  mlir::FailureOr<mlir::RankedTensorType>
  valueInfoType(const onnx::ValueInfoProto &info, mlir::Location loc,
                int &dtype);
  /// The node's name, or `<op>_<index>` for unnamed nodes.
  static std::string nodeName(const onnx::NodeProto &node, int index);
  /// NameLoc(node name, model:index+1:1): the "line" is the node's position.
  mlir::Location nodeLocation(const onnx::NodeProto &node, int index);

  llvm::StringMap<Val> values;
};

//===--- attributes ---------------------------------------------------------===//

const onnx::AttributeProto *findAttr(const onnx::NodeProto &node,
                                     llvm::StringRef name);
int64_t attrInt(const onnx::NodeProto &node, llvm::StringRef name,
                int64_t dflt);
float attrFloat(const onnx::NodeProto &node, llvm::StringRef name, float dflt);
std::string attrString(const onnx::NodeProto &node, llvm::StringRef name,
                       llvm::StringRef dflt);
std::optional<llvm::SmallVector<int64_t>>
attrInts(const onnx::NodeProto &node, llvm::StringRef name);

} // namespace lq::onnx_import

#endif // LQ_LIB_IMPORT_ONNX_IMPORTER_H
