//===- SmoothQuant.cpp - Migrate activation outliers into weights --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// SmoothQuant (Xiao et al., arXiv:2211.10438): activations have a few
// channels far larger than the rest, which wrecks per-tensor int8; weights do
// not. For a linear y = x W^T, any per-input-channel s gives
//   y = (x / s) (W diag(s))^T,
// so choose s_j = max|x_j|^α / max|W_:,j|^(1-α) to balance the two ranges
// and fold 1/s into the norm that produces x (its γ, and β for LayerNorm).
// Every linear reading the norm's output (q/k/v, gate/up) shares x, so s is
// computed over all of them together. The float function is unchanged; the
// calibration statistics are rescaled to describe the smoothed x. Reads
// `lq.act_absmax` from --calibrate.
//
// α: one value for the model (`alpha=0.5`), one per norm group in walk
// order (`layer-alphas=0.5,0.8,...`), or `alpha=auto`: per norm group, the
// α of the grid {0, 1/(grid-1), ..., 1} (step 0.05 by default) minimizing
// the expected output error of the W8A8 linears SmoothQuant prepares for
// (int8 symmetric weights per output channel, RTN, as
// --quantize-weights{bits=8 group=-1}; int8 symmetric activations with one
// static scale per tensor Δ = max_j max|x_j/s_j| / 127, as
// --quantize-activations). With x' = x/s, W' = W diag(s), Ŵ = Q(W'),
// x̂ = Q(x'):
//   x̂ Ŵᵀ − x' W'ᵀ = (x̂ − x') Ŵᵀ + x' (Ŵ − W')ᵀ
// and, taking the activation rounding error e_j as zero-mean, independent
// of x and across channels, with variance v_j = min(Δ²/12, E[x'_j²]) (a
// channel far below the step rounds to 0 and loses at most its own energy):
//   err(α) = Σ_linears [ Σ_j v_j ‖Ŵ_:,j‖²  +  tr(ΔW H' ΔWᵀ) ],
//   ΔW = Ŵ − W',  H' = diag(s)⁻¹ E[xᵀx] diag(s)⁻¹.
// H is `lq.hessian` when every linear of the group has it
// (--calibrate="... hessian=true"); otherwise its diagonal E[x_j²]
// (`lq.act_meansq`), i.e. Σ_j E[x'_j²] ‖ΔW_:,j‖². Both terms are output
// mean squares per token, so α trades activation against weight error on
// one scale. A remark per group gives the chosen α and its error next to
// α = 0.5's.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/FormatVariadic.h"

#include <lq_rt/kernels.h>

#include <cmath>
#include <limits>

namespace mlir::lq {
#define GEN_PASS_DEF_SMOOTHQUANTPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

Value f32Constant(OpBuilder &b, Location loc, RankedTensorType ty,
                  ArrayRef<float> values) {
  return arith::ConstantOp::create(b, loc, ty,
                                   DenseElementsAttr::get(ty, values));
}

/// The linears reading one norm's output and what the search needs of them.
struct Group {
  Operation *norm = nullptr;
  SmallVector<lq::LinearOp> linears;
  std::vector<SmallVector<float>> weights; // [N, K] each
  std::vector<float> act, wmax;            // max|x_j|, max_n |W_nj| (all)
  std::vector<double> meansq;              // E[x_j²], mean over the linears
  std::vector<SmallVector<float>> hessians; // empty unless all have one
};

struct SmoothQuantPass : lq::impl::SmoothQuantPassBase<SmoothQuantPass> {
  using Base::Base;

  bool autoAlpha = false;
  double fixedAlpha = 0.5;

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    StringRef a = StringRef(alpha).trim();
    if (a == "auto") {
      autoAlpha = true;
    } else if (a.getAsDouble(fixedAlpha) || !(fixedAlpha >= 0.0 && fixedAlpha <= 1.0)) {
      f.emitError() << "'alpha' must be in [0, 1] or 'auto', got " << alpha;
      return signalPassFailure();
    }
    for (double v : layerAlphas)
      if (!(v >= 0.0 && v <= 1.0)) {
        f.emitError() << "'layer-alphas' values must be in [0, 1], got " << v;
        return signalPassFailure();
      }
    if (grid < 2) {
      f.emitError() << "'grid' must be at least 2, got " << grid;
      return signalPassFailure();
    }
    SmallVector<Operation *> norms;
    f.walk([&](Operation *op) {
      if (isa<lq::RMSNormOp, lq::LayerNormOp>(op))
        norms.push_back(op);
    });
    SmallVector<Group> groups;
    for (Operation *norm : norms) {
      Group g;
      FailureOr<bool> ok = collect(norm, g);
      if (failed(ok))
        return signalPassFailure();
      if (*ok)
        groups.push_back(std::move(g));
    }
    if (!layerAlphas.empty() && layerAlphas.size() != groups.size()) {
      f.emitError() << "'layer-alphas' has " << layerAlphas.size()
                    << " values but the function has " << groups.size()
                    << " norm groups to smooth";
      return signalPassFailure();
    }
    for (auto [i, g] : llvm::enumerate(groups)) {
      double al = fixedAlpha;
      if (!layerAlphas.empty())
        al = layerAlphas[i];
      else if (autoAlpha)
        al = search(g);
      apply(g, al);
    }
  }

