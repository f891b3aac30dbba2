//===- Flags.cpp - The tools' shape flags ------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq/Import/ONNX.h"

using namespace llvm;

namespace lq {

bool parseShapeFlags(ArrayRef<std::string> inputShapes,
                     ArrayRef<std::string> dimParams,
                     ONNXImportOptions &options, raw_ostream &errs) {
  for (const std::string &spec : inputShapes) {
    StringRef s(spec);
    auto [name, dims] = s.split('=');
    if (name.empty() || dims.empty()) {
      errs << "error: --input-shape '" << spec << "' is not name=DxD...\n";
      return false;
    }
    SmallVector<int64_t> shape;
    SmallVector<StringRef> parts;
    dims.split(parts, 'x');
    for (StringRef p : parts) {
      int64_t d;
      if (p == "?")
        shape.push_back(-1);
      else if (!p.getAsInteger(10, d) && d >= 0)
        shape.push_back(d);
      else {
        errs << "error: --input-shape '" << spec << "': bad dim '" << p
               << "'\n";
        return false;
      }
    }
    options.inputShapes[name] = shape;
  }
  for (const std::string &spec : dimParams) {
    auto [name, value] = StringRef(spec).split('=');
    int64_t d;
    if (name.empty() || value.getAsInteger(10, d) || d < 0) {
      errs << "error: --dim '" << spec << "' is not name=N\n";
      return false;
    }
    options.dimParams[name] = d;
  }
  return true;
}

} // namespace lq
