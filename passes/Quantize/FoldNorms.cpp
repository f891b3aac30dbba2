//===- FoldNorms.cpp - Fold norm scales into the next linears -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Folds the affine part of every RMSNorm / LayerNorm into the linears that
// read its output, the first step of rotation methods (QuaRot,
// arXiv:2404.00456; SliceGPT, arXiv:2401.15024 §3), which need a norm that
// is a plain x / ‖x‖ so that an orthogonal Q can be pushed through it.
//
// Norm with scale γ and shift β (β = 0 for RMSNorm), n(x) the normalized
// input, read by linears y = n·γ Wᵀ + ... :
//   (n ⊙ γ + β) Wᵀ + b = n (W diag(γ))ᵀ + (b + W β)
// so   W'[n, k] = W[n, k] · γ_k,   b'[n] = b[n] + Σ_k W[n, k] β_k,
// and the norm keeps γ = 1, β = none. Exact in real arithmetic; in float32
// the products round once more (relative change ~1e-7 per weight).
//
// A weight constant with users outside the folded group (the tied
// embedding / lm_head table, or one constant shared by several layers) is
// untied: the folded linear gets a new constant and the others keep theirs
// (a remark says so). A norm whose output is read by anything but linears
// with constant f32 weights is left as it is, with a warning naming why.
//
// LayerNorm to RMSNorm (`layer-norm-to-rms`): LN(x) = RMSNorm(x − mean(x))
// with the same ε, so once the residual stream feeding a LayerNorm has zero
// mean per token, LN and RMSNorm coincide. The stream is the sum of its
// writers (token embedding, constant position embeddings, the output
// projections of attention and MLP); centering each writer's output,
//   W'[n, :] = W[n, :] − mean_m W[m, :],  b'[n] = b[n] − mean(b),
//   E'[v, :] = E[v, :] − mean(E[v, :]),
// makes every stream value zero-mean (SliceGPT's "convert LayerNorm to
// RMSNorm"). Done only when every writer of the stream is one of those and
// every reader a LayerNorm already folded (γ = 1, no β) — otherwise the
// LayerNorms of that stream are left (warning with the reason).
//
// Calibration statistics of a folded linear describe x·γ; they are
// rescaled to x where that is exact (`lq.act_absmax` / |γ|, `lq.act_meansq`
// / γ², `lq.hessian` / γγᵀ) and dropped otherwise (`lq.act_range`,
// `lq.act_clip`, and everything after a β fold): run --calibrate after.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/SetVector.h"

#include <cmath>

namespace mlir::lq {
#define GEN_PASS_DEF_FOLDNORMSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// Reads a constant f32 tensor; false if `v` is not one.
bool readConstant(Value v, SmallVectorImpl<float> &out) {
  Attribute attr;
  auto ty = dyn_cast<RankedTensorType>(v.getType());
  return ty && ty.getElementType().isF32() && ty.hasStaticShape() &&
         matchPattern(v, m_Constant(&attr)) &&
         succeeded(lq::readFloatElements(attr, out)) &&
         int64_t(out.size()) == ty.getNumElements();
}

Value f32Constant(OpBuilder &b, Location loc, RankedTensorType ty,
                  ArrayRef<float> values) {
  return arith::ConstantOp::create(b, loc, ty,
                                   DenseElementsAttr::get(ty, values));
}

/// The statistics attributes --calibrate attaches to a linear.
constexpr StringLiteral kStats[] = {"lq.act_absmax", "lq.act_meansq",
                                    "lq.act_range",  "lq.act_clip",
                                    "lq.hessian",    "lq.calib_rows"};

/// A residual add: linalg.generic, two inputs and the result of one type,
/// identity maps, body `yield addf(in0, in1)`.
bool isResidualAdd(Operation *op) {
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || g.getNumDpsInputs() != 2 || g.getNumResults() != 1 ||
      !llvm::all_of(g.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }) ||
      g.getInputs()[0].getType() != g.getResult(0).getType() ||
      g.getInputs()[1].getType() != g.getResult(0).getType())
    return false;
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 2)
    return false;
  auto add = dyn_cast<arith::AddFOp>(body.front());
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!add || !yield || yield.getNumOperands() != 1 ||
      yield.getOperand(0) != add.getResult())
    return false;
  Value a = add.getLhs(), b = add.getRhs();
  Value i0 = body.getArgument(0), i1 = body.getArgument(1);
  return (a == i0 && b == i1) || (a == i1 && b == i0);
}

