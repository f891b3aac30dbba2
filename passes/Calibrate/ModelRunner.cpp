//===- ModelRunner.cpp - JIT-running a model on token windows ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Shared by --calibrate (statistics of every linear's input) and
// --assign-mixed-precision metric=kl (the output distribution with one
// linear's weight swapped). See ModelRunner.h.
//
//===----------------------------------------------------------------------===//

#include "passes/Calibrate/ModelRunner.h"

#include "dialects/LQ/IR/LQOps.h"
#include "passes/Pipelines/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"

#include <lq_rt/lq_rt.h>

#include <fstream>
#include <random>

using namespace mlir;

namespace mlir::lq {

func::FuncOp entryOf(ModuleOp m) {
  if (auto f = m.lookupSymbol<func::FuncOp>("main"))
    return f;
  func::FuncOp entry;
  for (auto f : m.getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal())
      entry = entry ? func::FuncOp() : f;
  return entry;
}

FailureOr<int> tokenIdsArgument(func::FuncOp entry, Location loc,
                                StringRef what) {
  int idsArg = -1;
  for (auto [i, t] : llvm::enumerate(entry.getArgumentTypes())) {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt || !rt.hasStaticShape())
      return emitError(loc) << what
                            << ": the entry's inputs must have static shapes";
    // Empty inputs (a graph-level KV cache with past_seq = 0), and a
    // runtime-managed cache with its `position` (--static-kv-cache), run as
    // zeros: an empty cache, a prefill of the T ids from position 0.
    auto name = entry.getArgAttrOfType<StringAttr>(i, "onnx.name");
    bool runtimeCache = entry.getArgAttr(i, "lq.kv_cache") ||
                        (name && name.getValue() == "position" &&
                         rt.getRank() == 0);
    if (rt.getNumElements() == 0 || runtimeCache)
      continue;
    if (idsArg >= 0 || !rt.getElementType().isInteger(64) ||
        rt.getRank() != 2 || rt.getDimSize(0) != 1)
      return emitError(loc) << what
                            << ": the model must take [1, T] int64 token ids "
                               "as its only non-empty input";
    idsArg = int(i);
  }
  if (idsArg < 0)
    return emitError(loc) << what << ": the model has no token-id input";
  return idsArg;
}

int64_t vocabularyOf(func::FuncOp entry, int idsArg) {
  int64_t vocab = 0;
  entry.walk([&](EmbeddingOp e) {
    auto arg = dyn_cast<BlockArgument>(e.getIds());
    if (arg && arg.getOwner() == &entry.front() && int(arg.getArgNumber()) == idsArg)
      vocab = e.getTable().getType().getDimSize(0);
  });
  return ShapedType::isDynamic(vocab) ? 0 : vocab;
}

namespace {

/// Text -> ids by quant-tokenize in its own process: Debian's
/// libsentencepiece bundles a protobuf runtime that aborts when it is loaded
/// next to the ONNX importer's libprotobuf (quant-opt links both), the same
/// reason quant-compile tokenizes out of process.
LogicalResult tokenizeText(Location loc, StringRef what, const TokenSource &src,
                           std::vector<int64_t> &stream) {
  std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
  SmallString<256> tool(llvm::sys::path::parent_path(exe));
  llvm::sys::path::append(tool, "quant-tokenize");
  if (!llvm::sys::fs::can_execute(tool))
    return emitError(loc) << what << ": tokenizing text needs quant-tokenize next "
                          << "to this program (" << tool
                          << "); or give 'tokens=FILE.npy'";
  SmallString<128> ids;
  if (auto ec = llvm::sys::fs::createTemporaryFile("lq-tokens", "npy", ids))
    return emitError(loc) << what << ": cannot create a temporary file: "
                          << ec.message();
  llvm::scope_exit remove([&] { llvm::sys::fs::remove(ids); });
  SmallVector<StringRef> args = {tool, src.tokenizer, src.text, "-o", ids};
  std::string err;
  if (llvm::sys::ExecuteAndWait(tool, args, std::nullopt, {}, 0, 0, &err) != 0)
    return emitError(loc) << what << ": tokenizing '" << src.text
                          << "' with '" << src.tokenizer << "' failed"
                          << (err.empty() ? " (see quant-tokenize's message above)"
                                          : ": " + err);
  lq_tensor_t t{};
  if (lq_npy_read(ids.c_str(), &t) != LQ_RT_OK)
    return emitError(loc) << what << ": " << lq_rt_last_error();
  for (int64_t i = 0; i < lq_tensor_numel(&t); ++i)
    stream.push_back(static_cast<int64_t *>(t.data)[i]);
  lq_tensor_free(&t);
  return success();
}

/// Every id in [0, vocab) (vocab <= 0: unchecked).
LogicalResult checkIds(Location loc, StringRef what, const TokenSource &src,
                       ArrayRef<int64_t> ids, int64_t vocab) {
  if (vocab <= 0)
    return success();
  for (auto [i, id] : llvm::enumerate(ids))
    if (id < 0 || id >= vocab)
      return emitError(loc) << what << ": token id " << id << " (position " << i
                            << " of '" << (src.tokens.empty() ? src.text : src.tokens)
                            << "') is out of range for the model's vocabulary of "
                            << vocab;
  return success();
}

} // namespace

