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
// SpinQuant (Liu et al., ICLR 2025, arXiv:2405.16406) keeps this structure
// but learns R1 [D, D] and R2 [d, d] (one per layer) by Cayley SGD on the
// Stiefel manifold, minimizing the quantized network's loss; R3/R4 stay
// online Hadamards. `--spinquant="rotations=DIR"` fuses R1 = DIR/R1.npy and
// R2 = DIR/R2.npy ([layers, d, d], or one [d, d] for every layer) exactly
// where QuaRot fuses its Hadamards, as x -> x R1 and v -> v R2 (row vectors);
// tools/spinquant/learn.py writes them (rotations=learn learns them here:
// extractLlama below hands the norm-folded Llama to the libtorch plugin
// liblq_spinquant.so, SpinQuantLearn/, which is learn.py in C++, and the
// result is fused by the same code as a file's); rotations=FILE.npz or
// FILE.safetensors with tensors named R1 and R2 work too (RotationFile.cpp).
// Each is checked orthogonal on load (max |RᵀR - I| <= orth-tol, 1e-4 by
// default, else an error naming the file and tensor). It is a pass of
// its own rather than file options of --quarot because its inputs differ
// (a required directory, no seed; R1/R2 cannot be switched off one by one
// without changing what the rotations were learned for, except r2=false for
// R1-only files), while the structure matching, the fusion and every
// diagnostic are the same code (RotationFuser below), so both stay in step.
//
// verify=true (both passes) checks the invariance on the model itself: the
// function is JIT-run before and after the rotation, with no quantization,
// and the logits must agree within verify-tol (RotationVerify.cpp).
//
// Hadamard products are applied with lq_rt's fast transform, dense ones
// with lq_rt's SGEMM. Structure is
// read from the IR: the residual stream starts at each lq.embedding and runs
// through elementwise adds (linalg.generic addf) whose other operand is an
// lq.linear (a writer); every lq.rms_norm on it must be read only by
// linears. Anything else is an error naming the op.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Calibrate/ModelRunner.h"
#include "passes/Quantize/RotationFile.h"
#include "passes/Quantize/RotationVerify.h"
#include "passes/Quantize/SpinQuantLearn/SpinQuantLearn.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <lq_rt/hadamard.h>
#include <lq_rt/kernels.h>
#include <lq_rt/lq_rt.h>

#include "llvm/ADT/ScopeExit.h"

#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>

#include <dlfcn.h>

#include <random>

namespace mlir::lq {
#define GEN_PASS_DEF_QUAROTPASS
#define GEN_PASS_DEF_SPINQUANTPASS
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

FailureOr<Weight> readWeight(Operation *user, Value v, StringRef what,
                             StringRef pass) {
  Attribute attr;
  Weight w;
  w.value = v;
  auto ty = dyn_cast<RankedTensorType>(v.getType());
  if (!ty || !ty.getElementType().isF32() || !ty.hasStaticShape() ||
      !matchPattern(v, m_Constant(&attr)) ||
      failed(lq::readFloatElements(attr, w.data))) {
    user->emitError() << pass << ": the " << what
                      << " is not a constant f32 tensor (run --" << pass
                      << " before quantizing the weights)";
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

/// An orthogonal R applied to row vectors, v -> v R, in consecutive blocks of
/// its size: a signed Hadamard matrix R = D Hᵀ (QuaRot; block 0 = the whole
/// row; applied by lq_rt's O(n log n) transform), or a dense matrix loaded
/// from a file (SpinQuant; applied by lq_rt's SGEMM).
struct Rotation {
  int64_t block = 0;         // Hadamard: block size (0 = whole row)
  SmallVector<float> signs;  // Hadamard: D (may be empty)
  int64_t size = 0;          // dense: R is [size, size]
  std::vector<float> denseT; // dense: Rᵀ, row-major
  bool isDense() const { return size > 0; }
  /// The size the rotated vectors (or blocks of them) must have; 0 = any
  /// size with a Hadamard matrix.
  int64_t dim() const { return isDense() ? size : block; }
};

/// rows r of w -> r R (blockwise).
void rotateRows(Weight &w, const Rotation &rot) {
  if (!rot.isDense()) {
    if (!rot.signs.empty())
      for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c = 0; c < w.cols; ++c)
          w.data[r * w.cols + c] *= rot.signs[c];
    lq_rt_hadamard_f32(w.rows, w.cols, rot.block, w.data.data(), w.cols);
    return;
  }
  const int64_t n = rot.size;
  const int64_t m = w.rows * w.cols / n; // callers check n divides cols
  SmallVector<float> out(w.data.size());
  // out[i, j] = sum_k v[i, k] R[k, j] = sum_k v[i, k] Rᵀ[j, k]
  lq_rt_sgemm_nt(m, n, n, w.data.data(), n, rot.denseT.data(), n, out.data(), n);
  w.data = std::move(out);
}

/// columns c of w -> (cᵀ R)ᵀ, i.e. w -> Rᵀ w (blockwise).
void rotateCols(Weight &w, const Rotation &rot) {
  Weight t;
  t.rows = w.cols;
  t.cols = w.rows;
  t.data.resize(w.data.size());
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c)
      t.data[c * w.rows + r] = w.data[r * w.cols + c];
  rotateRows(t, rot);
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c)
      w.data[r * w.cols + c] = t.data[c * w.rows + r];
}

Rotation hadamard(int64_t block, ArrayRef<float> signs = {}) {
  Rotation r;
  r.block = block;
  r.signs.assign(signs.begin(), signs.end());
  return r;
}

