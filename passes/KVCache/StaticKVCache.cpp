//===- StaticKVCache.cpp - Fixed-capacity KV cache for decode steps -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// An exported decode step (`model_kv.onnx`: past_key/past_value inputs of
// length P, present outputs of length P + T) grows its shapes every step;
// lq compiles static shapes. Like Hugging Face's StaticCache or TensorRT-LLM's
// preallocated cache, this pass gives the step a cache of fixed capacity C
// and a run-time `position` p (tokens already cached):
//
//   present = concat(past[:, :, :P], new)       ->  cache[:, :, p:p+T] = new
//   attention(q, present, ...)                  ->  attention(q, cache, ...,
//                                                    position = p)
//   rotary(x, cos[P:P+T], sin[P:P+T])           ->  rotary(x, cos[p:p+T], ...)
//
// The rotary tables were folded to the rows of positions P..P+T-1 when the
// model was imported with static shapes. Standard RoPE (Su et al., 2021,
// arXiv:2104.09864) has cos[p, r] = cos(p·θ_r), so θ_r is recovered from
// the given rows (the row of position 1, or the angle between two
// consecutive rows) and the whole [C, R] table is recomputed the way the
// exporters compute it, in float32: cos(float32(p) · float32(θ_r)). Every
// given row is checked against the recomputed one, so a rotary that is not
// of this form (e.g. position-dependent scaling) is rejected, not guessed.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

namespace mlir::lq {
#define GEN_PASS_DEF_STATICKVCACHEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// A cache input and the concat that appends the step's new rows to it.
struct Cache {
  BlockArgument past;
  tensor::ConcatOp concat;
};

/// Recomputed rotary tables for one (cos, sin) pair of constants.
struct Tables {
  Value cos, sin; // [capacity, R] constants
};

/// θ_r from the rows of positions P .. P+T-1 of a cos/sin table, then the
/// full [capacity, R] tables; fails (with `why`) when the rows are not
/// cos/sin(p·θ).
LogicalResult recoverTables(ArrayRef<float> cos, ArrayRef<float> sin,
                            int64_t P, int64_t T, int64_t R, int64_t capacity,
                            std::vector<float> &cosOut,
                            std::vector<float> &sinOut, std::string &why) {
  std::vector<float> theta(R);
  for (int64_t r = 0; r < R; ++r) {
    double t;
    if (P <= 1 && P + T - 1 >= 1) {
      int64_t row = 1 - P;
      t = std::atan2(double(sin[row * R + r]), double(cos[row * R + r]));
    } else if (T >= 2) {
      double a0 = std::atan2(double(sin[r]), double(cos[r]));
      double a1 = std::atan2(double(sin[R + r]), double(cos[R + r]));
      t = std::remainder(a1 - a0, 2 * M_PI);
    } else {
      why = "a single rotary row at position " + std::to_string(P) +
            " does not determine the frequencies: import the step with a "
            "past length of 1 (or with at least 2 new tokens)";
      return failure();
    }
    theta[r] = float(t);
  }
  auto angle = [&](int64_t p, int64_t r) {
    return double(float(p) * theta[r]); // float32 product, as exporters do
  };
  for (int64_t i = 0; i < T; ++i)
    for (int64_t r = 0; r < R; ++r) {
      double tol = 1e-5 * double(1 + P + i);
      double c = std::cos(angle(P + i, r)), s = std::sin(angle(P + i, r));
      if (std::fabs(c - cos[i * R + r]) > tol ||
          std::fabs(s - sin[i * R + r]) > tol) {
        why = "the rotary tables are not cos/sin(p * theta) (row of position " +
              std::to_string(P + i) + ", column " + std::to_string(r) + ")";
        return failure();
      }
    }
  cosOut.resize(capacity * R);
  sinOut.resize(capacity * R);
  for (int64_t p = 0; p < capacity; ++p)
    for (int64_t r = 0; r < R; ++r) {
      cosOut[p * R + r] = float(std::cos(angle(p, r)));
      sinOut[p * R + r] = float(std::sin(angle(p, r)));
    }
  return success();
}

struct StaticKVCachePass
    : lq::impl::StaticKVCachePassBase<StaticKVCachePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (f.isExternal())
      return;
    MLIRContext *ctx = &getContext();
    if (capacity <= 0) {
      f.emitError() << "static-kv-cache: 'capacity' must be a positive number "
                       "of tokens, got "
                    << int64_t(capacity);
      return signalPassFailure();
    }
    Block &entry = f.front();
    auto ret = dyn_cast<func::ReturnOp>(entry.getTerminator());
    if (!ret || !f.getBody().hasOneBlock()) {
      f.emitError() << "static-kv-cache: expects a single-block function";
      return signalPassFailure();
    }