struct FoldNormsPass : lq::impl::FoldNormsPassBase<FoldNormsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Operation *> norms;
    getOperation().walk([&](Operation *op) {
      if (isa<lq::RMSNormOp, lq::LayerNormOp>(op))
        norms.push_back(op);
    });
    for (Operation *norm : norms)
      fold(norm);
    if (layerNormToRms)
      convertLayerNorms();
  }

  /// Folds `norm`'s γ (and β) into the linears reading it, or warns why not.
  void fold(Operation *norm) {
    auto ln = dyn_cast<lq::LayerNormOp>(norm);
    Value gammaV = norm->getOperand(1);
    Value betaV = ln ? ln.getBias() : Value();
    SmallVector<float> gamma, beta;
    if (!readConstant(gammaV, gamma)) {
      norm->emitWarning() << "fold-norms: not folded: the scale is not a "
                             "constant f32 vector";
      return;
    }
    if (betaV && !readConstant(betaV, beta)) {
      norm->emitWarning() << "fold-norms: not folded: the bias is not a "
                             "constant f32 vector";
      return;
    }
    bool trivial = llvm::all_of(gamma, [](float g) { return g == 1.0f; }) &&
                   llvm::all_of(beta, [](float v) { return v == 0.0f; });
    if (trivial) {
      if (betaV) // an all-zero β: drop it
        ln.getBiasMutable().clear();
      return; // nothing to fold (e.g. a second run)
    }
    int64_t D = gamma.size();
    SmallVector<lq::LinearOp> linears;
    if (!lq::collectLinearUsers(norm->getResult(0), linears)) {
      Operation *other = nullptr;
      findOtherUser(norm->getResult(0), other);
      InFlightDiagnostic d = norm->emitWarning()
                             << "fold-norms: not folded: the output is also "
                                "read by ";
      if (other)
        d << "'" << other->getName() << "'";
      else
        d << "a non-input operand of a linear";
      d << ", which cannot absorb the scale";
      if (other)
        d.attachNote(other->getLoc()) << "this reader";
      return;
    }
    if (linears.empty())
      return; // unused
    struct Target {
      lq::LinearOp op;
      SmallVector<float> w, bias;
      bool hasBias = false;
    };
    SmallVector<Target> targets;
    for (lq::LinearOp lin : linears) {
      Target t{lin, {}, {}, false};
      auto wTy = lin.getWeight().getType();
      if (!readConstant(lin.getWeight(), t.w) || wTy.getRank() != 2 ||
          wTy.getDimSize(1) != D) {
        InFlightDiagnostic d = norm->emitWarning()
                               << "fold-norms: not folded: a reader's weight "
                                  "is not a constant f32 [N, "
                               << D << "] tensor (quantized already?)";
        d.attachNote(lin.getLoc()) << "this linear";
        return;
      }
      if (Value bias = lin.getBias()) {
        t.hasBias = true;
        if (!readConstant(bias, t.bias)) {
          InFlightDiagnostic d = norm->emitWarning()
                                 << "fold-norms: not folded: a reader's bias "
                                    "is not a constant f32 vector";
          d.attachNote(lin.getLoc()) << "this linear";
          return;
        }
      }
      targets.push_back(std::move(t));
    }

    bool exactStats = beta.empty() &&
                      llvm::all_of(gamma, [](float g) { return g != 0.0f; });
    for (Target &t : targets) {
      lq::LinearOp lin = t.op;
      auto wTy = lin.getWeight().getType();
      int64_t N = wTy.getDimSize(0);
      if (!beta.empty()) {
        if (!t.hasBias)
          t.bias.assign(N, 0.0f);
        for (int64_t n = 0; n < N; ++n) {
          double acc = t.bias[n];
          for (int64_t k = 0; k < D; ++k)
            acc += double(t.w[n * D + k]) * double(beta[k]);
          t.bias[n] = float(acc);
        }
      }
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < D; ++k)
          t.w[n * D + k] *= gamma[k];
      replaceWeight(lin, t.w, linears);
      if (!beta.empty()) {
        OpBuilder b(lin);
        auto bTy = RankedTensorType::get({N}, b.getF32Type());
        Value old = lin.getBias();
        Location loc = old ? old.getLoc() : lin.getLoc();
        lin.getBiasMutable().assign(f32Constant(b, loc, bTy, t.bias));
        if (old && old.getDefiningOp() && old.use_empty())
          old.getDefiningOp()->erase();
      }
      rescaleStatistics(lin, gamma, exactStats);
      ++numFolded;
    }
    OpBuilder b(norm);
    auto gTy = cast<RankedTensorType>(gammaV.getType());
    norm->setOperand(1, f32Constant(b, gammaV.getLoc(), gTy,
                                    SmallVector<float>(D, 1.0f)));
    eraseIfDead(gammaV);
    if (betaV) {
      ln.getBiasMutable().clear();
      eraseIfDead(betaV);
    }
  }

  /// First user of `v` (through reshapes) that is not a linear reading it
  /// as its input.
  static bool findOtherUser(Value v, Operation *&other) {
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (isa<lq::LinearOp>(user)) {
        if (use.getOperandNumber() != 0) {
          other = user;
          return true;
        }
      } else if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user)) {
        if (findOtherUser(user->getResult(0), other))
          return true;
      } else {
        other = user;
        return true;
      }
    }
    return false;
  }

  static void eraseIfDead(Value v) {
    if (Operation *def = v.getDefiningOp())
      if (isa<arith::ConstantOp>(def) && def->use_empty())
        def->erase();
  }

  /// Gives `lin` a new constant weight `w`. If the old constant has users
  /// outside `group` (the linears this fold rewrites), it stays for them:
  /// the weight is untied, with a remark.
  void replaceWeight(lq::LinearOp lin, ArrayRef<float> w,
                     ArrayRef<lq::LinearOp> group) {
    Value old = lin.getWeight();
    unsigned others = 0;
    for (Operation *user : old.getUsers())
      if (!llvm::is_contained(group, dyn_cast<lq::LinearOp>(user)))
        ++others;
    OpBuilder b(lin);
    lin.getWeightMutable().assign(
        f32Constant(b, old.getLoc(), lin.getWeight().getType(), w));
    if (others) {
      lin.emitRemark() << "fold-norms: untied the weight from its " << others
                       << " other user(s), which keep the unfolded values";
      ++numUntied;
    }
    eraseIfDead(old);
  }

  /// The linear's input was x·γ and is now x: rescale what is exact, drop
  /// the rest.
  void rescaleStatistics(lq::LinearOp lin, ArrayRef<float> gamma, bool exact) {
    int64_t D = gamma.size();
    auto vecTy = RankedTensorType::get({D}, Float32Type::get(&getContext()));
    auto rescale = [&](StringRef name, int power) {
      auto attr = lin->getAttrOfType<DenseElementsAttr>(name);
      SmallVector<float> v;
      if (!attr || failed(lq::readFloatElements(attr, v)) ||
          int64_t(v.size()) != D) {
        lin->removeAttr(name);
        return;
      }
      for (int64_t k = 0; k < D; ++k)
        v[k] /= power == 1 ? std::fabs(gamma[k]) : gamma[k] * gamma[k];
      lin->setAttr(name, DenseElementsAttr::get(vecTy, ArrayRef<float>(v)));
    };
    if (!exact) {
      for (StringRef name : kStats)
        lin->removeAttr(name);
      return;
    }
    if (lin->hasAttr("lq.act_absmax"))
      rescale("lq.act_absmax", 1);
    if (lin->hasAttr("lq.act_meansq"))
      rescale("lq.act_meansq", 2);
    if (auto h = lin->getAttrOfType<ElementsAttr>("lq.hessian")) {
      SmallVector<float> v;
      if (succeeded(lq::readFloatElements(h, v)) &&
          int64_t(v.size()) == D * D) {
        for (int64_t i = 0; i < D; ++i)
          for (int64_t j = 0; j < D; ++j)
            v[i * D + j] /= gamma[i] * gamma[j];
        auto hTy = RankedTensorType::get({D, D}, vecTy.getElementType());
        lin->setAttr("lq.hessian",
                     DenseElementsAttr::get(hTy, ArrayRef<float>(v)));
      } else {
        lin->removeAttr("lq.hessian");
      }
    }
    lin->removeAttr("lq.act_range");
    lin->removeAttr("lq.act_clip");
  }

  //===--------------------------------------------------------------------===//
  // LayerNorm -> RMSNorm by centering the residual stream's writers.
  //===--------------------------------------------------------------------===//

  void convertLayerNorms() {
    SmallVector<lq::LayerNormOp> lns;
    getOperation().walk([&](lq::LayerNormOp op) { lns.push_back(op); });
    llvm::DenseSet<Operation *> done;
    for (lq::LayerNormOp ln : lns) {
      if (done.contains(ln))
        continue;
      // The stream: values reachable from the LN's input through residual
      // adds (backwards, to the writers, and forwards, to every reader).
      llvm::SetVector<Value> stream;
      SmallVector<Value> work{ln.getInput()};
      SmallVector<Operation *> writers;
      SmallVector<lq::LayerNormOp> readers;
      Operation *blocker = nullptr;
      std::string why;
      while (!work.empty() && !blocker) {
        Value v = work.pop_back_val();
        if (!stream.insert(v))
          continue;
        Operation *def = v.getDefiningOp();
        if (def && isResidualAdd(def)) {
          for (Value in : cast<linalg::GenericOp>(def).getInputs())
            work.push_back(in);
        } else if (def && isa<lq::LinearOp, lq::EmbeddingOp,
                              arith::ConstantOp>(def)) {
          if (!llvm::is_contained(writers, def))
            writers.push_back(def);
        } else {
          blocker = def ? def : v.getParentBlock()->getParentOp();
          why = def ? "is written by" : "is a function argument of";
          break;
        }
        for (Operation *user : v.getUsers()) {
          if (isResidualAdd(user)) {
            work.push_back(user->getResult(0));
          } else if (auto r = dyn_cast<lq::LayerNormOp>(user);
                     r && r.getInput() == v) {
            if (!llvm::is_contained(readers, r))
              readers.push_back(r);
          } else {
            blocker = user;
            why = "is read by";
            break;
          }
        }
      }
      for (lq::LayerNormOp r : readers)
        done.insert(r);
      // Every reader must be a plain LayerNorm (γ = 1, no β) after folding.
      for (lq::LayerNormOp r : readers) {
        SmallVector<float> g;
        if (blocker)
          break;
        if (r.getBias() || !readConstant(r.getWeight(), g) ||
            !llvm::all_of(g, [](float x) { return x == 1.0f; })) {
          blocker = r;
          why = "is read by a layer_norm whose scale/bias could not be "
                "folded:";
        }
      }
      // Every writer must be centerable.
      SmallVector<std::function<void()>> rewrites;
      for (Operation *w : writers) {
        if (blocker)
          break;
        if (!prepareCentering(w, rewrites)) {
          blocker = w;
          why = "is written by an op without a constant f32 weight or table,";
        }
      }
      if (blocker) {
        if (!llvm::is_contained(readers, ln))
          readers.insert(readers.begin(), ln);
        bool inStream = !blocker->isAncestor(ln); // not the function itself
        for (lq::LayerNormOp r : readers) {
          InFlightDiagnostic d =
              r.emitWarning() << "fold-norms: layer_norm kept: its residual "
                                 "stream "
                              << why << " '" << blocker->getName()
                              << "', so the mean cannot be absorbed";
          if (inStream)
            d.attachNote(blocker->getLoc()) << "here";
        }
        continue;
      }
      for (auto &rw : rewrites)
        rw();
      for (lq::LayerNormOp r : readers) {
        OpBuilder b(r);
        auto rms = lq::RMSNormOp::create(b, r.getLoc(), r.getType(),
                                         r.getInput(), r.getWeight(),
                                         r.getEpsilonAttr());
        r.replaceAllUsesWith(rms.getResult());
        r.erase();
        ++numConverted;
      }
    }
  }

  /// Checks that `w`'s output can be centered along its last dimension and
  /// queues the rewrite that does it.
  bool prepareCentering(Operation *w,
                        SmallVectorImpl<std::function<void()>> &rewrites) {
    if (auto lin = dyn_cast<lq::LinearOp>(w)) {
      SmallVector<float> wt, bias;
      auto wTy = lin.getWeight().getType();
      if (!readConstant(lin.getWeight(), wt) || wTy.getRank() != 2 ||
          (lin.getBias() && !readConstant(lin.getBias(), bias)))
        return false;
      rewrites.push_back([this, lin, wt = std::move(wt),
                          bias = std::move(bias)]() mutable {
        auto wTy = lin.getWeight().getType();
        int64_t N = wTy.getDimSize(0), K = wTy.getDimSize(1);
        for (int64_t k = 0; k < K; ++k) {
          double m = 0;
          for (int64_t n = 0; n < N; ++n)
            m += wt[n * K + k];
          m /= N;
          for (int64_t n = 0; n < N; ++n)
            wt[n * K + k] = float(wt[n * K + k] - m);
        }
        replaceWeight(lin, wt, {lin});
        if (!bias.empty()) {
          double m = 0;
          for (float v : bias)
            m += v;
          m /= N;
          for (float &v : bias)
            v = float(v - m);
          OpBuilder b(lin);
          Value old = lin.getBias();
          lin.getBiasMutable().assign(f32Constant(
              b, old.getLoc(), cast<RankedTensorType>(old.getType()), bias));
          eraseIfDead(old);
        }
      });
      return true;
    }
    // An embedding table or a constant: center every row (last dimension).
    auto centerRows = [](SmallVectorImpl<float> &v, int64_t D) {
      for (size_t r = 0; r + D <= v.size(); r += D) {
        double m = 0;
        for (int64_t k = 0; k < D; ++k)
          m += v[r + k];
        m /= D;
        for (int64_t k = 0; k < D; ++k)
          v[r + k] = float(v[r + k] - m);
      }
    };
    if (auto emb = dyn_cast<lq::EmbeddingOp>(w)) {
      SmallVector<float> t;
      if (!readConstant(emb.getTable(), t))
        return false;
      rewrites.push_back([this, emb, t = std::move(t), centerRows]() mutable {
        Value old = emb.getTable();
        auto ty = cast<RankedTensorType>(old.getType());
        centerRows(t, ty.getShape().back());
        unsigned others = 0;
        for (Operation *u : old.getUsers())
          others += u != emb.getOperation();
        OpBuilder b(emb);
        emb.getTableMutable().assign(f32Constant(b, old.getLoc(), ty, t));
        if (others) {
          emb.emitRemark() << "fold-norms: untied the table from its "
                           << others << " other user(s)";
          ++numUntied;
        }
        eraseIfDead(old);
      });
      return true;
    }
    if (auto c = dyn_cast<arith::ConstantOp>(w)) {
      SmallVector<float> t;
      if (!readConstant(c.getResult(), t))
        return false;
      rewrites.push_back([c, t = std::move(t), centerRows]() mutable {
        auto ty = cast<RankedTensorType>(c.getType());
        centerRows(t, ty.getShape().back());
        // Its users are all in the stream (checked): rewrite in place.
        c.setValueAttr(
            cast<TypedAttr>(DenseElementsAttr::get(ty, ArrayRef<float>(t))));
      });
      return true;
    }
    return false;
  }
};

} // namespace
