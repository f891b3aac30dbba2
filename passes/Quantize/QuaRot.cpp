//===- QuaRot.cpp - Fuse Hadamard rotations into the network --------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// QuaRot (Ashkboos et al., NeurIPS 2024, arXiv:2404.00456): an orthogonal Q
// inserted where it cancels leaves the float network unchanged but spreads
// outlier channels over all channels, so activations, weights and the KV
// cache quantize far better. With norms folded (--fold-norms: every RMSNorm
// is a plain x / rms(x), which commutes with any orthogonal Q because
// ‖xQ‖ = ‖x‖), the rotations are, for a row vector x and y = x Wᵀ + b:
//
//  R1  residual stream x -> x Q, Q = D Hᵀ (D random ±1 diagonal from `seed`,
//      H the normalized Hadamard matrix of the hidden size, <lq_rt/hadamard.h>):
//        embedding        E' = E Q                (rows e -> H (D e))
//        norm readers     W' = W Q                (q/k/v, gate/up, lm_head)
//        stream writers   W' = Qᵀ W, b' = b Q     (o_proj, down_proj: columns)
//  R2  per head of V (size d, a power of two so H_d is symmetric):
//        v_proj  W' = H_dᵀ W per head (columns), b' likewise;
//        o_proj  W' = W H_d per head (rows); attention mixes V rows, so the
//        rotation passes through softmax(QKᵀ) V unchanged.
//  R3  online lq.hadamard on Q and K after RoPE (per head): (Hq)·(Hk) = q·k.
//      K is rotated before it is concatenated with (or written into) a KV
//      cache, so the cache holds rotated keys (what a KV quantizer wants).
//  R4  online lq.hadamard on the down_proj input x -> H x, with
//      W' = W Hᵀ (rows w -> H w) so that W' (H x) = W x.
//
// All offline products are applied with lq_rt's fast transform. Structure is
// read from the IR: the residual stream starts at each lq.embedding and runs
// through elementwise adds (linalg.generic addf) whose other operand is an
// lq.linear (a writer); every lq.rms_norm on it must be read only by
// linears. Anything else is an error naming the op.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/SetVector.h"

#include <lq_rt/hadamard.h>

#include <random>

namespace mlir::lq {
#define GEN_PASS_DEF_QUAROTPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// Skips reshapes (expand/collapse/reshape) upward.
Value throughReshapes(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::ReshapeOp>(def))
      v = def->getOperand(0);
    else
      break;
  }
  return v;
}

/// Skips reshapes, transposes and the cache concatenation (its last input is
/// the new token's value) upward.
Value throughLayout(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::ReshapeOp,
            linalg::TransposeOp>(def))
      v = def->getOperand(0);
    else if (auto cat = dyn_cast<tensor::ConcatOp>(def))
      v = cat.getInputs().back();
    else if (auto ins = dyn_cast<tensor::InsertSliceOp>(def))
      v = ins.getSource();
    else
      break;
  }
  return v;
}

/// A linalg.generic computing out = a + b elementwise (identity maps).
bool isElementwiseAdd(Operation *op) {
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || g.getNumDpsInputs() != 2 || g.getNumDpsInits() != 1)
    return false;
  if (!llvm::all_of(g.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }))
    return false;
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 2)
    return false;
  auto add = dyn_cast<arith::AddFOp>(&body.front());
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!add || !yield || yield.getNumOperands() != 1 || yield.getOperand(0) != add)
    return false;
  Value a = body.getArgument(0), b = body.getArgument(1);
  return (add.getLhs() == a && add.getRhs() == b) ||
         (add.getLhs() == b && add.getRhs() == a);
}

/// A mutable float copy of a constant operand, written back as a new
/// dense_resource constant (so other users of the old constant keep it).
struct Weight {
  Value value;
  SmallVector<float> data;
  int64_t rows = 1, cols = 1;
};

FailureOr<Weight> readWeight(Operation *user, Value v, StringRef what) {
  Attribute attr;
  Weight w;
  w.value = v;
  auto ty = dyn_cast<RankedTensorType>(v.getType());
  if (!ty || !ty.getElementType().isF32() || !ty.hasStaticShape() ||
      !matchPattern(v, m_Constant(&attr)) ||
      failed(lq::readFloatElements(attr, w.data))) {
    user->emitError() << "quarot: the " << what
                      << " is not a constant f32 tensor (run --quarot before "
                         "quantizing the weights)";
    return failure();
  }
  if (ty.getRank() == 2) {
    w.rows = ty.getDimSize(0);
    w.cols = ty.getDimSize(1);
  } else {
    w.cols = ty.getNumElements();
  }
  return w;
}

