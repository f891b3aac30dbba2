//===- Tensors.h - ONNX tensors as the importer sees them ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Host-side tensors and the importer's per-value record. Small constant
// tensors (shape plumbing, masks, rotary tables) are evaluated on the host
// while importing, so exporter graphs with ~1,000 Shape/Gather/Concat nodes
// reach MLIR as a few dozen real ops; large ones (weights) stay blobs.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_LIB_IMPORT_ONNX_TENSORS_H
#define LQ_LIB_IMPORT_ONNX_TENSORS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <vector>

namespace lq::onnx_import {

/// ONNX TensorProto.DataType codes, including those newer than ONNX 1.12.
enum DType : int {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
  kFloat8E8M0 = 24,
};

const char *dtypeName(int dtype);
bool isFloatDType(int dtype);
bool isUnsignedDType(int dtype);
/// Bits per element; 0 for unsupported types.
unsigned dtypeBits(int dtype);
/// The MLIR element type of an ONNX type (unsigned integers become signless
/// of the same width; the importer remembers the signedness), or null.
mlir::Type dtypeToMLIR(int dtype, mlir::MLIRContext *ctx);

/// A constant tensor evaluated on the host. Values are stored as double: exact
/// for every integer below 2^53 and every float type ONNX has; int64 values
/// beyond that (Slice's INT64_MAX "to the end") saturate when read back.
struct HostTensor {
  int dtype = kUndefined;
  llvm::SmallVector<int64_t> shape;
  std::vector<double> data;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  int64_t asInt(int64_t i) const;
  /// The storage code of element `i` for types of at most 8 bits (the low
  /// bits of the integer; the encoding of the value for float8/float4).
  uint8_t code(int64_t i) const;
};

/// The fltSemantics of an 8-bit or 4-bit ONNX float type, or null.
const llvm::fltSemantics *smallFloatSemantics(int dtype);

/// What the importer knows about one ONNX value.
struct Val {
  mlir::Value value; ///< the IR value, created on first use for constants
  mlir::RankedTensorType type;
  int dtype = kUndefined;
  std::optional<HostTensor> host; ///< compile-time value, when small
  mlir::ElementsAttr weight;      ///< large constant (initializer)
  /// A MatMul weight `[K, N]` stored transposed: `weight` holds `[N, K]`
  /// (lq.linear's layout), written once from the file. `type` is still
  /// the ONNX type `[K, N]`; only MatMul reads such a value.
  bool linearLayout = false;

  bool isConstant() const { return host.has_value() || weight; }
  llvm::ArrayRef<int64_t> shape() const { return type.getShape(); }
  int64_t rank() const { return type.getRank(); }
};

/// Builds the attribute of a host tensor with MLIR type `type`.
mlir::DenseElementsAttr hostToAttr(const HostTensor &t,
                                   mlir::RankedTensorType type);

} // namespace lq::onnx_import

#endif // LQ_LIB_IMPORT_ONNX_TENSORS_H
