//===- KVCacheInPlace.cpp - Runtime-managed caches updated in place -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// A decode step appends T rows to a cache of capacity C. Returned as a new
// value, the cache costs two O(C) copies per step (the argument is copied
// before the insert, and the result is copied out), which at long contexts
// costs more than attention itself. Writing into the caller's buffer makes
// the step O(T) in cache traffic, as in every serving runtime (vLLM's paged
// cache, llama.cpp's ggml_cpy into the KV view).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/LQ/IR/LQOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::lq {
#define GEN_PASS_DEF_KVCACHEINPLACEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// Whether `v` is `arg` with rows appended: an insert_slice into it, a
/// window append to it, or an scf.if whose branches yield either (KIVI's
/// keys are rewritten only by the steps that complete a group). Collects the
/// ops that use `arg` on the way (the appends and the yields of `arg`).
static bool appendsTo(Value v, BlockArgument arg,
                      llvm::SmallPtrSetImpl<Operation *> &appends) {
  Operation *def = v.getDefiningOp();
  if (auto ins = dyn_cast_or_null<tensor::InsertSliceOp>(def)) {
    appends.insert(ins);
    return ins.getDest() == arg;
  }
  if (auto win = dyn_cast_or_null<mlir::lq::KVWindowAppendOp>(def)) {
    appends.insert(win);
    return win.getWindow() == arg;
  }
  auto ifOp = dyn_cast_or_null<scf::IfOp>(def);
  if (!ifOp || ifOp.getElseRegion().empty())
    return false;
  unsigned i = cast<OpResult>(v).getResultNumber();
  for (scf::YieldOp yield : {ifOp.thenYield(), ifOp.elseYield()}) {
    Value y = yield.getOperand(i);
    if (y == arg)
      appends.insert(yield);
    else if (!appendsTo(y, arg, appends))
      return false;
  }
  return true;
}

struct KVCacheInPlacePass
    : lq::impl::KVCacheInPlacePassBase<KVCacheInPlacePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (f.isExternal() || !f.getBody().hasOneBlock())
      return;
    MLIRContext *ctx = &getContext();
    auto ret = dyn_cast<func::ReturnOp>(f.front().getTerminator());
    if (!ret)
      return;
    // Results that feed a cache back, by index.
    llvm::SmallDenseSet<unsigned> dropped;
    for (unsigned i = 0; i < f.getNumArguments(); ++i) {
      auto attr = f.getArgAttrOfType<IntegerAttr>(i, "lq.kv_cache");
      if (!attr)
        continue;
      int64_t r = attr.getInt();
      BlockArgument arg = f.getArgument(i);
      Value result = r >= 0 && r < int64_t(ret.getNumOperands())
                         ? ret.getOperand(unsigned(r))
                         : Value();
      // In place only when the append is the argument's one reader: then
      // nothing reads the old contents after the write.
      llvm::SmallPtrSet<Operation *, 4> appends;
      const bool inPlace =
          result && appendsTo(result, arg, appends) &&
          llvm::all_of(arg.getUses(), [&](OpOperand &use) {
            return appends.contains(use.getOwner());
          });
      if (!inPlace) {
        emitError(arg.getLoc()) << "kv-cache-in-place: cache argument " << i
                      << " is not appended to by its only use and returned "
                         "as result "
                      << r;
        return signalPassFailure();
      }
      f.setArgAttr(i, bufferization::BufferizationDialect::kWritableAttrName,
                   BoolAttr::get(ctx, true));
      f.setArgAttr(i, "lq.kv_cache_in_place", UnitAttr::get(ctx));
      f.removeArgAttr(i, "lq.kv_cache");
      dropped.insert(unsigned(r));
      ++numInPlace;
    }
    if (dropped.empty())
      return;
    SmallVector<Value> results;
    SmallVector<DictionaryAttr> attrs;
    for (unsigned r = 0; r < ret.getNumOperands(); ++r)
      if (!dropped.contains(r)) {
        results.push_back(ret.getOperand(r));
        attrs.push_back(f.getResultAttrDict(r));
      }
    ret->setOperands(results);
    f.setType(FunctionType::get(ctx, f.getArgumentTypes(),
                                ValueRange(results).getTypes()));
    f.setAllResultAttrs(attrs);
  }
};

} // namespace