void writeWeight(OpBuilder &b, Operation *user, unsigned operand, Weight &w) {
  auto ty = cast<RankedTensorType>(w.value.getType());
  b.setInsertionPoint(user);
  ArrayRef<char> bytes(reinterpret_cast<const char *>(w.data.data()),
                       w.data.size() * sizeof(float));
  auto attr = DenseResourceElementsAttr::get(
      ty, "lq_quarot",
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(float)));
  Value c = arith::ConstantOp::create(b, user->getLoc(), ty, attr);
  user->setOperand(operand, c);
}

/// rows r of w -> H_block (signs ∘ r) (signs may be empty).
void rotateRows(Weight &w, int64_t block, ArrayRef<float> signs) {
  if (!signs.empty())
    for (int64_t r = 0; r < w.rows; ++r)
      for (int64_t c = 0; c < w.cols; ++c)
        w.data[r * w.cols + c] *= signs[c];
  lq_rt_hadamard_f32(w.rows, w.cols, block, w.data.data(), w.cols);
}

/// columns of w -> H_block (signs ∘ column).
void rotateCols(Weight &w, int64_t block, ArrayRef<float> signs) {
  Weight t;
  t.rows = w.cols;
  t.cols = w.rows;
  t.data.resize(w.data.size());
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c)
      t.data[c * w.rows + r] = w.data[r * w.cols + c];
  rotateRows(t, block, signs);
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c)
      w.data[r * w.cols + c] = t.data[c * w.rows + r];
}

