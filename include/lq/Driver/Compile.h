//===- Compile.h - quant-compile's driver ---------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_DRIVER_COMPILE_H
#define LQ_DRIVER_COMPILE_H

#include "lq/Import/ONNX.h"

#include "mlir/Support/LLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>

namespace mlir {
class ExecutionEngine;
class MLIRContext;
} // namespace mlir

namespace lq {

/// Where `quant-compile` stops and what it writes.
enum class EmitStage { Graph, Quantized, Lowered, LLVM, Object, Shared };

struct CompileOptions {
  std::string input;
  std::string output;
  EmitStage emit = EmitStage::Shared;
  /// A named recipe (see listRecipes) or, when `pipeline` is set, ignored.
  std::string recipe = "float";
  /// A textual quant-opt pipeline run instead of the recipe's.
  std::string pipeline;
  /// Calibration data for recipes that need it.
  std::string calibrationText, tokenizer, calibrationTokens;
  int64_t calibrationSamples = 32;
  /// Target CPU for code generation ("native" = this machine).
  std::string cpu = "native";
  unsigned optLevel = 3;
  /// Also write `<output stem>.h` describing inputs and outputs.
  bool emitHeader = true;
  ONNXImportOptions import;
  /// Print "index name NxK" for every lq.linear of the graph and stop.
  bool listLinears = false;
  /// "cpu" (--lower-to-cpu, links liblq_rt) or "cuda" (--lower-to-cuda with
  /// `cudaChip`, device code embedded, links liblq_rt_cuda too).
  std::string target = "cpu";
  std::string cudaChip = "sm_90a";
  /// --target=cuda: weights copied to the device once (true) or per call.
  bool cudaResidentWeights = true;
  bool cudaStreamOrdered = false;
  bool cudaDeviceKvCache = false;
  /// > 0: give a KV-cache step a runtime-managed cache of this many tokens
  /// (--static-kv-cache) right after import, so lq_generate can drive it.
  int64_t kvCache = 0;
  /// Non-empty: store the KV cache in this format (--quantize-kv-cache:
  /// int8, int4, fp8-e4m3, fp8-e5m2) after the recipe's passes.
  std::string kvFormat;
  /// Learned rotations (a directory with R1.npy/R2.npy, FILE.npz or
  /// FILE.safetensors) for recipes that fuse them (w4a4kv4-spinquant).
  std::string rotations;
};

/// The recipes quant-compile knows, with one line of description each.
llvm::ArrayRef<std::pair<llvm::StringRef, llvm::StringRef>> listRecipes();

/// The quant-opt pipeline (textual, replayable) a compile runs between import
/// and object code. Fails for an unknown recipe.
mlir::FailureOr<std::string> getPipeline(const CompileOptions &options);

/// Runs the compile. Diagnostics go through the context's handler; progress
/// lines to `log`. Writes `options.output` only when everything succeeded.
mlir::LogicalResult compile(const CompileOptions &options,
                            mlir::MLIRContext &context, llvm::raw_ostream &log);

/// A model JIT-compiled in memory: `main` and `signature` are what a shared
/// library from compile() exports as lq_model_main / lq_model_signature
/// (give them to lq_model_create); `engine` owns the code.
struct JitModel {
  std::unique_ptr<mlir::ExecutionEngine> engine;
  void (*main)(void **) = nullptr;
  std::string signature;
  double seconds = 0; ///< import + recipe + lowering + JIT
};

/// The same import, recipe and lowering as compile() (options.emit and
/// options.output are ignored), JIT-compiled by MLIR's ExecutionEngine for
/// this machine's CPU.
mlir::FailureOr<JitModel> compileJit(const CompileOptions &options,
                                     mlir::MLIRContext &context,
                                     llvm::raw_ostream &log);

} // namespace lq

#endif // LQ_DRIVER_COMPILE_H
