//===- QuantizeActivations.cpp - Activation quantization ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// W8A8 / W4A8 / FP8 / FP4: the input x of each linear is replaced by
// dequant(quant(x / s)) (inserted as lq.quantize + lq.dequantize in front of
// the linear, so the IR states exactly which values are rounded), with
//
//  - static per-tensor (int8, fp8-e4m3): one scale from calibration,
//    s = max(|min|, |max|) / q_max (q_max = 127 for int8, 448 for FP8 E4M3) —
//    the naive W8A8 baseline of SmoothQuant (arXiv:2211.10438);
//  - dynamic per-tensor / per-token (int8, fp8-e4m3): s computed at run time
//    from the absmax of the whole tensor / of each row of K elements,
//    s_t = max_k |x_tk| / q_max (per-token dynamic quantization as in
//    LLM.int8(), arXiv:2208.07339, and ZeroQuant, arXiv:2206.01861);
//  - int4 (dynamic per token only): symmetric codes in [-7, 7] with
//    s_t = max_k |x_tk| / 7, the A4 of QuaRot's W4A4 (arXiv:2404.00456),
//    which is meant to follow a rotation (--quarot): without one, a token's
//    outlier channel leaves the other channels a handful of levels;
//  - mxfp4: OCP MX v1.0 — every 32 consecutive elements along K share the
//    E8M0 scale 2^(floor(log2 amax) - 2), computed at run time;
//  - nvfp4: every 16 elements along K share an E4M3 scale
//    amax / 6 / s_T under a per-tensor f32 scale s_T = amax_T / (448 · 6),
//    s_T static from calibration (`lq.act_range`) or computed at run time.
//
// Run-time scales are `lq.compute_scales` of the activation, whose rules are
// those <lq_rt/formats.h> uses for weights.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <lq_rt/formats.h>

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
    float qmax = 0;
    int64_t block = 0; // FP4: elements per block scale along K
    unsigned intBits = 8;
    if (format == "int8") {
      fmt = lq::Format::Int;
      qmax = 127.0f;
    } else if (format == "int4") {
      fmt = lq::Format::Int;
      intBits = 4;
      qmax = 7.0f;
    } else if (format == "fp8-e4m3") {
      fmt = lq::Format::FP8E4M3;
      qmax = 448.0f;
    } else if (format == "mxfp4") {
      fmt = lq::Format::MXFP4;
      block = 32;
    } else if (format == "nvfp4") {
      fmt = lq::Format::NVFP4;
      block = 16;
    } else {
      f.emitError() << "'format' must be int8, int4, fp8-e4m3, mxfp4 or "
                       "nvfp4, got '"
                    << format << "'";
      return signalPassFailure();
    }
    if (!granularity.empty() && granularity != "per-tensor" &&
        granularity != "per-token") {
      f.emitError() << "'granularity' must be per-tensor or per-token, got '"
                    << granularity << "'";
      return signalPassFailure();
    }
    if (!mode.empty() && mode != "static" && mode != "dynamic") {
      f.emitError() << "'mode' must be static or dynamic, got '" << mode
                    << "'";
      return signalPassFailure();
    }
    if (block && !granularity.empty()) {
      f.emitError() << "format=" << format << " scales each block of " << block
                    << " elements along K; 'granularity' applies to int8 and "
                       "fp8-e4m3 only";
      return signalPassFailure();
    }
    bool perToken = granularity == "per-token" ||
                    (granularity.empty() && intBits == 4);
    bool dynamic = mode.empty() ? (perToken || fmt == lq::Format::MXFP4)
                                : mode == "dynamic";
    // int4 has 15 levels: one scale for a whole tensor (static or dynamic)
    // leaves ordinary tokens almost no resolution, so only per-token scales
    // computed at run time are offered.
    if (intBits == 4 && (!perToken || !dynamic)) {
      f.emitError() << "format=int4 activations need granularity=per-token "
                       "mode=dynamic (one scale per token, amax / 7, at run "
                       "time)";
      return signalPassFailure();
    }
    if (perToken && !dynamic) {
      f.emitError() << "per-token scales are computed at run time: use "
                       "mode=dynamic (or granularity=per-tensor)";
      return signalPassFailure();
    }
    if (fmt == lq::Format::MXFP4 && !dynamic) {
      f.emitError() << "mxfp4 block scales are computed at run time: "
                       "mode=static does not apply (use mode=dynamic)";
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
    // Whether a calibrated range is read: static int8/fp8 scales and NVFP4's
    // static tensor scale.
    bool needsRange = !dynamic;
    if (clipIndex >= 0 && !needsRange) {
      f.emitError() << "range=" << range
                    << " clips a calibrated range; it does not apply to "
                       "mode=dynamic";
      return signalPassFailure();
    }

    SmallVector<lq::LinearOp> linears;
    f.walk([&](lq::LinearOp op) { linears.push_back(op); });
    for (lq::LinearOp lin : linears) {
      if (!includeHead && lq::feedsReturn(lin.getResult()))
        continue;
      auto xTy = lin.getInput().getType();
      if (!xTy.getElementType().isF32())
        continue;
      float amax = 0;
      if (needsRange) {
        auto r = lin->getAttrOfType<DenseF32ArrayAttr>("lq.act_range");
        if (!r || r.size() != 2) {
          if (fmt == lq::Format::NVFP4)
            lin.emitError() << "quantize-activations format=nvfp4 mode=static "
                               "needs 'lq.act_range' for the tensor scale (run "
                               "--calibrate first, or use mode=dynamic)";
          else
            lin.emitError() << "quantize-activations needs 'lq.act_range' (run "
                               "--calibrate first)";
          return signalPassFailure();
        }
        amax = std::max(std::fabs(r[0]), std::fabs(r[1]));
        if (clipIndex >= 0) {
          auto clip = lin->getAttrOfType<DenseF32ArrayAttr>("lq.act_clip");
          if (!clip || clip.size() != 3) {
            lin.emitError() << "range=" << this->range
                            << " needs 'lq.act_clip' (run --calibrate first)";
            return signalPassFailure();
          }
          amax = clip[clipIndex];
        }
      }
      int64_t rank = xTy.getRank(), K = xTy.getShape().back();
      if (dynamic && !xTy.hasStaticShape()) {
        lin.emitError() << "quantize-activations mode=dynamic needs a static "
                           "input shape, got "
                        << xTy;
        return signalPassFailure();
      }
      if (block && (ShapedType::isDynamic(K) || K % block != 0)) {
        lin.emitError() << "quantize-activations format=" << format
                        << " needs K divisible by " << block << ", got " << K;
        return signalPassFailure();
      }
      // Scheme of the activation codes.
      int64_t axis = -1, group = 0;
      if (block) {
        axis = rank - 1;
        group = block;
      } else if (perToken) {
        axis = rank - 1;
        group = K;
      }
      auto scheme =
          lq::SchemeAttr::get(ctx, fmt, fmt == lq::Format::Int ? intBits : 0, axis,
                              group, ArrayRef<int64_t>{}, true);
      OpBuilder b(lin);
      Location loc = lin.getLoc();
      Value x = lin.getInput();
      auto f32Scalar = RankedTensorType::get({}, b.getF32Type());
      auto constScalar = [&](float v) -> Value {
        return arith::ConstantOp::create(
            b, loc, f32Scalar, DenseElementsAttr::get(f32Scalar, ArrayRef<float>{v}));
      };
      Value s, global;
      if (fmt == lq::Format::NVFP4)
        global = dynamic ? lq::ComputeScalesOp::create(b, loc, f32Scalar, x,
                                                       Value(), scheme)
                               .getResult()
                         : constScalar(lq_nvfp4_tensor_scale(amax));
      if (!block && !dynamic) {
        s = constScalar(amax > 0 ? amax / qmax : 1.0f);
      } else {
        Type sElt = fmt == lq::Format::MXFP4   ? Type(b.getType<Float8E8M0FNUType>())
                    : fmt == lq::Format::NVFP4 ? Type(b.getType<Float8E4M3FNType>())
                                               : Type(b.getF32Type());
        RankedTensorType sTy =
            scheme.getGranularity() == lq::SchemeAttr::Granularity::Tensor
                ? f32Scalar
                : RankedTensorType::get(scheme.getScaleShape(xTy.getShape()),
                                        sElt);
        s = lq::ComputeScalesOp::create(b, loc, sTy, x, global, scheme);
      }
      auto qTy = RankedTensorType::get(xTy.getShape(), scheme.getStorageType(ctx),
                                       scheme);
      Value q = lq::QuantizeOp::create(b, loc, qTy, x, s, Value(), global);
      Value dq = lq::DequantizeOp::create(b, loc, xTy, q, s, Value(), global);
      lin.getInputMutable().assign(dq);
      ++numQuantized;
    }
  }
};

} // namespace