    // 1. Caches: arguments whose only use appends new rows along dim 2.
    SmallVector<Cache> caches;
    for (BlockArgument a : entry.getArguments()) {
      auto ty = dyn_cast<RankedTensorType>(a.getType());
      if (!ty || ty.getRank() != 4 || !ty.hasStaticShape() || !a.hasOneUse())
        continue;
      auto cat = dyn_cast<tensor::ConcatOp>(*a.getUsers().begin());
      if (!cat || cat.getDim() != 2 || cat.getInputs().size() != 2 ||
          cat.getInputs()[0] != a)
        continue;
      caches.push_back({a, cat});
    }
    if (caches.empty()) {
      f.emitError() << "static-kv-cache: found no KV cache (an argument "
                       "concatenated in front of new keys/values along dim 2)";
      return signalPassFailure();
    }
    auto newRows = [](Cache &c) {
      return cast<RankedTensorType>(c.concat.getInputs()[1].getType());
    };
    const int64_t P =
        cast<RankedTensorType>(caches.front().past.getType()).getDimSize(2);
    const int64_t T = newRows(caches.front()).getDimSize(2);
    for (Cache &c : caches) {
      if (cast<RankedTensorType>(c.past.getType()).getDimSize(2) != P ||
          !newRows(c).hasStaticShape() || newRows(c).getDimSize(2) != T) {
        c.concat.emitError() << "static-kv-cache: every cache must have the "
                                "same static past length and step length";
        return signalPassFailure();
      }
      for (Operation *user : c.concat->getUsers()) {
        auto attn = dyn_cast<lq::AttentionOp>(user);
        bool ok = isa<func::ReturnOp>(user) ||
                  (attn && attn.getQuery() != c.concat.getResult() &&
                   !attn.getMask() && !attn.getPosition());
        if (!ok) {
          user->emitError() << "static-kv-cache: a cache is read by '"
                            << user->getName()
                            << "'; only lq.attention (as key/value, without a "
                               "mask) and the return can read it";
          return signalPassFailure();
        }
      }
      if (!llvm::is_contained(ret.getOperands(), c.concat.getResult())) {
        c.concat.emitError() << "static-kv-cache: the updated cache is not "
                                "returned, so it would not persist";
        return signalPassFailure();
      }
    }
    if (capacity < T) {
      f.emitError() << "static-kv-cache: 'capacity' (" << int64_t(capacity)
                    << ") is smaller than the step's " << T << " new tokens";
      return signalPassFailure();
    }

    // 2. The position input, and its index at the top of the body.
    auto posTy = RankedTensorType::get({}, IntegerType::get(ctx, 64));
    unsigned posIndex = f.getNumArguments();
    NamedAttrList posAttrs;
    posAttrs.set("onnx.name", StringAttr::get(ctx, "position"));
    posAttrs.set("lq.range",
                 DenseI64ArrayAttr::get(ctx, {0, capacity - T + 1}));
    if (failed(f.insertArgument(posIndex, posTy,
                                posAttrs.getDictionary(ctx), f.getLoc()))) {
      f.emitError() << "static-kv-cache: cannot add the position argument";
      return signalPassFailure();
    }
    Value pos = f.getArgument(posIndex);
    OpBuilder b(ctx);
    b.setInsertionPointToStart(&entry);
    Value p = tensor::ExtractOp::create(b, f.getLoc(), pos, ValueRange{});
    Value pIdx =
        arith::IndexCastOp::create(b, f.getLoc(), b.getIndexType(), p);