/// The rotation machinery shared by --quarot and --spinquant: finds the
/// transformer's structure in one function and fuses R1/R2 (from `r1Of` /
/// `r2Of`) and the online R3/R4 Hadamards. `name` prefixes every diagnostic.
struct RotationFuser {
  StringRef name;
  bool r1 = true, r2 = true, r3 = true, r4 = true;
  /// R1 for a residual stream of width D (an error is emitted at `at` and
  /// failure returned when there is none).
  std::function<FailureOr<Rotation>(Operation *at, int64_t D)> r1Of;
  /// R2 of attention number `layer` (of `numLayers`, in program order) with
  /// head size d.
  std::function<FailureOr<Rotation>(lq::AttentionOp at, int64_t layer,
                                    int64_t numLayers, int64_t d)>
      r2Of;

  LogicalResult run(func::FuncOp func) {
    // Nothing found in a previous function may carry over (R4 would rotate
    // its down_proj again).
    downProjs.clear();
    this->func = func;
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
      return success(); // nothing to rotate (e.g. a helper function)
    if (embeddings.empty() && r1)
      return func.emitError() << name << ": no lq.embedding found: cannot find the "
                                         "start of the residual stream (run --lq-raise)";
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

    if (r1 && failed(applyR1(embeddings, b, oProjOf)))
      return failure();
    if (r2 && failed(applyR2(attentions, oProjOf, vProjOf, b)))
      return failure();
    if (r3 && failed(applyR3(attentions, b)))
      return failure();
    if (r4 && failed(applyR4(b)))
      return failure();
    return success();
  }

  func::FuncOp func;
  // Residual writers that are not o_proj, of the function being rewritten.
  SmallVector<lq::LinearOp> downProjs;

  FailureOr<Weight> read(Operation *user, Value v, StringRef what) {
    return readWeight(user, v, what, name);
  }

