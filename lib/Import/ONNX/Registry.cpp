//===- Registry.cpp - Which ONNX ops lq imports -------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "Ops.h"

using namespace ::lq::onnx_import;

Translator (::lq::onnx_import::lookupTranslator)(llvm::StringRef domain,
                                             llvm::StringRef opType) {
  static const auto tables = [] {
    std::pair<llvm::StringMap<Translator>, llvm::StringMap<Translator>> t;
    registerCoreOps(t.first);
    registerLLMOps(t.first);
    registerMicrosoftOps(t.second);
    registerFusedOps(t.first, t.second);
    // onnxruntime registers SimplifiedLayerNormalization in the default
    // domain; exporters also write it under com.microsoft.
    t.second["SimplifiedLayerNormalization"] =
        t.first.lookup("SimplifiedLayerNormalization");
    return t;
  }();
  if (domain.empty() || domain == "ai.onnx")
    return tables.first.lookup(opType);
  if (domain == "com.microsoft")
    return tables.second.lookup(opType);
  return nullptr;
}
