//===- ModelRunner.h - JIT-running a model on token windows --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// What --calibrate and --assign-mixed-precision's metric=kl share: find the
// model's entry and its token-id input, draw token windows from calibration
// data, wrap the entry in a function of the ids (plus extra inputs), lower a
// (modified) copy with --lower-to-cpu and JIT it with MLIR's
// ExecutionEngine, with host callbacks the copy calls.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_CALIBRATE_MODELRUNNER_H
#define LQ_PASSES_CALIBRATE_MODELRUNNER_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mlir::lq {

/// The module's entry: `main`, else its only public function with a body.
mlir::func::FuncOp entryOf(mlir::ModuleOp m);

/// The index of the entry's token-id input: the only input with elements,
/// [1, T] int64, besides a runtime-managed KV cache (`lq.kv_cache`) and its
/// 0-d `position` (every other input must be static and is run with zeros:
/// an empty KV cache, `position` 0, i.e. a T-token prefill). `what`
/// prefixes the errors ("calibrate").
mlir::FailureOr<int> tokenIdsArgument(mlir::func::FuncOp entry,
                                      mlir::Location loc, llvm::StringRef what);

/// Where the token windows come from (the options --calibrate documents).
struct TokenSource {
  std::string tokens;    // .npy ([T] or [N, T]) or a text file of ids
  std::string tokenizer; // SentencePiece model, with `text`
  std::string text;
  int64_t samples = 32;
  uint64_t seed = 0;
};

/// `samples` windows of `window` tokens at offsets drawn with `seed`, or the
/// rows in order when `tokens` is an [N, window] array. Text is tokenized by
/// `quant-tokenize` (next to the running program) in its own process. With
/// `vocab` > 0, an id outside [0, vocab) is an error, not an out-of-bounds
/// read in the JIT'd model.
mlir::LogicalResult loadTokenWindows(mlir::Location loc, llvm::StringRef what,
                                     const TokenSource &src, int64_t window,
                                     std::vector<std::vector<int64_t>> &out,
                                     int64_t vocab = 0);

/// Rows of the embedding table the entry's token ids index, or 0 when no
/// lq.embedding reads argument `idsArg` directly.
int64_t vocabularyOf(mlir::func::FuncOp entry, int idsArg);

/// memref<?x...x?xf32, strided<[?, ...], offset: ?>>, the layout host
/// callbacks receive.
mlir::MemRefType anyLayoutF32(mlir::MLIRContext *ctx, int64_t rank);

/// A read-only [M, K] f32 buffer view (any layout) of `t` (rank >= 1, static,
/// f32) collapsed over its leading dims, for a host callback.
mlir::Value rowsView(mlir::OpBuilder &b, mlir::Location loc, mlir::Value t);

/// A private, C-interface declaration of the host callback `name`.
mlir::func::FuncOp declareHostCallback(mlir::OpBuilder &b, mlir::ModuleOp m,
                                       llvm::StringRef name,
                                       mlir::TypeRange args);

/// Appends `name(ids, extra...)` to `m`: it calls `entry` with the ids at
/// `idsArg`, `extra` at the entry's last `extra.size()` inputs and zeros for
/// the others, then hands the entry's results to `onResults` (which may
/// insert ops, e.g. callbacks) and returns nothing.
mlir::func::FuncOp buildRunWrapper(
    mlir::ModuleOp m, mlir::func::FuncOp entry, int idsArg,
    llvm::StringRef name, mlir::TypeRange extra,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location,
                            mlir::ValueRange)>
        onResults);

/// A host function the JIT'd code calls as `_mlir_ciface_<name>`.
struct HostSymbol {
  std::string name;
  void *address;
};

/// Lowers `m` (consumed: it is rewritten) with --lower-to-cpu{c-wrappers},
/// JITs it at -O2 against lq_rt (`runtimeLib`, default
/// <exe>/../lib/liblq_rt.so) and binds `symbols`. Errors at `loc`, prefixed
/// by `what`.
mlir::FailureOr<std::unique_ptr<mlir::ExecutionEngine>>
jitOnCpu(mlir::ModuleOp m, mlir::Location loc, llvm::StringRef what,
         llvm::StringRef runtimeLib, llvm::ArrayRef<HostSymbol> symbols);

/// A memref descriptor of an [1, T] int64 id window, as the C interface
/// takes it.
struct IdsDescriptor {
  int64_t *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};
inline IdsDescriptor idsDescriptor(std::vector<int64_t> &ids) {
  int64_t T = int64_t(ids.size());
  return {ids.data(), ids.data(), 0, {1, T}, {T, 1}};
}

/// A 1-D / 2-D f32 memref descriptor.
struct MemRef1DF32 {
  float *allocated, *aligned;
  int64_t offset, sizes[1], strides[1];
};
struct MemRef2DF32 {
  float *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};

} // namespace mlir::lq

#endif // LQ_PASSES_CALIBRATE_MODELRUNNER_H
