//===- AWQ.cpp - Activation-aware weight quantization ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// AWQ (Lin et al., arXiv:2306.00978). A few input channels carry much larger
// activations than the rest, and the rounding error of the weights they
// multiply dominates the output error. For a linear y = x Wᵀ and any
// per-input-channel s > 0,
//
//   y = (x / s) (W diag(s))ᵀ,
//
// and quantizing W diag(s) instead of W gives the salient columns (large
// s_j) a relatively finer grid. AWQ takes s_j = a_j^α, with a_j the
// channel's activation magnitude, and searches α in [0, 1].
//
// Magnitude: a_j = sqrt(E[x_j²]) from `lq.act_meansq`. The paper uses the
// mean |x_j|; the RMS is the closest statistic --calibrate records (both are
// averages over all calibration tokens, unlike `lq.act_absmax`, which one
// outlier token sets), and E[x_j²] is exactly the weight the error below
// gives column j, so the search and the scale agree on what "salient" means.
// s is normalized to geometric mean 1 (s / sqrt(max s · min s)), as the
// reference implementation does; RTN is scale-equivariant, so this changes
// nothing but the range of the folded constants.
//
// Error. Without stored activations the output error E||x ΔWᵀ||² of the
// effective weight W - Q(W diag(s)) diag(s)⁻¹ is a quadratic form in H =
// E[xᵀx]. We implement both:
//   - diagonal (only `lq.act_meansq`, the default calibration):
//       err(α) = Σ_j E[x_j²]/s_j² · Σ_n (W_nj s_j - Q(W s)_nj)²
//   - full (when every linear of the group carries `lq.hessian`, from
//     --calibrate="... hessian=true"):
//       err(α) = tr(ΔW' H' ΔW'ᵀ),  ΔW' = W diag(s) - Q(W diag(s)),
//       H' = diag(s)⁻¹ H diag(s)⁻¹
//     (one N×K×K product per α and linear, through lq_rt's SGEMM).
// The linears reading one norm's output (q/k/v; gate/up) share x and so
// one s: their errors are summed. α = 0 (s = 1) is always in the grid, so
// the chosen scales are never worse than RTN on this measure.
//
// Fold. 1/s goes into the norm's γ (and β), s into each weight (new
// constants), exactly as --smoothquant does: the float function is
// unchanged. The statistics are rescaled to describe x / s.
//
// Clipping (`clip`). Per row and group, the group's range is shrunk by a
// ratio r in {1, 0.95, ..., 0.5} before RTN computes its scale
// (quantizeRTN's clip argument), keeping the r with the smallest error:
// Σ_{j∈g} E[x_j²]/s_j² (W'_nj - Q_nj)², or with a Hessian the group's
// diagonal block e H'_gg eᵀ (cross-group terms are dropped so that groups
// are chosen independently).
//
// Linears not fed by a norm (o_proj, down_proj) get clipping only: their s
// would have to be folded into the previous linear's output rows (v_proj
// through attention, up_proj through the SwiGLU product), which this pass
// does not do. The output projection (result returned by the function) is
// left for --quantize-weights (int8 per channel by default), as --gptq does.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseMap.h"

#include <lq_rt/kernels.h>

#include <algorithm>
#include <cmath>
#include <limits>

#define DEBUG_TYPE "lq-awq"