  /// Reads the norm's group; false (success) when it is not smoothable,
  /// failure on missing statistics.
  FailureOr<bool> collect(Operation *norm, Group &grp) {
    grp.norm = norm;
    if (!lq::collectLinearUsers(norm->getResult(0), grp.linears) ||
        grp.linears.empty())
      return false; // feeds something else
    Value gamma = norm->getOperand(1);
    SmallVector<float> g;
    Attribute gAttr;
    if (!matchPattern(gamma, m_Constant(&gAttr)) ||
        failed(lq::readFloatElements(gAttr, g)))
      return false;
    // A LayerNorm's β must be divided too: only fold when it is constant.
    if (auto ln = dyn_cast<lq::LayerNormOp>(norm);
        ln && ln.getBias() && !matchPattern(ln.getBias(), m_Constant()))
      return false;
    int64_t K = g.size();
    grp.act.assign(K, 0.0f);
    grp.wmax.assign(K, 0.0f);
    grp.meansq.assign(K, 0.0);
    bool allHessian = true;
    for (lq::LinearOp lin : grp.linears) {
      auto stats = lin->getAttrOfType<DenseElementsAttr>("lq.act_absmax");
      if (!stats) {
        lin.emitError() << "smoothquant needs 'lq.act_absmax' (run --calibrate "
                           "first)";
        return failure();
      }
      SmallVector<float> a;
      if (failed(lq::readFloatElements(stats, a)) || int64_t(a.size()) != K) {
        lin.emitError() << "'lq.act_absmax' must have " << K << " elements";
        return failure();
      }
      Attribute wAttr;
      SmallVector<float> w;
      if (!matchPattern(lin.getWeight(), m_Constant(&wAttr)) ||
          failed(lq::readFloatElements(wAttr, w)) ||
          int64_t(w.size()) % K != 0)
        return false; // already quantized or not constant: leave alone
      for (int64_t j = 0; j < K; ++j)
        grp.act[j] = std::max(grp.act[j], a[j]);
      int64_t N = int64_t(w.size()) / K;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < K; ++j)
          grp.wmax[j] = std::max(grp.wmax[j], std::fabs(w[n * K + j]));
      grp.weights.push_back(std::move(w));
      if (!autoAlpha)
        continue;
      auto ms = lin->getAttrOfType<DenseElementsAttr>("lq.act_meansq");
      SmallVector<float> m;
      if (!ms || failed(lq::readFloatElements(ms, m)) ||
          int64_t(m.size()) != K) {
        lin.emitError() << "smoothquant alpha=auto needs 'lq.act_meansq' with "
                        << K << " elements (run --calibrate first)";
        return failure();
      }
      for (int64_t j = 0; j < K; ++j)
        grp.meansq[j] += double(m[j]) / grp.linears.size();
      SmallVector<float> h;
      auto hAttr = lin->getAttrOfType<ElementsAttr>("lq.hessian");
      if (allHessian && hAttr && succeeded(lq::readFloatElements(hAttr, h)) &&
          int64_t(h.size()) == K * K)
        grp.hessians.push_back(std::move(h));
      else
        allHessian = false;
    }
    if (!allHessian)
      grp.hessians.clear();
    return true;
  }

  std::vector<float> scalesFor(const Group &g, double al) const {
    int64_t K = g.act.size();
    std::vector<float> s(K, 1.0f);
    for (int64_t j = 0; j < K; ++j) {
      if (g.act[j] > 0 && g.wmax[j] > 0)
        s[j] = float(std::pow(double(g.act[j]), al) /
                     std::pow(double(g.wmax[j]), 1.0 - al));
      s[j] = std::clamp(s[j], 1e-5f, 1e5f);
    }
    return s;
  }

  /// The header's err(α) for the group smoothed with scales `s`.
  double errorFor(const Group &g, ArrayRef<float> s) {
    int64_t K = s.size();
    double amax = 0;
    for (int64_t j = 0; j < K; ++j)
      amax = std::max(amax, double(g.act[j]) / s[j]);
    double step = amax / 127.0;
    std::vector<double> v(K), ms(K);
    for (int64_t j = 0; j < K; ++j) {
      ms[j] = g.meansq[j] / (double(s[j]) * s[j]);
      v[j] = std::min(step * step / 12.0, ms[j]);
    }
    double err = 0;
    for (auto [i, w0] : llvm::enumerate(g.weights)) {
      int64_t N = int64_t(w0.size()) / K;
      std::vector<float> w(w0.begin(), w0.end());
      for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < K; ++j)
          w[n * K + j] *= s[j];
      FailureOr<lq::SchemeAttr> scheme = lq::weightScheme(
          &getContext(), g.linears[i]->getLoc(), "int", 8, -1, true, K);
      if (failed(scheme))
        return std::numeric_limits<double>::infinity();
      std::vector<float> q =
          lq::dequantize(*scheme, lq::quantizeRTN(*scheme, w, N, K));
      std::vector<float> e(N * K);
      for (int64_t t = 0; t < N * K; ++t)
        e[t] = w[t] - q[t];
      // Activation term.
      for (int64_t j = 0; j < K; ++j) {
        double c = 0;
        for (int64_t n = 0; n < N; ++n)
          c += double(q[n * K + j]) * q[n * K + j];
        err += v[j] * c;
      }
      // Weight term.
      if (g.hessians.empty()) {
        for (int64_t n = 0; n < N; ++n)
          for (int64_t j = 0; j < K; ++j)
            err += ms[j] * double(e[n * K + j]) * e[n * K + j];
      } else {
        std::vector<float> h(K * K), eh(N * K);
        const SmallVector<float> &h0 = g.hessians[i];
        for (int64_t a = 0; a < K; ++a)
          for (int64_t b = 0; b < K; ++b)
            h[a * K + b] = h0[a * K + b] / (s[a] * s[b]);
        lq_rt_sgemm_nt(N, K, K, e.data(), K, h.data(), K, eh.data(), K);
        for (int64_t t = 0; t < N * K; ++t)
          err += double(e[t]) * eh[t];
      }
    }
    return err;
  }

  double search(const Group &g) {
    double best = std::numeric_limits<double>::infinity(), bestAlpha = 0.5;
    for (int64_t i = 0; i < grid; ++i) {
      double al = double(i) / double(grid - 1);
      double err = errorFor(g, scalesFor(g, al));
      if (err < best) {
        best = err;
        bestAlpha = al;
      }
    }
    double half = errorFor(g, scalesFor(g, 0.5));
    g.norm->emitRemark() << "smoothquant alpha "
                         << llvm::formatv("{0:F2}", bestAlpha).str() << " for "
                         << g.linears.size() << " linear(s): W8A8 error "
                         << best << " (alpha 0.5: " << half << ", "
                         << (g.hessians.empty() ? "diagonal" : "full Hessian")
                         << ")";
    return bestAlpha;
  }

  void apply(Group &grp, double al) {
    Operation *norm = grp.norm;
    Value gamma = norm->getOperand(1);
    SmallVector<float> g;
    Attribute gAttr;
    (void)matchPattern(gamma, m_Constant(&gAttr));
    (void)lq::readFloatElements(gAttr, g);
    int64_t K = g.size();
    std::vector<float> s = scalesFor(grp, al);
    // Fold 1/s into the norm (new constants: CSE may share the old ones).
    OpBuilder b(norm);
    auto vecTy = RankedTensorType::get({K}, b.getF32Type());
    SmallVector<float> g2(K);
    for (int64_t j = 0; j < K; ++j)
      g2[j] = g[j] / s[j];
    norm->setOperand(1, f32Constant(b, gamma.getLoc(), vecTy, g2));
    if (auto ln = dyn_cast<lq::LayerNormOp>(norm); ln && ln.getBias()) {
      SmallVector<float> beta;
      Attribute bAttr;
      if (matchPattern(ln.getBias(), m_Constant(&bAttr)) &&
          succeeded(lq::readFloatElements(bAttr, beta))) {
        for (int64_t j = 0; j < K; ++j)
          beta[j] /= s[j];
        ln.getBiasMutable().assign(f32Constant(b, ln.getBias().getLoc(), vecTy, beta));
      }
    }
    for (auto [linRef, w] : llvm::zip(grp.linears, grp.weights)) {
      lq::LinearOp lin = linRef; // a plain variable: lambdas capture it
      int64_t N = int64_t(w.size()) / K;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < K; ++j)
          w[n * K + j] *= s[j];
      OpBuilder wb(lin);
      auto wTy = lin.getWeight().getType();
      Operation *old = lin.getWeight().getDefiningOp();
      lin.getWeightMutable().assign(
          f32Constant(wb, lin.getWeight().getLoc(), wTy, w));
      if (old->use_empty())
        old->erase();
      // The statistics now describe x / s.
      auto rescale = [&](StringRef name, int power) {
        auto attr = lin->getAttrOfType<DenseElementsAttr>(name);
        SmallVector<float> v;
        if (!attr || failed(lq::readFloatElements(attr, v)) ||
            int64_t(v.size()) != K)
          return;
        for (int64_t j = 0; j < K; ++j)
          v[j] /= power == 1 ? s[j] : s[j] * s[j];
        lin->setAttr(name, DenseElementsAttr::get(vecTy, ArrayRef<float>(v)));
      };
      rescale("lq.act_absmax", 1);
      rescale("lq.act_meansq", 2);
      float amax = 0;
      if (auto a = lin->getAttrOfType<DenseElementsAttr>("lq.act_absmax"))
        for (float v : a.getValues<float>())
          amax = std::max(amax, v);
      lin->setAttr("lq.act_range", b.getDenseF32ArrayAttr({-amax, amax}));
      lin->removeAttr("lq.hessian"); // stale; recalibrate for GPTQ
      lin->setAttr("lq.smoothed", b.getF32FloatAttr(al));
      ++numSmoothed;
    }
  }
};

} // namespace