  LogicalResult applyR1(MutableArrayRef<lq::EmbeddingOp> embeddings, OpBuilder &b,
                        const llvm::DenseMap<Operation *, lq::AttentionOp> &oProjOf) {
    const int64_t D = embeddings.front().getTable().getType().getDimSize(1);
    FailureOr<Rotation> q = r1Of(embeddings.front(), D);
    if (failed(q))
      return failure();

    // Walk the residual stream.
    SmallVector<Value> work;
    llvm::SetVector<Operation *> norms, writers;
    llvm::DenseSet<Value> stream;
    for (lq::EmbeddingOp e : embeddings) {
      auto table = read(e, e.getTable(), "embedding table");
      if (failed(table))
        return failure();
      if (table->cols != D)
        return e.emitError() << name << ": embedding width " << table->cols
                             << " differs from the first one's " << D;
      rotateRows(*table, *q);
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
                     << name << ": residual add whose other operand is not an "
                                "lq.linear output (cannot rotate what it adds)";
            writers.insert(lin);
          }
          work.push_back(g->getResult(0));
          continue;
        }
        if (isa<lq::LayerNormOp>(user))
          return user->emitError() << name << ": LayerNorm on the residual "
                                              "stream: run --fold-norms first";
        return user->emitError()
               << name << ": the residual stream is read by '"
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
        return norm.emitError() << name << ": lq.rms_norm with a scale other than "
                                           "ones: run --fold-norms first";
      SmallVector<lq::LinearOp> readers;
      if (!lq::collectLinearUsers(norm.getResult(), readers))
        return norm.emitError() << name << ": lq.rms_norm output is read by "
                                           "something other than lq.linear";
      for (lq::LinearOp lin : readers) {
        auto w = read(lin, lin.getWeight(), "weight of a norm reader");
        if (failed(w))
          return failure();
        if (w->cols != D)
          return lin.emitError() << name << ": norm reader has " << w->cols
                                 << " inputs, the stream has " << D;
        rotateRows(*w, *q); // W Q
        writeWeight(b, lin, 1, *w);
      }
    }
    for (Operation *op : writers) {
      auto lin = cast<lq::LinearOp>(op);
      auto w = read(lin, lin.getWeight(), "weight of a residual writer");
      if (failed(w))
        return failure();
      if (w->rows != D)
        return lin.emitError() << name << ": residual writer has " << w->rows
                               << " outputs, the stream has " << D;
      rotateCols(*w, *q); // Qᵀ W
      writeWeight(b, lin, 1, *w);
      if (Value bias = lin.getBias()) {
        auto bw = read(lin, bias, "bias of a residual writer");
        if (failed(bw))
          return failure();
        rotateRows(*bw, *q);
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
    for (int64_t layer = 0, e = attentions.size(); layer < e; ++layer) {
      lq::AttentionOp attn = attentions[layer];
      lq::LinearOp vProj, oProj;
      for (auto &[op, a] : vProjOf)
        if (a == attn)
          vProj = cast<lq::LinearOp>(op);
      for (auto &[op, a] : oProjOf)
        if (a == attn)
          oProj = cast<lq::LinearOp>(op);
      if (!vProj)
        return attn.emitError() << name << " (r2): the attention's value is not "
                                           "an lq.linear output (v_proj) through "
                                           "reshapes/transposes";
      if (!oProj)
        return attn.emitError() << name << " (r2): the attention's output does "
                                           "not reach an lq.linear (o_proj) through "
                                           "reshapes/transposes only";
      const int64_t d = attn.getValue().getType().getShape().back();
      FailureOr<Rotation> rot = r2Of(attn, layer, attentions.size(), d);
      if (failed(rot))
        return failure();
      auto wv = read(vProj, vProj.getWeight(), "v_proj weight");
      auto wo = read(oProj, oProj.getWeight(), "o_proj weight");
      if (failed(wv) || failed(wo))
        return failure();
      if (wv->rows % d || wo->cols % d)
        return attn.emitError() << name << " (r2): v_proj/o_proj widths are not "
                                           "multiples of the head size "
                                << d;
      // v -> v R2 per head: W_v -> R2ᵀ W_v (columns), b_v -> b_v R2;
      // o_proj reads heads rotated by R2: W_o -> W_o R2 per head (rows).
      // (For QuaRot's symmetric H_d both are products with H_d.)
      rotateCols(*wv, *rot);
      writeWeight(b, vProj, 1, *wv);
      if (Value bias = vProj.getBias()) {
        auto bv = read(vProj, bias, "v_proj bias");
        if (failed(bv))
          return failure();
        rotateRows(*bv, *rot);
        writeWeight(b, vProj, 2, *bv);
      }
      rotateRows(*wo, *rot);
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
        return attn.emitError() << name << " (r3): head size " << d
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
      func.walk([&](Operation *op) {
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
      return func.emitError()
             << name << " (r4): found no MLP down projection (a linear adding "
                        "into the residual stream that does not read an attention)";
    for (lq::LinearOp down : downProjs) {
      const int64_t K = down.getInput().getType().getShape().back();
      if (lq_rt_hadamard_factor(K) == 0)
        return down.emitError() << name << " (r4): down_proj input size " << K
                                << " has no Hadamard matrix";
      auto w = read(down, down.getWeight(), "down_proj weight");
      if (failed(w))
        return failure();
      rotateRows(*w, hadamard(0)); // W Hᵀ
      writeWeight(b, down, 1, *w);
      insertHadamard(b, down.getInput(), &down->getOpOperand(0));
      down->removeAttr("lq.act_absmax");
    }
    return success();
  }
};

/// Whether `func` has anything to rotate (helper functions are skipped).
bool hasLinear(func::FuncOp func) {
  bool found = false;
  func.walk([&](lq::LinearOp) {
    found = true;
    return WalkResult::interrupt();
  });
  return found;
}

/// QuaRot's random signs D of R1 = D Hᵀ for `seed` (also where
/// --spinquant rotations=learn starts).
SmallVector<float> quarotSigns(uint64_t seed, int64_t D) {
  std::mt19937_64 rng(seed);
  SmallVector<float> signs(D);
  for (float &s : signs)
    s = (rng() >> 63) ? -1.0f : 1.0f;
  return signs;
}

struct QuaRotPass : lq::impl::QuaRotPassBase<QuaRotPass> {
  using Base::Base;

  void runOnOperation() override {
    RotationFuser fuser;
    fuser.name = "quarot";
    fuser.r1 = r1, fuser.r2 = r2, fuser.r3 = r3, fuser.r4 = r4;
    fuser.r1Of = [&](Operation *at, int64_t D) -> FailureOr<Rotation> {
      if (lq_rt_hadamard_factor(D) == 0)
        return at->emitError()
               << "quarot: hidden size " << D
               << " has no Hadamard matrix (supported: 2^k * m, m in {1, 12, "
                  "20, 28, 36, 40, 52, 60, 108, 140, 156, 172})";
      return hadamard(0, quarotSigns(seed, D)); // Q = D Hᵀ
    };
    fuser.r2Of = [&](lq::AttentionOp attn, int64_t, int64_t,
                     int64_t d) -> FailureOr<Rotation> {
      if (d <= 0 || (d & (d - 1)))
        return attn.emitError() << "quarot (r2): head size " << d
                                << " is not a power of two";
      return hadamard(d); // H_d, symmetric
    };
    lq::RotationVerifier verifier;
    if (verify && hasLinear(getOperation()) &&
        failed(verifier.prepare(getOperation(), "quarot")))
      return signalPassFailure();
    if (failed(fuser.run(getOperation())))
      return signalPassFailure();
    if (verify && hasLinear(getOperation()) &&
        failed(verifier.check(getOperation(), verifyTol)))
      signalPassFailure();
  }
};

//===----------------------------------------------------------------------===//
// SpinQuant
//===----------------------------------------------------------------------===//

/// Reads tensor `name` of `file` as `count` square [n, n] matrices (shape
/// [n, n], or [count, n, n] when `allowStack`), checking that each is
/// orthogonal: max |RᵀR - I| <= `tol`. Returns Rᵀ of each, row-major, as
/// float; `label` names the tensor in later messages.
FailureOr<std::vector<std::vector<float>>>
loadOrthogonal(func::FuncOp func, lq::RotationFile &file, StringRef name,
               bool allowStack, double tol, int64_t &n, std::string &label) {
  lq::RotationTensor t;
  std::string error;
  if (!file.get(name, t, label, error)) {
    func.emitError() << "spinquant: " << error;
    return failure();
  }
  const int64_t rank = t.shape.size();
  bool square2 = rank == 2 && t.shape[0] == t.shape[1];
  bool square3 = allowStack && rank == 3 && t.shape[1] == t.shape[2];
  if (!t.isFloat() || !(square2 || square3) || t.shape[rank - 1] == 0) {
    InFlightDiagnostic diag = func.emitError();
    diag << "spinquant: " << label << " must hold "
         << (allowStack ? "[n, n] or [layers, n, n]" : "an [n, n]")
         << " f32/f64 matrix, not " << t.dtype << " [";
    for (int64_t i = 0; i < rank; ++i)
      diag << (i ? ", " : "") << t.shape[i];
    diag << "]";
    return failure();
  }
  n = t.shape[rank - 1];
  const int64_t count = square3 ? t.shape[0] : 1;
  std::vector<std::vector<float>> out;
  for (int64_t l = 0; l < count; ++l) {
    const double *m = t.values.data() + l * n * n;
    double worst = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i; j < n; ++j) {
        double dot = 0; // (RᵀR)[i, j] = column i · column j
        for (int64_t k = 0; k < n; ++k)
          dot += m[k * n + i] * m[k * n + j];
        worst = std::max(worst, std::abs(dot - (i == j ? 1.0 : 0.0)));
      }
    if (!(worst <= tol)) {
      char tolText[32];
      std::snprintf(tolText, sizeof tolText, "%g", tol);
      InFlightDiagnostic diag = func.emitError();
      diag << "spinquant: " << label;
      if (square3)
        diag << " [" << l << "]";
      diag << " is not orthogonal: max |R^T R - I| = " << worst
           << " (> orth-tol " << tolText << ")";
      return failure();
    }
    std::vector<float> rt(n * n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        rt[j * n + i] = static_cast<float>(m[i * n + j]);
    out.push_back(std::move(rt));
  }
  return out;
}

//===----------------------------------------------------------------------===//
// SpinQuant rotations=learn: the network handed to liblq_spinquant.so
//===----------------------------------------------------------------------===//

/// The matrix T [n, n] (float64, row-major) with lq.hadamard(x) = x T for row
/// vectors, times diag(signs) on the left when given: row i = s_i H e_i.
std::vector<double> hadamardMatrix(int64_t n, ArrayRef<float> signs = {}) {
  std::vector<float> m(n * n, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    m[i * n + i] = signs.empty() ? 1.0f : signs[i];
  lq_rt_hadamard_f32(n, n, 0, m.data(), n);
  return std::vector<double>(m.begin(), m.end());
}

/// A Llama found in the IR by the structure QuaRot fuses into (after
/// --fold-norms): per attention, q/k (through RoPE), v and o_proj; the
/// attention's residual add feeds the MLP norm, read by gate (through SiLU)
/// and up, whose product down_proj reads; the last norm is read by lm_head.
struct LlamaForLearning {
  lq_spinquant_problem_t problem{};
  std::vector<lq_spinquant_layer_t> layers;
  std::deque<Weight> weights; // owns every pointer in `problem` / `layers`
  int64_t modelSeqLen = 0;

  const float *keep(Weight w) {
    weights.push_back(std::move(w));
    return weights.back().data.data();
  }
};

/// The single linear the value `v` reaches through single-user layout ops.
lq::LinearOp linearReading(Value v) {
  if (!v.hasOneUse())
    return {};
  Operation *u = *v.getUsers().begin();
  while (u && isa<linalg::TransposeOp, tensor::CollapseShapeOp,
                  tensor::ExpandShapeOp, tensor::ReshapeOp>(u) &&
         u->getResult(0).hasOneUse())
    u = *u->getResult(0).getUsers().begin();
  return dyn_cast_or_null<lq::LinearOp>(u);
}

/// The residual add reading `lin`'s output (through reshapes), or null.
Operation *residualAddOf(lq::LinearOp lin) {
  Value v = lin.getResult();
  while (v.hasOneUse()) {
    Operation *u = *v.getUsers().begin();
    if (isElementwiseAdd(u))
      return u;
    if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(u))
      return nullptr;
    v = u->getResult(0);
  }
  return nullptr;
}

/// The lq.rms_norm reading `v` (through reshapes), or null.
lq::RMSNormOp normReading(Value v) {
  for (Operation *u : v.getUsers()) {
    if (auto n = dyn_cast<lq::RMSNormOp>(u))
      return n;
    if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(u))
      if (auto n = normReading(u->getResult(0)))
        return n;
  }
  return {};
}

/// Whether the single-input linalg.generic `g` computes SiLU, x·σ(x) (the
/// raised exporter pattern: exp, add, div or a reciprocal, mul).
bool looksLikeSiLU(linalg::GenericOp g) {
  if (g.getNumDpsInputs() != 1)
    return false;
  bool exp = false, mul = false;
  g.getRegion().walk([&](Operation *op) {
    exp |= op->getName().getStringRef() == "math.exp";
    mul |= isa<arith::MulFOp, arith::DivFOp>(op);
  });
  return exp && mul;
}

/// Whether `norm`'s scale is all ones (folded into its readers).
bool isFolded(lq::RMSNormOp norm) {
  SmallVector<float> g;
  Attribute attr;
  return matchPattern(norm.getWeight(), m_Constant(&attr)) &&
         succeeded(lq::readFloatElements(attr, g)) &&
         llvm::all_of(g, [](float x) { return x == 1.0f; });
}

/// Fills `out` with the function's Llama, or emits an error (prefixed
/// "spinquant (learn)") and fails.
LogicalResult extractLlama(func::FuncOp func, LlamaForLearning &out) {
  const char *P = "spinquant (learn): ";
  SmallVector<lq::EmbeddingOp> embeddings;
  SmallVector<lq::AttentionOp> attentions;
  func.walk([&](Operation *op) {
    if (auto e = dyn_cast<lq::EmbeddingOp>(op))
      embeddings.push_back(e);
    else if (auto a = dyn_cast<lq::AttentionOp>(op))
      attentions.push_back(a);
  });
  if (embeddings.size() != 1)
    return func.emitError() << P << "expected one lq.embedding, found "
                            << embeddings.size();
  if (attentions.empty())
    return func.emitError() << P << "found no lq.attention";
  lq_spinquant_problem_t &p = out.problem;
  auto weightOf = [&](lq::LinearOp lin, StringRef role, int64_t rows,
                      int64_t cols) -> FailureOr<const float *> {
    if (lin.getBias())
      return lin.emitError() << P << role << " has a bias (not supported)";
    auto w = readWeight(lin, lin.getWeight(), (role + " weight").str(), "spinquant");
    if (failed(w))
      return failure();
    if ((rows && w->rows != rows) || (cols && w->cols != cols))
      return lin.emitError() << P << role << " weight is [" << w->rows << ", "
                             << w->cols << "], expected [" << rows << ", "
                             << cols << "]";
    return out.keep(std::move(*w));
  };
  lq::EmbeddingOp emb = embeddings.front();
  auto table = readWeight(emb, emb.getTable(), "embedding table", "spinquant");
  if (failed(table))
    return failure();
  p.vocab = table->rows, p.dim = table->cols;
  out.modelSeqLen = cast<ShapedType>(emb.getIds().getType()).getShape().back();
  p.embedding = out.keep(std::move(*table));
  p.layers = attentions.size();
  Value stream = emb.getResult();
  lq::RotaryOp firstRotary;
  for (auto [l, attn] : llvm::enumerate(attentions)) {
    auto here = [&, l = l](Operation *at) {
      return at->emitError() << P << "layer " << l << ": ";
    };
    auto qT = attn.getQuery().getType(), kT = attn.getKey().getType();
    const int64_t H = qT.getShape()[1], KV = kT.getShape()[1],
                  hd = qT.getShape().back();
    if (l == 0)
      p.heads = H, p.kv_heads = KV, p.head_dim = hd;
    else if (H != p.heads || KV != p.kv_heads || hd != p.head_dim)
      return here(attn) << "head counts differ from layer 0's";
    if (!attn.getCausal() || attn.getMask() || attn.getPosition())
      return here(attn) << "the attention must be causal, without a mask or a "
                           "KV-cache position (learn on the prefill model)";
    if (std::abs(attn.getEffectiveScale() * std::sqrt(double(hd)) - 1) > 1e-6)
      return here(attn) << "attention scale is not 1/sqrt(head size)";
    // q, k: an lq.linear through layout ops, RoPE, layout ops.
    auto projThroughRope = [&](Value v, lq::RotaryOp &rot) -> lq::LinearOp {
      rot = throughLayout(v).getDefiningOp<lq::RotaryOp>();
      if (!rot)
        return {};
      return throughLayout(rot.getInput()).getDefiningOp<lq::LinearOp>();
    };
    lq::RotaryOp qRot, kRot;
    lq::LinearOp q = projThroughRope(attn.getQuery(), qRot);
    lq::LinearOp k = projThroughRope(attn.getKey(), kRot);
    lq::LinearOp v = throughLayout(attn.getValue()).getDefiningOp<lq::LinearOp>();
    lq::LinearOp o = linearReading(attn.getResult());
    if (!q || !k || !v || !o)
      return here(attn) << "expected q/k = RoPE(lq.linear), v = lq.linear and "
                           "the output read by one lq.linear (o_proj), "
                           "through reshapes/transposes";
    if (!firstRotary)
      firstRotary = qRot;
    lq::RMSNormOp attnNorm = normReading(stream);
    if (!attnNorm || throughReshapes(q.getInput()) != attnNorm.getResult() ||
        throughReshapes(k.getInput()) != attnNorm.getResult() ||
        throughReshapes(v.getInput()) != attnNorm.getResult())
      return here(attn) << "q/k/v_proj do not read the RMSNorm of the "
                           "residual stream";
    if (!isFolded(attnNorm))
      return attnNorm.emitError() << P << "lq.rms_norm with a scale other "
                                          "than ones: run --fold-norms first";
    Operation *add1 = residualAddOf(o);
    if (!add1)
      return here(o) << "o_proj does not add into the residual stream";
    lq::RMSNormOp ffnNorm = normReading(add1->getResult(0));
    SmallVector<lq::LinearOp> readers;
    if (!ffnNorm || !lq::collectLinearUsers(ffnNorm.getResult(), readers) ||
        readers.size() != 2)
      return here(add1) << "expected an RMSNorm read by two linears "
                           "(gate_proj, up_proj) after the attention";
    if (!isFolded(ffnNorm))
      return ffnNorm.emitError() << P << "lq.rms_norm with a scale other "
                                         "than ones: run --fold-norms first";
    // gate: the reader a SiLU generic reads; up: the other.
    lq::LinearOp gate, up;
    for (lq::LinearOp r : readers)
      for (Operation *u : r.getResult().getUsers())
        if (auto g = dyn_cast<linalg::GenericOp>(u); g && looksLikeSiLU(g))
          gate = r;
    for (lq::LinearOp r : readers)
      if (r != gate)
        up = r;
    lq::LinearOp down;
    if (gate && up && up.getResult().hasOneUse())
      if (auto mul = dyn_cast<linalg::GenericOp>(*up.getResult().getUsers().begin()))
        down = linearReading(mul.getResult(0));
    if (!gate || !up || !down)
      return here(ffnNorm) << "expected a SwiGLU MLP: down_proj(silu(gate_proj(x)) "
                              "* up_proj(x))";
    Operation *add2 = residualAddOf(down);
    if (!add2)
      return here(down) << "down_proj does not add into the residual stream";
    stream = add2->getResult(0);
    const int64_t D = p.dim, F = cast<ShapedType>(gate.getType()).getShape().back();
    if (l == 0)
      p.hidden = F;
    auto wq = weightOf(q, "q_proj", H * hd, D), wk = weightOf(k, "k_proj", KV * hd, D),
         wv = weightOf(v, "v_proj", KV * hd, D), wo = weightOf(o, "o_proj", D, H * hd),
         wg = weightOf(gate, "gate_proj", p.hidden, D),
         wu = weightOf(up, "up_proj", p.hidden, D),
         wd = weightOf(down, "down_proj", D, p.hidden);
    if (failed(wq) || failed(wk) || failed(wv) || failed(wo) || failed(wg) ||
        failed(wu) || failed(wd))
      return failure();
    out.layers.push_back({*wq, *wk, *wv, *wo, *wg, *wu, *wd});
    p.eps = attnNorm.getEpsilon().convertToFloat();
  }
  lq::RMSNormOp finalNorm = normReading(stream);
  SmallVector<lq::LinearOp> heads;
  if (!finalNorm || !lq::collectLinearUsers(finalNorm.getResult(), heads) ||
      heads.size() != 1)
    return func.emitError() << P << "expected the last RMSNorm to be read by "
                                    "one linear (lm_head)";
  if (!isFolded(finalNorm))
    return finalNorm.emitError() << P << "lq.rms_norm with a scale other than "
                                         "ones: run --fold-norms first";
  auto head = weightOf(heads.front(), "lm_head", p.vocab, p.dim);
  if (failed(head))
    return failure();
  p.lm_head = *head;
  p.layer = out.layers.data();

  // RoPE over the whole head (rotate-half or interleaved pairs), tables
  // cos/sin(p θ_r) from position 0 with θ_r = base^(-2r/d); `base`
  // recovered from position 1.
  p.rope_interleaved = firstRotary.getInterleaved() ? 1 : 0;
  SmallVector<float> cosT, sinT;
  Attribute ca, sa;
  auto tabT = cast<ShapedType>(firstRotary.getCos().getType());
  const int64_t R = tabT.getShape().back(), T = tabT.getShape().front();
  if (!matchPattern(firstRotary.getCos(), m_Constant(&ca)) ||
      !matchPattern(firstRotary.getSin(), m_Constant(&sa)) ||
      failed(lq::readFloatElements(ca, cosT)) ||
      failed(lq::readFloatElements(sa, sinT)) || T < 2 || 2 * R != p.head_dim ||
      R < 2)
    return firstRotary.emitError()
           << P << "RoPE tables must be constant [T >= 2, head size / 2]";
  const double theta1 = std::atan2(sinT[R + 1], cosT[R + 1]);
  double base = std::pow(theta1, -double(p.head_dim) / 2);
  if (std::abs(base - std::round(base)) <= 1e-4 * base)
    base = std::round(base);
  for (int64_t r = 0; r < R; ++r) {
    const double want = std::pow(base, -2.0 * r / double(p.head_dim));
    if (std::abs(cosT[r] - 1) > 1e-6 || std::abs(sinT[r]) > 1e-6 ||
        std::abs(std::atan2(sinT[R + r], cosT[R + r]) - want) > 1e-5)
      return firstRotary.emitError()
             << P << "RoPE tables are not cos/sin(p * base^(-2r/d)) from "
                     "position 0 (rope scaling is not supported)";
  }
  p.rope_theta = base;
  return success();
}

struct LearnProgress {
  int64_t steps;
  std::string lossName;
};

void printLearnProgress(void *ctx, const lq_spinquant_step_t *s) {
  auto *lp = static_cast<LearnProgress *>(ctx);
  llvm::errs() << "spinquant: step " << s->step << "/" << lp->steps;
  if (s->step > 0)
    llvm::errs() << llvm::format("  lr %.3f  train %s %.4f", s->lr,
                                 lp->lossName.c_str(), s->train_loss);
  if (!std::isnan(s->heldout_ce))
    llvm::errs() << llvm::format("  held-out CE %.4f", s->heldout_ce);
  llvm::errs() << llvm::format("  (%.1f s)\n", s->seconds);
}

/// Writes an f64 array as .npy; false on failure.
bool writeNpyF64(const std::string &path, ArrayRef<int64_t> shape,
                 const double *data) {
  lq_tensor_t t{};
  t.dtype = LQ_DTYPE_F64;
  t.rank = shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    t.shape[i] = shape[i];
  t.data = const_cast<double *>(data);
  return lq_npy_write(path.c_str(), &t) == LQ_RT_OK;
}

struct SpinQuantPass : lq::impl::SpinQuantPassBase<SpinQuantPass> {
  using Base::Base;

  /// rotations=learn: checks the options, finds the Llama, loads the
  /// learner plugin and the calibration windows, learns, and hands back R1
  /// (n1 = D) and R2 per layer (n2 = d) as Rᵀ in float, as loadOrthogonal.
  LogicalResult learn(func::FuncOp func, int64_t &n1, int64_t &n2,
                      std::vector<std::vector<float>> &rot1,
                      std::vector<std::vector<float>> &rot2) {
    auto err = [&]() {
      InFlightDiagnostic d = func.emitError();
      d << "spinquant: rotations=learn: ";
      return d;
    };
    if (!r2 || !r4)
      return err() << "R1/R2 are learned with R2 and R4 in place: "
                      "r2=false and r4=false are not supported";
    if (steps < 1)
      return err() << "steps=" << int64_t(steps) << ": give at least 1 step";
    if (!(lr > 0))
      return err() << "lr=" << llvm::formatv("{0}", double(lr)).str() << ": the learning rate must be positive";
    if (batch < 1)
      return err() << "batch=" << int64_t(batch) << ": give at least 1 window per step";
    if (heldout < 1 || samples <= heldout)
      return err() << "samples=" << int64_t(samples) << ", heldout=" << int64_t(heldout)
                   << ": need heldout >= 1 and samples > heldout";
    if (wbits < 2 || wbits > 16 || abits < 2 || abits > 16)
      return err() << "wbits=" << int64_t(wbits) << " abits=" << int64_t(abits)
                   << ": bits must be in [2, 16] (16: not quantized)";
    if (group < 0)
      return err() << "group=" << int64_t(group) << " must be >= 0";
    if (loss != "ce" && loss != "kl")
      return err() << "loss=" << std::string(loss) << ": expected ce or kl";
    if (tokens.empty() && (tokenizer.empty() || text.empty()))
      return err() << "needs calibration data: tokens=FILE.npy, or "
                      "tokenizer=FILE text=FILE";
    LlamaForLearning m;
    if (failed(extractLlama(func, m)))
      return failure();
    lq_spinquant_problem_t &p = m.problem;
    if (lq_rt_hadamard_factor(p.dim) == 0 || lq_rt_hadamard_factor(p.hidden) == 0 ||
        (p.head_dim & (p.head_dim - 1)))
      return err() << "hidden size " << p.dim << ", MLP size " << p.hidden
                   << " or head size " << p.head_dim
                   << " has no Hadamard matrix (R1/R4 start, R2 needs a power of two)";
    lq::TokenSource src;
    src.tokens = tokens, src.tokenizer = tokenizer, src.text = text;
    src.samples = samples, src.seed = seed;
    const int64_t window = seqLen > 0 ? int64_t(seqLen) : m.modelSeqLen;
    if (window < 2)
      return err() << "windows of " << window
                   << " tokens have no next token to predict: give seq-len >= 2 "
                      "(or a model with a static sequence length >= 2)";
    std::vector<std::vector<int64_t>> windows;
    if (failed(lq::loadTokenWindows(func.getLoc(), "spinquant", src, window,
                                    windows, p.vocab)))
      return failure();
    if (int64_t(windows.size()) <= heldout)
      return err() << windows.size() << " calibration windows, heldout="
                   << int64_t(heldout) << ": none left to learn on";
    std::vector<int64_t> ids;
    for (const auto &w : windows)
      ids.insert(ids.end(), w.begin(), w.end());

    std::string lib = plugin;
    if (lib.empty()) {
      std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
      SmallString<256> path(
          llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
      llvm::sys::path::append(path, "lib", "liblq_spinquant.so");
      lib = path.str().str();
    }
    // libtorch loads only here (~1 s); the plugin stays loaded (libtorch
    // does not support being unloaded).
    void *handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      return err() << "cannot load the learner '" << lib << "' (" << dlerror()
                   << "): lq was built without libtorch: install "
                      "libtorch-dev and rebuild, or pass learned rotations "
                      "(rotations=FILE, quant-compile --rotations FILE)";
    auto learnFn = reinterpret_cast<lq_spinquant_learn_fn>(
        dlsym(handle, "lq_spinquant_learn"));
    if (!learnFn)
      return err() << "'" << lib << "' has no lq_spinquant_learn";

    std::vector<double> r1Start =
        hadamardMatrix(p.dim, quarotSigns(seed, p.dim));
    std::vector<double> r2Start = hadamardMatrix(p.head_dim);
    std::vector<double> t4 = hadamardMatrix(p.hidden);
    std::vector<double> r1(p.dim * p.dim), r2(p.layers * p.head_dim * p.head_dim);
    std::vector<lq_spinquant_step_t> curve(steps + 1);
    p.abi_version = LQ_SPINQUANT_ABI_VERSION;
    p.r1_start = r1Start.data(), p.r2_start = r2Start.data(), p.t4 = t4.data();
    p.tokens = ids.data(), p.num_seqs = windows.size(), p.seq_len = window;
    p.heldout = heldout;
    p.steps = steps, p.batch = batch, p.eval_every = evalEvery, p.lr = lr;
    p.wbits = wbits, p.abits = abits, p.group = group;
    p.loss_kl = loss == "kl";
    p.threads = threads;
    LearnProgress progress{steps, loss == "kl" ? "KL" : "CE"};
    p.progress = printLearnProgress, p.progress_ctx = &progress;
    p.r1 = r1.data(), p.r2 = r2.data(), p.curve = curve.data();
    llvm::errs() << "spinquant: learning R1 [" << p.dim << ", " << p.dim
                 << "] and " << p.layers << " R2 [" << p.head_dim << ", "
                 << p.head_dim << "] on " << (windows.size() - heldout)
                 << " windows of " << window << " tokens (" << heldout
                 << " held out): W" << wbits << "A" << abits << ", " << steps
                 << " steps, lr " << llvm::format("%g", double(lr)) << ", batch "
                 << batch << "\n";
    if (learnFn(&p) != 0)
      return err() << "learning failed: " << p.error;
    llvm::errs() << llvm::format(
        "spinquant: held-out CE: float %.4f, W%dA%d no rotation %.4f, start "
        "%.4f, learned %.4f (%.1f s)\n",
        p.float_ce, int(wbits), int(abits), p.norot_ce, curve[0].heldout_ce,
        curve[steps].heldout_ce, curve[steps].seconds);

    // Orthogonal by construction (exact Cayley steps); checked anyway.
    auto orthError = [](const double *m, int64_t n) {
      double worst = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i; j < n; ++j) {
          double dot = 0;
          for (int64_t k = 0; k < n; ++k)
            dot += m[k * n + i] * m[k * n + j];
          worst = std::max(worst, std::abs(dot - (i == j ? 1.0 : 0.0)));
        }
      return worst;
    };
    double worst = orthError(r1.data(), p.dim);
    for (int64_t l = 0; l < p.layers; ++l)
      worst = std::max(worst, orthError(r2.data() + l * p.head_dim * p.head_dim,
                                        p.head_dim));
    if (!(worst <= orthTol))
      return err() << "the learned rotations are not orthogonal: max |R^T R - "
                      "I| = "
                   << worst;

    if (!save.empty()) {
      std::string dir = save;
      if (auto ec = llvm::sys::fs::create_directories(dir))
        return err() << "save=" << dir << ": " << ec.message();
      auto at = [&](StringRef f) {
        SmallString<256> path(dir);
        llvm::sys::path::append(path, f);
        return path.str().str();
      };
      if (!writeNpyF64(at("R1.npy"), {p.dim, p.dim}, r1.data()) ||
          !writeNpyF64(at("R2.npy"), {p.layers, p.head_dim, p.head_dim},
                       r2.data()))
        return err() << "save=" << dir << ": cannot write R1.npy/R2.npy ("
                     << lq_rt_last_error() << ")";
      std::error_code ec;
      llvm::raw_fd_ostream csv(at("loss.csv"), ec);
      if (ec)
        return err() << "save=" << dir << ": " << ec.message();
      csv << "step,lr,train_" << loss << ",heldout_ce,seconds\n";
      for (const lq_spinquant_step_t &s : curve) {
        csv << s.step << ",";
        if (s.step > 0)
          csv << llvm::format("%.6f,%.6f", s.lr, s.train_loss);
        else
          csv << ",";
        csv << ",";
        if (!std::isnan(s.heldout_ce))
          csv << llvm::format("%.6f", s.heldout_ce);
        csv << llvm::format(",%.2f\n", s.seconds);
      }
    }

    auto transposedF32 = [](const double *m, int64_t n) {
      std::vector<float> t(n * n);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          t[j * n + i] = static_cast<float>(m[i * n + j]);
      return t;
    };
    n1 = p.dim, n2 = p.head_dim;
    rot1 = {transposedF32(r1.data(), p.dim)};
    rot2.clear();
    for (int64_t l = 0; l < p.layers; ++l)
      rot2.push_back(
          transposedF32(r2.data() + l * p.head_dim * p.head_dim, p.head_dim));
    return success();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (!hasLinear(func))
      return;
    if (rotations.empty()) {
      func.emitError() << "spinquant: give rotations=DIR (a directory with "
                          "R1.npy and R2.npy, or FILE.npz / FILE.safetensors "
                          "with tensors R1 and R2, e.g. from "
                          "tools/spinquant/learn.py; or rotations=learn)";
      return signalPassFailure();
    }
    std::string r1Path, r2Path;
    int64_t n1 = 0, n2 = 0;
    std::vector<std::vector<float>> rot1, rot2;
    if (rotations == "learn") {
      if (failed(learn(func, n1, n2, rot1, rot2)))
        return signalPassFailure();
      r1Path = "the learned R1", r2Path = "the learned R2";
    } else {
    lq::RotationFile file;
    std::string error;
    if (!file.open(rotations, error)) {
      func.emitError() << "spinquant: " << error;
      return signalPassFailure();
    }
    {
      auto r = loadOrthogonal(func, file, "R1", /*allowStack=*/false, orthTol,
                              n1, r1Path);
      if (failed(r))
        return signalPassFailure();
      rot1 = std::move(*r);
    }
    if (r2) {
      auto r = loadOrthogonal(func, file, "R2", /*allowStack=*/true, orthTol,
                              n2, r2Path);
      if (failed(r))
        return signalPassFailure();
      rot2 = std::move(*r);
    }
    }

    RotationFuser fuser;
    fuser.name = "spinquant";
    fuser.r1 = true, fuser.r2 = r2, fuser.r3 = r3, fuser.r4 = r4;
    fuser.r1Of = [&](Operation *at, int64_t D) -> FailureOr<Rotation> {
      if (n1 != D)
        return at->emitError() << "spinquant: " << r1Path << " is [" << n1
                               << ", " << n1 << "], the hidden size is " << D;
      Rotation r;
      r.size = n1;
      r.denseT = rot1[0];
      return r;
    };
    fuser.r2Of = [&](lq::AttentionOp attn, int64_t layer, int64_t numLayers,
                     int64_t d) -> FailureOr<Rotation> {
      if (n2 != d)
        return attn.emitError() << "spinquant: " << r2Path << " holds [" << n2
                                << ", " << n2 << "] matrices, the head size is "
                                << d;
      if (rot2.size() != 1 && static_cast<int64_t>(rot2.size()) != numLayers)
        return attn.emitError() << "spinquant: " << r2Path << " holds "
                                << rot2.size() << " matrices, the model has "
                                << numLayers << " attentions (give one per "
                                                "layer, or one [d, d] for all)";
      Rotation r;
      r.size = n2;
      r.denseT = rot2[rot2.size() == 1 ? 0 : layer];
      return r;
    };
    lq::RotationVerifier verifier;
    if (verify && failed(verifier.prepare(func, "spinquant")))
      return signalPassFailure();
    if (failed(fuser.run(func)))
      return signalPassFailure();
    if (verify && failed(verifier.check(func, verifyTol)))
      signalPassFailure();
  }
};

} // namespace
