//===- GPTQ.cpp - Hessian-aware weight quantization -----------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// GPTQ (Frantar et al., arXiv:2210.17323) quantizes a linear's weight W
// ([N, K], rows are outputs) one input column at a time and spreads each
// column's rounding error over the columns not yet quantized, minimizing
// ||W X - Q X||² for the calibration inputs X. With H = XᵀX (+ λI, λ = damp ·
// mean diag H) and U the upper Cholesky factor of H⁻¹:
//
//   for column i:  q_i = quant(w_i);  e = (w_i - q_i) / U_ii
//                  w_j -= e · U_ij   for j > i
//
// applied lazily in blocks of `block` columns (the "lazy batch" update) so
// the trailing update is one matrix product per block. Group scales come
// from the (already error-corrected) weights when the group's first column
// is reached; with `act-order` columns are visited by decreasing H_ii and
// group scales are fixed from the original weights up front ("static
// groups", so no column permutation survives into the format).
// The Hessian is the `lq.hessian` attribute written by --calibrate.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <lq_rt/formats.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace mlir::lq {
#define GEN_PASS_DEF_GPTQPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// In-place lower Cholesky factor of the SPD matrix `a` ([n, n] row-major).
/// Returns false if `a` is not positive definite.
bool cholesky(std::vector<double> &a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k)
      d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0))
      return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      const double *ai = &a[i * n], *aj = &a[j * n];
      for (int64_t k = 0; k < j; ++k)
        s -= ai[k] * aj[k];
      a[i * n + j] = s / d;
    }
    for (int64_t k = j + 1; k < n; ++k)
      a[j * n + k] = 0;
  }
  return true;
}

/// Upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U), from the lower factor L of
/// H: H⁻¹ = L⁻ᵀ L⁻¹, then factor that again.
bool inverseCholeskyUpper(std::vector<double> &h, int64_t n) {
  if (!cholesky(h, n))
    return false;
  // Linv = L⁻¹ (lower), by forward substitution column by column.
  std::vector<double> linv(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    linv[i * n + i] = 1.0 / h[i * n + i];
    for (int64_t j = 0; j < i; ++j) {
      double s = 0;
      for (int64_t k = j; k < i; ++k)
        s += h[i * n + k] * linv[k * n + j];
      linv[i * n + j] = -s / h[i * n + i];
    }
  }
  // Hinv = Linvᵀ Linv.
  std::vector<double> hinv(n * n, 0.0);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i <= k; ++i) {
      double lki = linv[k * n + i];
      if (lki == 0)
        continue;
      for (int64_t j = 0; j <= k; ++j)
        hinv[i * n + j] += lki * linv[k * n + j];
    }
  if (!cholesky(hinv, n))
    return false;
  // U = Lᵀ of Hinv's factor.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      h[i * n + j] = j >= i ? hinv[j * n + i] : 0.0;
  return true;
}

