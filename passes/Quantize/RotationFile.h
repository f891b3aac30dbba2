//===- RotationFile.h - Reading learned rotations (SpinQuant) ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Where --spinquant="rotations=..." finds R1 and R2: a directory holding
// R1.npy and R2.npy, a NumPy .npz archive (np.savez) or a safetensors file,
// each with tensors named "R1" and "R2". See RotationFile.cpp for the formats.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_QUANTIZE_ROTATIONFILE_H
#define LQ_PASSES_QUANTIZE_ROTATIONFILE_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mlir::lq {

/// One tensor of a rotation file. `values` holds the elements (row-major) as
/// doubles when `dtype` is "f32" or "f64"; other dtypes are only named (so
/// that the caller can say what it got).
struct RotationTensor {
  std::string dtype; // "f32", "f64", "i64", ... (lq's short names)
  llvm::SmallVector<int64_t> shape;
  std::vector<double> values;
  bool isFloat() const { return dtype == "f32" || dtype == "f64"; }
};

/// The tensors of `rotations=`: a directory (NAME.npy inside, read on
/// demand), FILE.npz or FILE.safetensors (read whole on open).
class RotationFile {
public:
  /// Opens `path`; on failure returns false with `error` set (naming the
  /// file).
  bool open(llvm::StringRef path, std::string &error);
  /// Tensor `name`; on failure returns false with `error` set (naming the
  /// file and the tensor). `label` is set to how messages should name it
  /// ("DIR/R1.npy" or "FILE (tensor 'R1')").
  bool get(llvm::StringRef name, RotationTensor &out, std::string &label,
           std::string &error);
  /// The kind of source, for messages.
  bool isDirectory() const { return kind == Directory; }

private:
  enum Kind { Directory, Npz, SafeTensors } kind = Directory;
  std::string path;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  /// Npz: member name (without ".npy") -> [offset, size) of its stored
  /// bytes in `buffer`, and whether it is compressed (deflated).
  struct Member {
    uint64_t offset = 0, size = 0;
    uint16_t method = 0;
    uint32_t crc = 0;
  };
  std::map<std::string, Member> members;
  /// SafeTensors: name -> tensor (already decoded).
  std::map<std::string, RotationTensor> tensors;
  std::vector<std::string> names; // in file order, for "it holds ..."
};

} // namespace mlir::lq

#endif // LQ_PASSES_QUANTIZE_ROTATIONFILE_H