namespace mlir::lq {
#define GEN_PASS_DEF_AWQPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// Reads a constant f32 [K] vector operand.
bool readVector(Value v, int64_t K, SmallVectorImpl<float> &out) {
  Attribute attr;
  auto ty = dyn_cast<RankedTensorType>(v.getType());
  return ty && ty.getElementType().isF32() && ty.getRank() == 1 &&
         ty.getDimSize(0) == K && matchPattern(v, m_Constant(&attr)) &&
         succeeded(lq::readFloatElements(attr, out));
}

Value f32Constant(OpBuilder &b, Location loc, RankedTensorType ty,
                  ArrayRef<float> values) {
  return arith::ConstantOp::create(b, loc, ty,
                                   DenseElementsAttr::get(ty, values));
}

/// One linear to quantize, with its weight and calibration statistics in
/// the coordinates of its current input (rescaled as scales are folded).
struct Target {
  lq::LinearOp op;
  int64_t N = 0, K = 0;
  std::vector<float> w;       // [N, K]
  std::vector<float> meansq;  // [K], E[x_j²]
  std::vector<float> hessian; // [K, K] E[xᵀx], or empty
  lq::SchemeAttr scheme;
  float alpha = -1; // < 0: no scale search (clipping only)
};

/// Σ_n e_n H e_nᵀ for e = a - b ([N, K]), H the Hessian or diag(meansq).
double outputError(const Target &t, ArrayRef<float> a, ArrayRef<float> b,
                   ArrayRef<float> hessian, ArrayRef<float> meansq) {
  int64_t N = t.N, K = t.K;
  std::vector<float> e(N * K);
  for (int64_t i = 0; i < N * K; ++i)
    e[i] = a[i] - b[i];
  double err = 0;
  if (hessian.empty()) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < K; ++j)
        err += double(meansq[j]) * e[n * K + j] * e[n * K + j];
    return err;
  }
  // E H: H is symmetric, so sgemm_nt's B[j, k] = H[j, k] gives Σ_k e_k H_kj.
  std::vector<float> eh(N * K);
  lq_rt_sgemm_nt(N, K, K, e.data(), K, hessian.data(), K, eh.data(), K);
  for (int64_t i = 0; i < N * K; ++i)
    err += double(e[i]) * eh[i];
  return err;
}