struct GPTQPass : lq::impl::GPTQPassBase<GPTQPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (damp <= 0 || damp >= 1) {
      f.emitError() << "'damp' must be in (0, 1), got " << damp;
      return signalPassFailure();
    }
    if (blockSize <= 0) {
      f.emitError() << "'block' must be positive, got " << int64_t(blockSize);
      return signalPassFailure();
    }
    SmallVector<lq::LinearOp> linears;
    f.walk([&](lq::LinearOp op) { linears.push_back(op); });
    bool any = false;
    for (auto [index, op] : llvm::enumerate(linears)) {
      if (onlyIndex >= 0 && int64_t(index) != onlyIndex)
        continue;
      if (lq::feedsReturn(op.getResult()))
        continue; // the output projection: --quantize-weights' lm-head
      Attribute wAttr;
      SmallVector<float> w;
      if (!matchPattern(op.getWeight(), m_Constant(&wAttr)) ||
          failed(lq::readFloatElements(wAttr, w)))
        continue;
      auto hAttr = op->getAttrOfType<ElementsAttr>("lq.hessian");
      if (!hAttr) {
        op.emitError() << "gptq needs 'lq.hessian' on every linear: run "
                          "--calibrate=\"... hessian=true\" first";
        return signalPassFailure();
      }
      auto wTy = op.getWeight().getType();
      int64_t N = wTy.getDimSize(0), K = wTy.getDimSize(1);
      SmallVector<float> hf;
      if (failed(lq::readFloatElements(hAttr, hf)) ||
          int64_t(hf.size()) != K * K) {
        op.emitError() << "'lq.hessian' must be a [" << K << ", " << K
                       << "] f32 tensor";
        return signalPassFailure();
      }
      FailureOr<lq::SchemeAttr> scheme = lq::weightScheme(
          &getContext(), op.getLoc(), "int", bits, group, sym, K);
      if (failed(scheme))
        return signalPassFailure();
      auto start = std::chrono::steady_clock::now();
      FailureOr<lq::QuantizedWeight> q = quantize(op, *scheme, w, hf, N, K);
      if (failed(q))
        return signalPassFailure();
      OpBuilder b(op);
      Value deq = lq::buildDequantize(b, op.getWeight().getLoc(), *scheme, *q,
                                      wTy.getElementType());
      Operation *old = op.getWeight().getDefiningOp();
      op.getWeightMutable().assign(deq);
      if (old->use_empty())
        old->erase();
      op->removeAttr("lq.hessian");
      ++numQuantized;
      any = true;
      if (verbose)
        op.emitRemark() << "gptq " << N << "x" << K << " in "
                        << std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - start)
                               .count()
                        << " s";
    }
    if (!any && !linears.empty())
      f.emitWarning() << "gptq found no constant f32 linear weight to quantize";
  }

  FailureOr<lq::QuantizedWeight> quantize(lq::LinearOp op, lq::SchemeAttr scheme,
                                          ArrayRef<float> wIn, ArrayRef<float> hIn,
                                          int64_t N, int64_t K) {
    std::vector<double> W(wIn.begin(), wIn.end()), H(hIn.begin(), hIn.end());
    // Columns no calibration token touched: their weights cannot matter.
    for (int64_t i = 0; i < K; ++i)
      if (H[i * K + i] == 0) {
        H[i * K + i] = 1;
        for (int64_t r = 0; r < N; ++r)
          W[r * K + i] = 0;
      }
    double meanDiag = 0;
    for (int64_t i = 0; i < K; ++i)
      meanDiag += H[i * K + i];
    meanDiag /= K;
    for (int64_t i = 0; i < K; ++i)
      H[i * K + i] += damp * meanDiag;

    // Visiting order: natural, or decreasing H_ii (act-order).
    std::vector<int64_t> order(K);
    std::iota(order.begin(), order.end(), 0);
    if (actOrder)
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        double ha = H[a * K + a], hb = H[b * K + b];
        return ha > hb || (ha == hb && a < b); // stable: ties keep column order
      });
    // Permute W's columns and H into that order.
    std::vector<double> Wp(N * K), Hp(K * K);
    for (int64_t r = 0; r < N; ++r)
      for (int64_t j = 0; j < K; ++j)
        Wp[r * K + j] = W[r * K + order[j]];
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j)
        Hp[i * K + j] = H[order[i] * K + order[j]];
    if (!inverseCholeskyUpper(Hp, K)) {
      op.emitError() << "gptq: the damped Hessian is not positive definite; "
                        "raise 'damp' or calibrate on more tokens";
      return failure();
    }
    const std::vector<double> &U = Hp;

    // Group parameters: groups along the ORIGINAL column order.
    lq::QuantizedWeight q;
    q.rows = N;
    q.cols = K;
    q.groupSize = lq::groupSizeOf(scheme, K);
    int64_t G = q.groupsPerRow();
    q.codes.assign(N * K, 0);
    q.scales.assign(N * G, 0.0f);
    if (!scheme.getSymmetric())
      q.zeroPoints.assign(N * G, 0);
    std::vector<bool> haveParams(G, false);
    auto setGroupParams = [&](int64_t g, const std::vector<double> &src,
                              bool permuted) {
      std::vector<float> x(q.groupSize);
      std::vector<uint8_t> tmp(q.groupSize);
      // Position of original column c in the current layout.
      std::vector<int64_t> where(K);
      for (int64_t j = 0; j < K; ++j)
        where[order[j]] = j;
      for (int64_t r = 0; r < N; ++r) {
        for (int64_t t = 0; t < q.groupSize; ++t) {
          int64_t c = g * q.groupSize + t;
          x[t] = float(src[r * K + (permuted ? where[c] : c)]);
        }
        int32_t zp = 0;
        lq_quantize_group_int(x.data(), q.groupSize, scheme.getBits(),
                              scheme.getSymmetric(), &q.scales[r * G + g], &zp,
                              tmp.data());
        if (!scheme.getSymmetric())
          q.zeroPoints[r * G + g] = zp;
      }
      haveParams[g] = true;
    };
    if (actOrder)
      for (int64_t g = 0; g < G; ++g)
        setGroupParams(g, W, /*permuted=*/false);

    const int64_t B = blockSize;
    std::vector<double> err(N * B);
    for (int64_t i1 = 0; i1 < K; i1 += B) {
      int64_t i2 = std::min(K, i1 + B), count = i2 - i1;
      for (int64_t i = i1; i < i2; ++i) {
        int64_t col = order[i], g = col / q.groupSize;
        if (!haveParams[g])
          setGroupParams(g, Wp, /*permuted=*/true);
        double d = U[i * K + i];
        for (int64_t r = 0; r < N; ++r) {
          double wv = Wp[r * K + i];
          float deq;
          q.codes[r * K + col] =
              lq::quantizeWithScale(scheme, q, r, g, float(wv), deq);
          double e = (wv - deq) / d;
          err[r * B + (i - i1)] = e;
          // Update the rest of this block now.
          double *wr = &Wp[r * K];
          const double *ui = &U[i * K];
          for (int64_t j = i + 1; j < i2; ++j)
            wr[j] -= e * ui[j];
        }
      }
      // Lazy batch update of all later columns: W[:, i2:] -= Err · U[i1:i2, i2:].
      for (int64_t r = 0; r < N; ++r) {
        double *wr = &Wp[r * K];
        for (int64_t t = 0; t < count; ++t) {
          double e = err[r * B + t];
          if (e == 0)
            continue;
          const double *ut = &U[(i1 + t) * K];
          for (int64_t j = i2; j < K; ++j)
            wr[j] -= e * ut[j];
        }
      }
    }
    return q;
  }
};

} // namespace
