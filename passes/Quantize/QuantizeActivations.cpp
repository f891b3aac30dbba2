//===- QuantizeActivations.cpp - Static activation quantization -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// W8A8 / FP8: the input of each linear is quantized with one static scale
// from calibration, s = max(|min|, |max|) / q_max (q_max = 127 for int8,
// 448 for FP8 E4M3), i.e. x ≈ dequant(quant(x / s)) — what per-tensor
// static int8 (the naive W8A8 baseline of SmoothQuant, arXiv:2211.10438) and
// FP8 inference compute. Inserted as lq.quantize + lq.dequantize in front of
// the linear, so the IR states exactly which values are rounded.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

namespace mlir::lq {
#define GEN_PASS_DEF_QUANTIZEACTIVATIONSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

struct QuantizeActivationsPass
    : lq::impl::QuantizeActivationsPassBase<QuantizeActivationsPass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp f = getOperation();
    MLIRContext *ctx = &getContext();
    lq::Format fmt;
    float qmax;
    if (format == "int8") {
      fmt = lq::Format::Int;
      qmax = 127.0f;
    } else if (format == "fp8-e4m3") {
      fmt = lq::Format::FP8E4M3;
      qmax = 448.0f;
    } else {
      f.emitError() << "'format' must be int8 or fp8-e4m3, got '" << format
                    << "'";
      return signalPassFailure();
    }
    int clipIndex = range == "minmax" ? -1
                    : range == "p99.9"  ? 0
                    : range == "p99.99" ? 1
                    : range == "mse"    ? 2
                                        : -2;
    if (clipIndex == -2) {
      f.emitError() << "'range' must be minmax, p99.9, p99.99 or mse, got '"
                    << range << "'";
      return signalPassFailure();
    }
    auto scheme = lq::SchemeAttr::get(ctx, fmt, fmt == lq::Format::Int ? 8 : 0,
                                      -1, 0, ArrayRef<int64_t>{}, true);
    SmallVector<lq::LinearOp> linears;
    f.walk([&](lq::LinearOp op) { linears.push_back(op); });
    for (lq::LinearOp lin : linears) {
      if (!includeHead && lq::feedsReturn(lin.getResult()))
        continue;
      auto xTy = lin.getInput().getType();
      if (!xTy.getElementType().isF32())
        continue;
      auto range = lin->getAttrOfType<DenseF32ArrayAttr>("lq.act_range");
      if (!range || range.size() != 2) {
        lin.emitError() << "quantize-activations needs 'lq.act_range' (run "
                           "--calibrate first)";
        return signalPassFailure();
      }
      float amax = std::max(std::fabs(range[0]), std::fabs(range[1]));
      if (clipIndex >= 0) {
        auto clip = lin->getAttrOfType<DenseF32ArrayAttr>("lq.act_clip");
        if (!clip || clip.size() != 3) {
          lin.emitError() << "range=" << this->range
                          << " needs 'lq.act_clip' (run --calibrate first)";
          return signalPassFailure();
        }
        amax = clip[clipIndex];
      }
      float scale = amax > 0 ? amax / qmax : 1.0f;
      OpBuilder b(lin);
      Location loc = lin.getLoc();
      auto sTy = RankedTensorType::get({}, b.getF32Type());
      Value s = arith::ConstantOp::create(
          b, loc, sTy, DenseElementsAttr::get(sTy, ArrayRef<float>{scale}));
      auto qTy = RankedTensorType::get(xTy.getShape(), scheme.getStorageType(ctx),
                                       scheme);
      Value q = lq::QuantizeOp::create(b, loc, qTy, lin.getInput(), s, Value(),
                                       Value());
      Value dq = lq::DequantizeOp::create(b, loc, xTy, q, s, Value(), Value());
      lin.getInputMutable().assign(dq);
      ++numQuantized;
    }
  }
};

} // namespace
