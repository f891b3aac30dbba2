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
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

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

struct SmoothQuantPass : lq::impl::SmoothQuantPassBase<SmoothQuantPass> {
  using Base::Base;

  void runOnOperation() override {
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
      getOperation().emitError() << "'alpha' must be in [0, 1], got " << alpha;
      return signalPassFailure();
    }
    SmallVector<Operation *> norms;
    getOperation().walk([&](Operation *op) {
      if (isa<lq::RMSNormOp, lq::LayerNormOp>(op))
        norms.push_back(op);
    });
    for (Operation *norm : norms)
      if (failed(smooth(norm)))
        return signalPassFailure();
  }

  LogicalResult smooth(Operation *norm) {
    SmallVector<lq::LinearOp> linears;
    if (!lq::collectLinearUsers(norm->getResult(0), linears) || linears.empty())
      return success(); // feeds something else (e.g. the final norm's head)
    Value gamma = norm->getOperand(1);
    SmallVector<float> g;
    Attribute gAttr;
    if (!matchPattern(gamma, m_Constant(&gAttr)) ||
        failed(lq::readFloatElements(gAttr, g)))
      return success();
    // A LayerNorm's β must be divided too: only fold when it is constant.
    if (auto ln = dyn_cast<lq::LayerNormOp>(norm);
        ln && ln.getBias() && !matchPattern(ln.getBias(), m_Constant()))
      return success();
    int64_t K = g.size();
    // max|x_j|: the same x for every consumer.
    std::vector<float> act(K, 0.0f), wmax(K, 0.0f);
    std::vector<SmallVector<float>> weights;
    for (lq::LinearOp lin : linears) {
      auto stats = lin->getAttrOfType<DenseElementsAttr>("lq.act_absmax");
      if (!stats) {
        lin.emitError() << "smoothquant needs 'lq.act_absmax' (run --calibrate "
                           "first)";
        return failure();
      }
      SmallVector<float> a;
      if (failed(lq::readFloatElements(stats, a)) || int64_t(a.size()) != K)
        return lin.emitError() << "'lq.act_absmax' must have " << K
                               << " elements";
      Attribute wAttr;
      SmallVector<float> w;
      if (!matchPattern(lin.getWeight(), m_Constant(&wAttr)) ||
          failed(lq::readFloatElements(wAttr, w)))
        return success(); // already quantized or not constant: leave alone
      for (int64_t j = 0; j < K; ++j)
        act[j] = std::max(act[j], a[j]);
      int64_t N = int64_t(w.size()) / K;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < K; ++j)
          wmax[j] = std::max(wmax[j], std::fabs(w[n * K + j]));
      weights.push_back(std::move(w));
    }
    std::vector<float> s(K, 1.0f);
    for (int64_t j = 0; j < K; ++j) {
      if (act[j] > 0 && wmax[j] > 0)
        s[j] = float(std::pow(double(act[j]), alpha) /
                     std::pow(double(wmax[j]), 1.0 - alpha));
      s[j] = std::clamp(s[j], 1e-5f, 1e5f);
    }
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
    for (auto [linRef, w] : llvm::zip(linears, weights)) {
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
      lin->setAttr("lq.smoothed", b.getF32FloatAttr(alpha));
      ++numSmoothed;
    }
    return success();
  }
};

} // namespace