LogicalResult loadTokenWindows(Location loc, StringRef what,
                               const TokenSource &src, int64_t window,
                               std::vector<std::vector<int64_t>> &windows,
                               int64_t vocab) {
  std::vector<int64_t> stream;
  const std::string &tokens = src.tokens;
  if (!tokens.empty() && !StringRef(tokens).ends_with(".npy")) {
    // Plain text of ids, separated by spaces, commas or newlines.
    std::ifstream in(tokens);
    if (!in)
      return emitError(loc) << what << ": cannot read '" << tokens << "'";
    std::string word;
    while (in >> word) {
      for (StringRef part : llvm::split(StringRef(word), ',')) {
        int64_t id;
        if (part.empty())
          continue;
        if (part.getAsInteger(10, id))
          return emitError(loc) << what << ": '" << tokens << "' holds '"
                                << part << "', not a token id";
        stream.push_back(id);
      }
    }
  } else if (!tokens.empty()) {
    lq_tensor_t t{};
    if (lq_npy_read(tokens.c_str(), &t) != LQ_RT_OK)
      return emitError(loc) << what << ": " << lq_rt_last_error();
    if ((t.dtype != LQ_DTYPE_I64 && t.dtype != LQ_DTYPE_I32) || t.rank < 1 ||
        t.rank > 2) {
      lq_tensor_free(&t);
      return emitError(loc) << what
                            << ": 'tokens' must hold int32/int64 ids of shape "
                               "[T] or [N, T]";
    }
    for (int64_t i = 0; i < lq_tensor_numel(&t); ++i)
      stream.push_back(t.dtype == LQ_DTYPE_I64
                           ? static_cast<int64_t *>(t.data)[i]
                           : static_cast<int32_t *>(t.data)[i]);
    bool rows = t.rank == 2 && t.shape[1] == window;
    int64_t n = t.rank == 2 ? t.shape[0] : 0;
    lq_tensor_free(&t);
    if (failed(checkIds(loc, what, src, stream, vocab)))
      return failure();
    if (rows) {
      // [N, T] ids of the model's length: rows in order.
      for (int64_t r = 0; r < std::min<int64_t>(n, src.samples); ++r)
        windows.emplace_back(stream.begin() + r * window,
                             stream.begin() + (r + 1) * window);
      return success();
    }
  } else {
    if (src.tokenizer.empty() || src.text.empty())
      return emitError(loc) << what
                            << ": give 'tokens=FILE.npy' or 'tokenizer=FILE "
                               "text=FILE'";
    if (failed(tokenizeText(loc, what, src, stream)))
      return failure();
  }
  if (failed(checkIds(loc, what, src, stream, vocab)))
    return failure();
  if (int64_t(stream.size()) < window)
    return emitError(loc) << what << ": the data has " << stream.size()
                          << " tokens, fewer than one window of " << window;
  std::mt19937_64 rng(src.seed);
  for (int64_t i = 0; i < src.samples; ++i) {
    int64_t off = int64_t(rng() % uint64_t(stream.size() - window + 1));
    windows.emplace_back(stream.begin() + off, stream.begin() + off + window);
  }
  return success();
}

MemRefType anyLayoutF32(MLIRContext *ctx, int64_t rank) {
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic),
      strides(rank, ShapedType::kDynamic);
  return MemRefType::get(shape, Float32Type::get(ctx),
                         StridedLayoutAttr::get(ctx, ShapedType::kDynamic, strides));
}

Value rowsView(OpBuilder &b, Location l, Value t) {
  MLIRContext *ctx = b.getContext();
  auto ty = cast<RankedTensorType>(t.getType());
  int64_t K = ty.getShape().back(),
          M = ty.getNumElements() / std::max<int64_t>(K, 1);
  auto x2Ty = RankedTensorType::get({M, K}, b.getF32Type());
  Value x2 = t;
  if (ty.getRank() == 1)
    x2 = tensor::ExpandShapeOp::create(b, l, x2Ty, x2,
                                       ArrayRef<ReassociationIndices>{{0, 1}});
  else if (ty.getRank() > 2) {
    SmallVector<ReassociationIndices> r(2);
    for (int64_t i = 0; i + 1 < ty.getRank(); ++i)
      r[0].push_back(i);
    r[1].push_back(ty.getRank() - 1);
    x2 = tensor::CollapseShapeOp::create(b, l, x2Ty, x2, r);
  }
  auto exact = MemRefType::get(
      {M, K}, b.getF32Type(),
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic,
                             {ShapedType::kDynamic, ShapedType::kDynamic}));
  Value buf = bufferization::ToBufferOp::create(b, l, exact, x2, true);
  return memref::CastOp::create(b, l, anyLayoutF32(ctx, 2), buf);
}