    // 3. Rotary tables, recomputed for every position and sliced at p.
    DenseMap<std::pair<Value, Value>, Tables> tables;
    WalkResult walk = f.walk([&](lq::RotaryOp rot) -> WalkResult {
      auto key = std::make_pair(rot.getCos(), rot.getSin());
      auto cosTy = cast<RankedTensorType>(rot.getCos().getType());
      if (cosTy.getRank() != 2 || cosTy.getDimSize(0) != T)
        return rot.emitError() << "static-kv-cache: rotary tables must be [" << T
                               << ", R], got " << cosTy;
      int64_t R = cosTy.getDimSize(1);
      if (!tables.count(key)) {
        Attribute ca, sa;
        SmallVector<float> cv, sv;
        if (!matchPattern(rot.getCos(), m_Constant(&ca)) ||
            !matchPattern(rot.getSin(), m_Constant(&sa)) ||
            failed(lq::readFloatElements(ca, cv)) ||
            failed(lq::readFloatElements(sa, sv)))
          return rot.emitError() << "static-kv-cache: rotary tables must be "
                                    "constants (positions folded at import)";
        std::vector<float> cosFull, sinFull;
        std::string why;
        if (failed(recoverTables(cv, sv, P, T, R, capacity, cosFull, sinFull,
                                 why)))
          return rot.emitError() << "static-kv-cache: " << why;
        OpBuilder tb(ctx);
        tb.setInsertionPointAfter(p.getDefiningOp());
        auto fullTy = RankedTensorType::get({capacity, R}, cosTy.getElementType());
        auto f32Ty = RankedTensorType::get({capacity, R}, tb.getF32Type());
        auto table = [&](ArrayRef<float> v) -> Value {
          Value c = arith::ConstantOp::create(
              tb, rot.getLoc(), f32Ty, DenseElementsAttr::get(f32Ty, v));
          if (fullTy != f32Ty)
            c = arith::TruncFOp::create(tb, rot.getLoc(), fullTy, c);
          return c;
        };
        tables[key] = {table(cosFull), table(sinFull)};
      }
      const Tables &t = tables[key];
      OpBuilder rb(rot);
      SmallVector<OpFoldResult> offsets = {pIdx, rb.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {rb.getIndexAttr(T), rb.getIndexAttr(R)};
      SmallVector<OpFoldResult> strides(2, rb.getIndexAttr(1));
      rot.getCosMutable().assign(tensor::ExtractSliceOp::create(
          rb, rot.getLoc(), cosTy, t.cos, offsets, sizes, strides));
      rot.getSinMutable().assign(tensor::ExtractSliceOp::create(
          rb, rot.getLoc(), cosTy, t.sin, offsets, sizes, strides));
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    // 4. Caches: [B, H, capacity, D] buffers updated at p.
    for (Cache &c : caches) {
      auto pastTy = cast<RankedTensorType>(c.past.getType());
      auto cacheTy = RankedTensorType::get(
          {pastTy.getDimSize(0), pastTy.getDimSize(1), capacity,
           pastTy.getDimSize(3)},
          pastTy.getElementType());
      c.past.setType(cacheTy);
      b.setInsertionPoint(c.concat);
      Value rows = c.concat.getInputs()[1];
      auto rowsTy = cast<RankedTensorType>(rows.getType());
      SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                           pIdx, b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes;
      for (int64_t d : rowsTy.getShape())
        sizes.push_back(b.getIndexAttr(d));
      SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
      Value updated = tensor::InsertSliceOp::create(
          b, c.concat.getLoc(), rows, c.past, offsets, sizes, strides);
      for (Operation *user : llvm::make_early_inc_range(c.concat->getUsers()))
        if (auto attn = dyn_cast<lq::AttentionOp>(user))
          if (!attn.getPosition())
            attn.getPositionMutable().assign(pos);
      c.concat.getResult().replaceAllUsesWith(updated);
      c.concat.erase();
      for (OpOperand &o : ret->getOpOperands())
        if (o.get() == updated) {
          f.setArgAttr(c.past.getArgNumber(), "lq.kv_cache",
                       IntegerAttr::get(IntegerType::get(ctx, 64),
                                        o.getOperandNumber()));
          break;
        }
    }
    f.setType(FunctionType::get(ctx, entry.getArgumentTypes(),
                                ret.getOperandTypes()));
  }
};

} // namespace