struct AWQPass : lq::impl::AWQPassBase<AWQPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (bits < 2 || bits > 8) {
      f.emitError() << "'bits' must be in [2, 8], got " << unsigned(bits);
      return signalPassFailure();
    }
    if (grid < 1) {
      f.emitError() << "'grid' must be at least 1, got " << int64_t(grid);
      return signalPassFailure();
    }
    if (group == 0 || group < -1) {
      f.emitError() << "'group' must be positive or -1, got " << int64_t(group);
      return signalPassFailure();
    }

    FailureOr<std::vector<llvm::Regex>> keepRe =
        lq::compileKeep(f, llvm::to_vector(keep));
    if (failed(keepRe))
      return signalPassFailure();

    // 1. The linears to quantize and their statistics.
    std::vector<Target> targets;
    llvm::DenseMap<Operation *, size_t> index;
    SmallVector<lq::LinearOp> linears;
    f.walk([&](lq::LinearOp op) { linears.push_back(op); });
    for (lq::LinearOp op : linears) {
      if (lq::feedsReturn(op.getResult()))
        continue; // the output projection: --quantize-weights' lm-head
      if (lq::isKept(op, *keepRe))
        continue; // left in float, as --quantize-weights' keep
      auto wTy = op.getWeight().getType();
      Attribute wAttr;
      SmallVector<float> w;
      if (!wTy.hasStaticShape() || !wTy.getElementType().isF32() ||
          !matchPattern(op.getWeight(), m_Constant(&wAttr)) ||
          failed(lq::readFloatElements(wAttr, w)))
        continue; // already quantized, or not a constant f32 weight
      Target t;
      t.op = op;
      t.N = wTy.getDimSize(0);
      t.K = wTy.getDimSize(1);
      t.w.assign(w.begin(), w.end());
      auto ms = op->getAttrOfType<DenseElementsAttr>("lq.act_meansq");
      if (!ms) {
        op.emitError() << "awq needs 'lq.act_meansq' on every linear: run "
                          "--calibrate first";
        return signalPassFailure();
      }
      SmallVector<float> m;
      if (failed(lq::readFloatElements(ms, m)) || int64_t(m.size()) != t.K) {
        op.emitError() << "'lq.act_meansq' must have " << t.K << " elements";
        return signalPassFailure();
      }
      t.meansq.assign(m.begin(), m.end());
      if (auto h = op->getAttrOfType<ElementsAttr>("lq.hessian")) {
        SmallVector<float> hf;
        if (failed(lq::readFloatElements(h, hf)) ||
            int64_t(hf.size()) != t.K * t.K) {
          op.emitError() << "'lq.hessian' must be a [" << t.K << ", " << t.K
                         << "] f32 tensor";
          return signalPassFailure();
        }
        t.hessian.assign(hf.begin(), hf.end());
      }
      FailureOr<lq::SchemeAttr> scheme = lq::weightScheme(
          &getContext(), op.getLoc(), "int", bits, group, sym, t.K);
      if (failed(scheme))
        return signalPassFailure();
      t.scheme = *scheme;
      index[op] = targets.size();
      targets.push_back(std::move(t));
    }
    if (targets.empty()) {
      if (!linears.empty())
        f.emitWarning() << "awq found no constant f32 linear weight to quantize";
      return;
    }

    // 2. Scale search for the linears sharing a norm's output.
    SmallVector<Operation *> norms;
    f.walk([&](Operation *op) {
      if (isa<lq::RMSNormOp, lq::LayerNormOp>(op))
        norms.push_back(op);
    });
    for (Operation *norm : norms) {
      SmallVector<lq::LinearOp> group;
      if (!lq::collectLinearUsers(norm->getResult(0), group) || group.empty() ||
          !llvm::all_of(group, [&](lq::LinearOp l) { return index.count(l); }))
        continue; // feeds something else, or the head: clipping only
      SmallVector<Target *> ts;
      for (lq::LinearOp l : group)
        ts.push_back(&targets[index[l]]);
      scaleGroup(norm, ts);
    }

    // 3. Clip and quantize.
    for (Target &t : targets) {
      if (t.alpha >= 0)
        t.op->setAttr("lq.awq_alpha",
                      FloatAttr::get(Float32Type::get(&getContext()), t.alpha));
      if (!quantize) {
        writeStatistics(t);
        continue;
      }
      quantizeTarget(t);
      t.op->removeAttr("lq.hessian");
      writeStatistics(t);
      ++numQuantized;
    }
  }

  /// Searches α for the linears reading `norm`'s output, folds the scales
  /// and rescales their statistics. Leaves everything alone if the norm's
  /// parameters are not constant f32 vectors.
  void scaleGroup(Operation *norm, ArrayRef<Target *> ts) {
    int64_t K = ts.front()->K;
    SmallVector<float> gamma, beta;
    if (!readVector(norm->getOperand(1), K, gamma))
      return;
    auto ln = dyn_cast<lq::LayerNormOp>(norm);
    bool hasBeta = ln && ln.getBias();
    if (hasBeta && !readVector(ln.getBias(), K, beta))
      return;
    bool useHessian =
        llvm::all_of(ts, [](Target *t) { return !t->hessian.empty(); });

    // Activation magnitude: RMS per channel, the same x for every linear.
    std::vector<double> a(K, 0.0);
    for (Target *t : ts)
      for (int64_t j = 0; j < K; ++j)
        a[j] += t->meansq[j] / ts.size();
    double amax = 0;
    for (int64_t j = 0; j < K; ++j)
      amax = std::max(amax, a[j] = std::sqrt(a[j]));
    if (!(amax > 0))
      return; // no calibration signal: nothing to weigh channels by
    for (double &v : a)
      v = std::max(v, 1e-6 * amax); // channels calibration never excited

    auto scalesFor = [&](double alpha) {
      std::vector<float> s(K);
      double lo = std::numeric_limits<double>::infinity(), hi = 0;
      std::vector<double> sd(K);
      for (int64_t j = 0; j < K; ++j) {
        sd[j] = std::pow(a[j], alpha);
        lo = std::min(lo, sd[j]);
        hi = std::max(hi, sd[j]);
      }
      double norm = std::sqrt(lo * hi);
      for (int64_t j = 0; j < K; ++j)
        s[j] = float(sd[j] / norm);
      return s;
    };
    // Error of RTN on W diag(s), in x/s coordinates.
    auto errorFor = [&](ArrayRef<float> s) {
      double err = 0;
      for (Target *t : ts) {
        int64_t N = t->N;
        std::vector<float> ws(t->w), ms(K), h;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t j = 0; j < K; ++j)
            ws[n * K + j] *= s[j];
        for (int64_t j = 0; j < K; ++j)
          ms[j] = t->meansq[j] / (s[j] * s[j]);
        if (useHessian) {
          h.resize(K * K);
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < K; ++j)
              h[i * K + j] = t->hessian[i * K + j] / (s[i] * s[j]);
        }
        lq::QuantizedWeight q = lq::quantizeRTN(t->scheme, ws, N, K);
        std::vector<float> d = lq::dequantize(t->scheme, q);
        err += outputError(*t, ws, d, h, ms);
      }
      return err;
    };

    double bestErr = std::numeric_limits<double>::infinity(), bestAlpha = 0,
           rtnErr = 0;
    for (int64_t i = 0; i < grid; ++i) {
      double alpha = grid == 1 ? 0.0 : double(i) / double(grid - 1);
      double err = errorFor(scalesFor(alpha));
      if (i == 0)
        rtnErr = err;
      LLVM_DEBUG(llvm::dbgs() << "awq " << norm->getLoc() << " alpha " << alpha
                              << " err " << err << "\n");
      if (err < bestErr) {
        bestErr = err;
        bestAlpha = alpha;
      }
    }
    if (verbose)
      norm->emitRemark() << "awq alpha " << bestAlpha << " for " << ts.size()
                         << " linear(s), error " << bestErr << " (rtn "
                         << rtnErr << ", "
                         << (useHessian ? "full Hessian" : "diagonal") << ")";
    std::vector<float> s = scalesFor(bestAlpha);

    // Fold 1/s into the norm (new constants: CSE may share the old ones).
    OpBuilder b(norm);
    auto vecTy = RankedTensorType::get({K}, b.getF32Type());
    for (int64_t j = 0; j < K; ++j)
      gamma[j] /= s[j];
    Value oldGamma = norm->getOperand(1);
    norm->setOperand(1, f32Constant(b, oldGamma.getLoc(), vecTy, gamma));
    if (hasBeta) {
      for (int64_t j = 0; j < K; ++j)
        beta[j] /= s[j];
      ln.getBiasMutable().assign(
          f32Constant(b, ln.getBias().getLoc(), vecTy, beta));
    }
    for (Target *t : ts) {
      for (int64_t n = 0; n < t->N; ++n)
        for (int64_t j = 0; j < K; ++j)
          t->w[n * K + j] *= s[j];
      for (int64_t j = 0; j < K; ++j)
        t->meansq[j] /= s[j] * s[j];
      if (!t->hessian.empty())
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < K; ++j)
            t->hessian[i * K + j] /= s[i] * s[j];
      if (auto am = t->op->getAttrOfType<DenseElementsAttr>("lq.act_absmax")) {
        SmallVector<float> v;
        if (succeeded(lq::readFloatElements(am, v)) && int64_t(v.size()) == K) {
          float m = 0;
          for (int64_t j = 0; j < K; ++j)
            m = std::max(m, v[j] /= s[j]);
          t->op->setAttr("lq.act_absmax",
                         DenseElementsAttr::get(vecTy, ArrayRef<float>(v)));
          t->op->setAttr("lq.act_range", b.getDenseF32ArrayAttr({-m, m}));
        }
      }
      t->alpha = float(bestAlpha);
      ++numScaled;
      // The float weight W diag(s) (replaced again below when quantizing).
      OpBuilder wb(t->op);
      auto wTy = t->op.getWeight().getType();
      Operation *old = t->op.getWeight().getDefiningOp();
      t->op.getWeightMutable().assign(
          f32Constant(wb, t->op.getWeight().getLoc(), wTy, t->w));
      if (old->use_empty())
        old->erase();
    }
    if (oldGamma.use_empty())
      oldGamma.getDefiningOp()->erase();
  }

  /// Clipping search (if enabled), RTN, and the lq.dequantize.
  void quantizeTarget(Target &t) {
    int64_t N = t.N, K = t.K;
    int64_t gs = lq::groupSizeOf(t.scheme, K), G = K / gs;
    std::vector<float> clipRatio(N * G, 1.0f);
    if (clip) {
      constexpr int kSteps = 11; // 1, 0.95, ..., 0.5
      std::vector<double> best(N * G, std::numeric_limits<double>::infinity());
      double rtnErr = 0, clipErr = 0;
      for (int k = 0; k < kSteps; ++k) {
        float r = 1.0f - 0.05f * k;
        std::vector<float> ratios(N * G, r);
        lq::QuantizedWeight q = lq::quantizeRTN(t.scheme, t.w, N, K, ratios);
        std::vector<float> d = lq::dequantize(t.scheme, q);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t g = 0; g < G; ++g) {
            const float *w = &t.w[n * K + g * gs], *dq = &d[n * K + g * gs];
            double err = 0;
            if (t.hessian.empty()) {
              for (int64_t j = 0; j < gs; ++j) {
                double e = double(w[j]) - dq[j];
                err += t.meansq[g * gs + j] * e * e;
              }
            } else {
              for (int64_t i = 0; i < gs; ++i) {
                double ei = double(w[i]) - dq[i], row = 0;
                const float *h = &t.hessian[(g * gs + i) * K + g * gs];
                for (int64_t j = 0; j < gs; ++j)
                  row += h[j] * (double(w[j]) - dq[j]);
                err += ei * row;
              }
            }
            if (k == 0)
              rtnErr += err;
            if (err < best[n * G + g]) {
              best[n * G + g] = err;
              clipRatio[n * G + g] = r;
            }
          }
      }
      for (double e : best)
        clipErr += e;
      if (verbose) {
        double mean = 0;
        for (float r : clipRatio)
          mean += r / clipRatio.size();
        t.op.emitRemark() << "awq clip: mean ratio " << mean << ", error "
                          << clipErr << " (unclipped " << rtnErr << ")";
      }
    }
    lq::QuantizedWeight q = lq::quantizeRTN(t.scheme, t.w, N, K, clipRatio);
    OpBuilder b(t.op);
    auto wTy = t.op.getWeight().getType();
    Value deq = lq::buildDequantize(b, t.op.getWeight().getLoc(), t.scheme, q,
                                    wTy.getElementType());
    Operation *old = t.op.getWeight().getDefiningOp();
    t.op.getWeightMutable().assign(deq);
    if (old->use_empty())
      old->erase();
  }

  /// Writes the (rescaled) E[x²] and, when kept, the Hessian back.
  void writeStatistics(Target &t) {
    if (t.alpha < 0)
      return; // unchanged
    auto vecTy = RankedTensorType::get({t.K}, Float32Type::get(&getContext()));
    t.op->setAttr("lq.act_meansq",
                  DenseElementsAttr::get(vecTy, ArrayRef<float>(t.meansq)));
    if (t.hessian.empty() || !t.op->hasAttr("lq.hessian"))
      return;
    auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        ArrayRef<char>(reinterpret_cast<const char *>(t.hessian.data()),
                       t.hessian.size() * sizeof(float)),
        alignof(uint64_t));
    t.op->setAttr("lq.hessian",
                  DenseResourceElementsAttr::get(
                      RankedTensorType::get({t.K, t.K},
                                            Float32Type::get(&getContext())),
                      "hessian", std::move(blob)));
  }
};

} // namespace