func::FuncOp declareHostCallback(OpBuilder &b, ModuleOp m, StringRef name,
                                 TypeRange args) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(m.getBody());
  auto fn = func::FuncOp::create(b, m.getLoc(), name,
                                 b.getFunctionType(args, {}));
  fn.setPrivate();
  fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return fn;
}

func::FuncOp buildRunWrapper(
    ModuleOp m, func::FuncOp entry, int idsArg, StringRef name,
    TypeRange extra,
    function_ref<void(OpBuilder &, Location, ValueRange)> onResults) {
  OpBuilder b(m.getContext());
  Location loc = m.getLoc();
  b.setInsertionPointToEnd(m.getBody());
  SmallVector<Type> argTypes = {entry.getArgumentTypes()[idsArg]};
  argTypes.append(extra.begin(), extra.end());
  auto run = func::FuncOp::create(b, loc, name, b.getFunctionType(argTypes, {}));
  Block *body = run.addEntryBlock();
  b.setInsertionPointToStart(body);
  SmallVector<Value> args;
  size_t n = entry.getNumArguments(), firstExtra = n - extra.size();
  for (auto [i, t] : llvm::enumerate(entry.getArgumentTypes())) {
    if (int(i) == idsArg) {
      args.push_back(body->getArgument(0));
    } else if (i >= firstExtra) {
      args.push_back(body->getArgument(1 + i - firstExtra));
    } else {
      // Every other input is zero: an empty KV cache, `position` 0.
      auto rt = cast<RankedTensorType>(t);
      args.push_back(arith::ConstantOp::create(b, loc, rt, b.getZeroAttr(rt)));
    }
  }
  auto call = func::CallOp::create(b, loc, entry, args);
  onResults(b, loc, call.getResults());
  func::ReturnOp::create(b, loc);
  return run;
}

FailureOr<std::unique_ptr<ExecutionEngine>>
jitOnCpu(ModuleOp m, Location loc, StringRef what, StringRef runtimeLib,
         ArrayRef<HostSymbol> symbols) {
  MLIRContext *ctx = m.getContext();
  registerBuiltinDialectTranslation(*ctx);
  registerLLVMDialectTranslation(*ctx);
  // The copy runs in memory: lq.* argument attributes (lq.kv_cache,
  // lq.range, ...) describe the compiled model's signature, and LLVM's
  // translation would warn about each on every function that carries it.
  m.walk([](func::FuncOp f) {
    for (unsigned i = 0; i < f.getNumArguments(); ++i)
      if (DictionaryAttr attrs = f.getArgAttrDict(i))
        for (NamedAttribute a : attrs)
          if (a.getName().getValue().starts_with("lq."))
            f.removeArgAttr(i, a.getName());
  });
  PassManager pm(ctx);
  LowerToCpuOptions lowerOptions;
  lowerOptions.cWrappers = true;
  buildLowerToCpuPipeline(pm, lowerOptions);
  if (failed(pm.run(m)))
    return emitError(loc) << what << ": lowering the model copy failed";
  std::string lib = runtimeLib.str();
  if (lib.empty()) {
    std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
    SmallString<256> p(
        llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
    llvm::sys::path::append(p, "lib", "liblq_rt.so");
    lib = p.str().str();
  }
  if (!llvm::sys::fs::exists(lib))
    return emitError(loc) << what << ": cannot find the runtime '" << lib
                          << "' (set runtime-lib=PATH)";
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  ExecutionEngineOptions engineOptions;
  SmallVector<StringRef> libs = {lib};
  engineOptions.sharedLibPaths = libs;
  auto optimize = makeOptimizingTransformer(2, 0, nullptr);
  engineOptions.transformer = optimize;
  auto engine = ExecutionEngine::create(m, engineOptions);
  if (!engine)
    return emitError(loc) << what << ": JIT failed: "
                          << llvm::toString(engine.takeError());
  std::vector<HostSymbol> syms(symbols.begin(), symbols.end());
  (*engine)->registerSymbols([syms](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    for (const HostSymbol &s : syms)
      map[interner("_mlir_ciface_" + s.name)] = {
          llvm::orc::ExecutorAddr::fromPtr(s.address),
          llvm::JITSymbolFlags::Exported};
    return map;
  });
  return std::move(*engine);
}

} // namespace mlir::lq
