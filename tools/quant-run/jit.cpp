//===- jit.cpp - liblq_jit: quant-run's JIT for .mlir / .onnx models -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// `quant-run model.mlir` JIT-compiles the model in memory with MLIR's
// ExecutionEngine (the path --calibrate uses) instead of loading a shared
// library from quant-compile. The compiler lives in this plugin, which
// quant-run dlopen()s only then: quant-run itself stays a small program on
// the C runtime. The JIT'd entry point becomes an lq_model_t through
// lq_model_create, so every quant-run feature (generation, KV caches,
// --dump-*) works the same on both.
//
//===----------------------------------------------------------------------===//

#include "lq/Driver/Compile.h"
#include "lq/InitAll.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <lq_rt/lq_rt.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

/// What a JIT'd model needs alive: the engine that owns its code.
struct Holder {
  std::unique_ptr<mlir::MLIRContext> context;
  lq::JitModel jit;
};

void release(void *p) { delete static_cast<Holder *>(p); }

} // namespace

/// Compiles `path` (.mlir, or .onnx with --dim flags) with quant-compile's
/// import, recipe and lowering, JIT-compiles it and returns it as a model.
/// `flags` are quant-compile's: --dim NAME=N, --input-shape, --recipe R,
/// --kv-cache N, --kv-format F, each followed by its value. Diagnostics go
/// to stderr. Returns 0 on success; `*seconds` is the start-up time.
extern "C" __attribute__((visibility("default"))) int
lq_jit_load(const char *path, const char *const *flags, int numFlags,
            lq_model_t **model, double *seconds) {
  lq::CompileOptions options;
  options.input = path;
  std::vector<std::string> dims, shapes;
  for (int i = 0; i + 1 < numFlags; i += 2) {
    std::string flag = flags[i], value = flags[i + 1];
    if (flag == "--dim")
      dims.push_back(value);
    else if (flag == "--input-shape")
      shapes.push_back(value);
    else if (flag == "--recipe")
      options.recipe = value;
    else if (flag == "--kv-cache")
      options.kvCache = std::atoll(value.c_str());
    else if (flag == "--kv-format")
      options.kvFormat = value;
    else {
      llvm::errs() << "quant-run: unknown compile flag '" << flag << "'\n";
      return 1;
    }
  }
  if (!lq::parseShapeFlags(shapes, dims, options.import, llvm::errs()))
    return 1;
  mlir::DialectRegistry registry;
  lq::registerAllDialects(registry);
  lq::registerAllPasses();
  auto holder = std::make_unique<Holder>();
  holder->context = std::make_unique<mlir::MLIRContext>(registry);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, holder->context.get());
  auto jit = lq::compileJit(options, *holder->context, llvm::nulls());
  if (mlir::failed(jit))
    return 1;
  holder->jit = std::move(*jit);
  if (seconds)
    *seconds = holder->jit.seconds;
  if (lq_model_create(holder->jit.main, holder->jit.signature.c_str(), release,
                      holder.get(), model) != LQ_RT_OK) {
    llvm::errs() << "quant-run: " << lq_rt_last_error() << "\n";
    return 1;
  }
  holder.release(); // owned by the model now
  return 0;
}
