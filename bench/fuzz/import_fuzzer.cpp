//===- import_fuzzer.cpp - libFuzzer target for the ONNX importer -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Feeds arbitrary bytes to quant-import's front end: protobuf parse, graph
// checks, tensor reading (inline and external data) and every translator.
// A diagnostic is a correct answer; a crash, sanitizer report, leak or
// out-of-memory is a bug. Built by bench/fuzz/run.sh with
// -fsanitize=fuzzer,address (CMake option LQ_BUILD_FUZZERS).
//
// The model "lives" in a scratch directory holding `weights.bin` (256 bytes),
// so inputs that reference external data exercise the file-slice path.
//
//===----------------------------------------------------------------------===//

#include "lq/Import/ONNX.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>
#include <string>

static std::string modelPath;

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  llvm::SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("lq-import-fuzz", dir))
    std::abort();
  llvm::SmallString<128> weights(dir);
  llvm::sys::path::append(weights, "weights.bin");
  std::error_code ec;
  llvm::raw_fd_ostream os(weights, ec);
  if (ec)
    std::abort();
  for (int i = 0; i < 256; ++i)
    os << char(i);
  llvm::SmallString<128> model(dir);
  llvm::sys::path::append(model, "fuzz.onnx");
  modelPath = std::string(model);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A fresh context per input: state must not leak between runs. The
  // importer loads the dialects it builds.
  mlir::MLIRContext context;
  context.disableMultithreading();
  mlir::ScopedDiagnosticHandler quiet(&context,
                                      [](mlir::Diagnostic &) { return mlir::success(); });
  lq::ONNXImportOptions options;
  // Keep host folding small so that the fuzzer cannot spend its time (or
  // memory) evaluating legitimately huge constant subgraphs.
  options.maxFoldElements = 1 << 16;
  auto module = lq::importONNXBuffer(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), modelPath,
      &context, options);
  (void)module;
  return 0;
}
