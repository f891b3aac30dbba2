//===- QuantizeWeights.cpp - Round-to-nearest weight quantization --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// RTN: w_q = clamp(round(w / s) + z), one (s, z) per group of `group`
// consecutive weights along K, computed from the group's range. No data is
// needed; it is the baseline GPTQ (arXiv:2210.17323) and AWQ
// (arXiv:2306.00978) improve on. See Passes.td for the formats.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

namespace mlir::lq {
#define GEN_PASS_DEF_QUANTIZEWEIGHTSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

struct QuantizeWeightsPass
    : lq::impl::QuantizeWeightsPassBase<QuantizeWeightsPass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (method != "rtn") {
      f.emitError() << "unknown method '" << method << "' (rtn; GPTQ is "
                    << "--gptq, AWQ --awq)";
      return signalPassFailure();
    }
    if (lmHead != "int8" && lmHead != "float" && lmHead != "same") {
      f.emitError() << "'lm-head' must be int8, float or same, got '" << lmHead
                    << "'";
      return signalPassFailure();
    }
    FailureOr<std::vector<llvm::Regex>> keepRe =
        lq::compileKeep(f, llvm::to_vector(keep));
    if (failed(keepRe))
      return signalPassFailure();
    SmallVector<lq::LinearOp> linears;
    f.walk([&](lq::LinearOp op) { linears.push_back(op); });
    for (auto [index, op] : llvm::enumerate(linears)) {
      if (onlyIndex >= 0 && int64_t(index) != onlyIndex)
        continue;
      if (lq::isKept(op, *keepRe))
        continue;
      auto wTy = op.getWeight().getType();
      SmallVector<float> w;
      Attribute attr;
      if (!wTy.hasStaticShape() || !matchPattern(op.getWeight(), m_Constant(&attr)) ||
          failed(lq::readFloatElements(attr, w)))
        continue; // not a constant float weight (already quantized, ...)
      int64_t N = wTy.getDimSize(0), K = wTy.getDimSize(1);
      bool head = lq::feedsReturn(op.getResult());
      if (head && lmHead == "float")
        continue;
      FailureOr<lq::SchemeAttr> scheme =
          head && lmHead == "int8"
              ? lq::weightScheme(&getContext(), op.getLoc(), "int", 8, -1, true, K)
              : lq::weightScheme(&getContext(), op.getLoc(), format, bits,
                                 group, sym, K);
      if (failed(scheme))
        return signalPassFailure();
      lq::QuantizedWeight q = lq::quantizeRTN(*scheme, w, N, K);
      OpBuilder b(op);
      Value deq = lq::buildDequantize(b, op.getWeight().getLoc(), *scheme, q,
                                      wTy.getElementType());
      Operation *old = op.getWeight().getDefiningOp();
      op.getWeightMutable().assign(deq);
      if (old->use_empty())
        old->erase();
      ++numQuantized;
    }
  }
};

} // namespace