struct QuaRotPass : lq::impl::QuaRotPassBase<QuaRotPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // The pass instance runs on one function after another: nothing found
    // in the previous one may carry over (R4 would rotate its down_proj again).
    downProjs.clear();
    SmallVector<lq::EmbeddingOp> embeddings;
    SmallVector<lq::AttentionOp> attentions;
    bool hasLinear = false;
    func.walk([&](Operation *op) {
      if (auto e = dyn_cast<lq::EmbeddingOp>(op))
        embeddings.push_back(e);
      else if (auto a = dyn_cast<lq::AttentionOp>(op))
        attentions.push_back(a);
      else if (isa<lq::LinearOp>(op))
        hasLinear = true;
    });
    if (!hasLinear)
      return; // nothing to rotate (e.g. a helper function)
    if (embeddings.empty() && r1) {
      func.emitError() << "quarot: no lq.embedding found: cannot find the "
                          "start of the residual stream (run --lq-raise)";
      return signalPassFailure();
    }
    OpBuilder b(func.getContext());

    // R2 / R4 need the roles of the linears: o_proj reads an attention's
    // output, v_proj writes an attention's value, down_proj is every other
    // residual writer.
    llvm::DenseMap<Operation *, lq::AttentionOp> oProjOf, vProjOf;
    for (lq::AttentionOp attn : attentions) {
      if (auto v = throughLayout(attn.getValue()).getDefiningOp<lq::LinearOp>())
        vProjOf[v] = attn;
      for (Operation *user : attn->getUsers()) {
        Operation *u = user;
        // Follow single-user layout ops down to the linear.
        while (u && isa<linalg::TransposeOp, tensor::CollapseShapeOp,
                        tensor::ExpandShapeOp, tensor::ReshapeOp>(u) &&
               u->getResult(0).hasOneUse())
          u = *u->getResult(0).getUsers().begin();
        if (auto lin = dyn_cast_or_null<lq::LinearOp>(u))
          oProjOf[lin] = attn;
      }
    }

    if (r1 && failed(applyR1(func, embeddings, b, oProjOf)))
      return signalPassFailure();
    if (r2 && failed(applyR2(attentions, oProjOf, vProjOf, b)))
      return signalPassFailure();
    if (r3 && failed(applyR3(attentions, b)))
      return signalPassFailure();
    if (r4 && failed(applyR4(b)))
      return signalPassFailure();
  }

  // Residual writers that are not o_proj, of the function being rewritten.
  SmallVector<lq::LinearOp> downProjs;

  LogicalResult applyR1(func::FuncOp func, MutableArrayRef<lq::EmbeddingOp> embeddings,
                        OpBuilder &b,
                        const llvm::DenseMap<Operation *, lq::AttentionOp> &oProjOf) {
    const int64_t D = embeddings.front().getTable().getType().getDimSize(1);
    if (lq_rt_hadamard_factor(D) == 0)
      return embeddings.front().emitError()
             << "quarot: hidden size " << D
             << " has no Hadamard matrix (supported: 2^k * m, m in {1, 12, "
                "20, 28, 36, 40, 52, 60, 108, 140, 156, 172})";
    std::mt19937_64 rng(seed);
    SmallVector<float> signs(D);
    for (float &s : signs)
      s = (rng() >> 63) ? -1.0f : 1.0f;

    // Walk the residual stream.
    SmallVector<Value> work;
    llvm::SetVector<Operation *> norms, writers;
    llvm::DenseSet<Value> stream;
    for (lq::EmbeddingOp e : embeddings) {
      auto table = readWeight(e, e.getTable(), "embedding table");
      if (failed(table))
        return failure();
      if (table->cols != D)
        return e.emitError() << "quarot: embedding width " << table->cols
                             << " differs from the first one's " << D;
      rotateRows(*table, 0, signs);
      writeWeight(b, e, 0, *table);
      work.push_back(e.getResult());
    }
    while (!work.empty()) {
      Value v = work.pop_back_val();
      if (!stream.insert(v).second)
        continue;
      for (OpOperand &use : v.getUses()) {
        Operation *user = use.getOwner();
        if (auto norm = dyn_cast<lq::RMSNormOp>(user)) {
          norms.insert(norm);
          continue;
        }
        if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(user) &&
            cast<RankedTensorType>(user->getResult(0).getType()).getShape().back() == D) {
          work.push_back(user->getResult(0));
          continue;
        }
        if (isElementwiseAdd(user)) {
          auto g = cast<linalg::GenericOp>(user);
          Value other = g.getDpsInputs()[use.getOperandNumber() == 0 ? 1 : 0];
          if (!stream.contains(other)) {
            auto lin = throughReshapes(other).getDefiningOp<lq::LinearOp>();
            if (!lin)
              return user->emitError()
                     << "quarot: residual add whose other operand is not an "
                        "lq.linear output (cannot rotate what it adds)";
            writers.insert(lin);
          }
          work.push_back(g->getResult(0));
          continue;
        }
        if (isa<lq::LayerNormOp>(user))
          return user->emitError() << "quarot: LayerNorm on the residual "
                                      "stream: run --fold-norms first";
        return user->emitError()
               << "quarot: the residual stream is read by '"
               << user->getName() << "', which cannot be rotated";
      }
    }

    for (Operation *op : norms) {
      auto norm = cast<lq::RMSNormOp>(op);
      SmallVector<float> g;
      Attribute attr;
      if (!matchPattern(norm.getWeight(), m_Constant(&attr)) ||
          failed(lq::readFloatElements(attr, g)) ||
          llvm::any_of(g, [](float x) { return x != 1.0f; }))
        return norm.emitError() << "quarot: lq.rms_norm with a scale other than "
                                   "ones: run --fold-norms first";
      SmallVector<lq::LinearOp> readers;
      if (!lq::collectLinearUsers(norm.getResult(), readers))
        return norm.emitError() << "quarot: lq.rms_norm output is read by "
                                   "something other than lq.linear";
      for (lq::LinearOp lin : readers) {
        auto w = readWeight(lin, lin.getWeight(), "weight of a norm reader");
        if (failed(w))
          return failure();
        rotateRows(*w, 0, signs); // W Q
        writeWeight(b, lin, 1, *w);
      }
    }
    for (Operation *op : writers) {
      auto lin = cast<lq::LinearOp>(op);
      auto w = readWeight(lin, lin.getWeight(), "weight of a residual writer");
      if (failed(w))
        return failure();
      if (w->rows != D)
        return lin.emitError() << "quarot: residual writer has " << w->rows
                               << " outputs, the stream has " << D;
      rotateCols(*w, 0, signs); // Qᵀ W
      writeWeight(b, lin, 1, *w);
      if (Value bias = lin.getBias()) {
        auto bw = readWeight(lin, bias, "bias of a residual writer");
        if (failed(bw))
          return failure();
        rotateRows(*bw, 0, signs);
        writeWeight(b, lin, 2, *bw);
      }
      if (!oProjOf.count(lin))
        downProjs.push_back(lin);
    }
    for (Operation *op : writers)
      op->removeAttr("lq.act_absmax"); // calibration no longer describes x
    return success();
  }

  LogicalResult applyR2(ArrayRef<lq::AttentionOp> attentions,
                        const llvm::DenseMap<Operation *, lq::AttentionOp> &oProjOf,
                        const llvm::DenseMap<Operation *, lq::AttentionOp> &vProjOf,
                        OpBuilder &b) {
    for (lq::AttentionOp attn : attentions) {
      lq::LinearOp vProj, oProj;
      for (auto &[op, a] : vProjOf)
        if (a == attn)
          vProj = cast<lq::LinearOp>(op);
      for (auto &[op, a] : oProjOf)
        if (a == attn)
          oProj = cast<lq::LinearOp>(op);
      if (!vProj)
        return attn.emitError() << "quarot (r2): the attention's value is not "
                                   "an lq.linear output (v_proj) through "
                                   "reshapes/transposes";
      if (!oProj)
        return attn.emitError() << "quarot (r2): the attention's output does "
                                   "not reach an lq.linear (o_proj) through "
                                   "reshapes/transposes only";
      const int64_t d = attn.getValue().getType().getShape().back();
      if (d <= 0 || (d & (d - 1)))
        return attn.emitError() << "quarot (r2): head size " << d
                                << " is not a power of two";
      auto wv = readWeight(vProj, vProj.getWeight(), "v_proj weight");
      auto wo = readWeight(oProj, oProj.getWeight(), "o_proj weight");
      if (failed(wv) || failed(wo))
        return failure();
      if (wv->rows % d || wo->cols % d)
        return attn.emitError() << "quarot (r2): v_proj/o_proj widths are not "
                                   "multiples of the head size "
                                << d;
      rotateCols(*wv, d, {}); // H_dᵀ W_v per head (H_d symmetric)
      writeWeight(b, vProj, 1, *wv);
      if (Value bias = vProj.getBias()) {
        auto bv = readWeight(vProj, bias, "v_proj bias");
        if (failed(bv))
          return failure();
        rotateRows(*bv, d, {});
        writeWeight(b, vProj, 2, *bv);
      }
      rotateRows(*wo, d, {}); // W_o H_d per head
      writeWeight(b, oProj, 1, *wo);
    }
    return success();
  }

  /// Inserts y = lq.hadamard(x) after `x`'s definition and makes every use
  /// of x except `y` read y instead (or only `only`, if given).
  static Value insertHadamard(OpBuilder &b, Value x, OpOperand *only = nullptr) {
    if (Operation *def = x.getDefiningOp())
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(cast<BlockArgument>(x).getOwner());
    auto h = lq::HadamardOp::create(b, x.getLoc(), x.getType(), x, 0);
    if (only)
      only->set(h);
    else
      x.replaceAllUsesExcept(h, h);
    return h;
  }

  LogicalResult applyR3(ArrayRef<lq::AttentionOp> attentions, OpBuilder &b) {
    llvm::DenseSet<Value> done;
    for (lq::AttentionOp attn : attentions) {
      const int64_t d = attn.getQuery().getType().getShape().back();
      if (lq_rt_hadamard_factor(d) == 0)
        return attn.emitError() << "quarot (r3): head size " << d
                                << " has no Hadamard matrix";
      // Q: right at the attention's operand.
      insertHadamard(b, attn.getQuery(), &attn->getOpOperand(0));
      // K: after RoPE (before a KV-cache concat) when it can be found.
      Value k = attn.getKey();
      Value src = k;
      while (Operation *def = src.getDefiningOp()) {
        if (isa<lq::RotaryOp>(def))
          break;
        if (auto cat = dyn_cast<tensor::ConcatOp>(def))
          src = cat.getInputs().back();
        else if (auto ins = dyn_cast<tensor::InsertSliceOp>(def))
          src = ins.getSource(); // a runtime-managed cache (--static-kv-cache)
        else if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp,
                     linalg::TransposeOp>(def))
          src = def->getOperand(0);
        else
          break;
      }
      if (src.getDefiningOp<lq::RotaryOp>()) {
        // Every reader of the rotated keys (the attention, a KV-cache concat,
        // a returned present key) sees them rotated, so a cache this model
        // writes holds rotated keys, as the next step's concat expects.
        if (done.insert(src).second)
          insertHadamard(b, src);
      } else {
        insertHadamard(b, k, &attn->getOpOperand(1));
      }
    }
    return success();
  }

  LogicalResult applyR4(OpBuilder &b) {
    if (!r1) {
      // Without R1 the writers were not collected: every linear adding into
      // a residual add that does not read an attention is a down_proj.
      getOperation().walk([&](Operation *op) {
        if (!isElementwiseAdd(op))
          return;
        for (Value in : cast<linalg::GenericOp>(op).getDpsInputs())
          if (auto lin = throughReshapes(in).getDefiningOp<lq::LinearOp>())
            if (!throughLayout(lin.getInput()).getDefiningOp<lq::AttentionOp>() &&
                !llvm::is_contained(downProjs, lin))
              downProjs.push_back(lin);
      });
    }
    if (downProjs.empty())
      return getOperation().emitError()
             << "quarot (r4): found no MLP down projection (a linear adding "
                "into the residual stream that does not read an attention)";
    for (lq::LinearOp down : downProjs) {
      const int64_t K = down.getInput().getType().getShape().back();
      if (lq_rt_hadamard_factor(K) == 0)
        return down.emitError() << "quarot (r4): down_proj input size " << K
                                << " has no Hadamard matrix";
      auto w = readWeight(down, down.getWeight(), "down_proj weight");
      if (failed(w))
        return failure();
      rotateRows(*w, 0, {}); // W Hᵀ
      writeWeight(b, down, 1, *w);
      insertHadamard(b, down.getInput(), &down->getOpOperand(0));
      down->removeAttr("lq.act_absmax");
    }
    return success();
  }
};

} // namespace
