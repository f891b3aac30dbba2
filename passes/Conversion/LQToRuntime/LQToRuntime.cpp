//===- LQToRuntime.cpp - Call lq_rt kernels for hot lq ops ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Linear layers and attention dominate an LLM's time. Loop nests from
// linalg-to-loops reach a few GFLOP/s; lq_rt's packed SGEMM and fused
// attention kernels run near the machine's peak, so f32 linears and
// attention call them. See the pass description in Passes.td for the
// buffer handshake.
//
//===----------------------------------------------------------------------===//

#include "passes/Conversion/LQToRuntime/LQToRuntime.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lq {
#define GEN_PASS_DEF_CONVERTLQTORUNTIMEPASS
#include "passes/Conversion/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// memref<?x...x?xf32, strided<[?, ...], offset: ?>>: the kernels' view of
/// any f32 buffer.
MemRefType anyLayout(MLIRContext *ctx, int64_t rank) {
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic), strides(rank, ShapedType::kDynamic);
  return MemRefType::get(
      shape, Float32Type::get(ctx),
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, strides));
}

/// The callee, declared once per module.
func::FuncOp declare(ModuleOp module, StringRef name, TypeRange args) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name))
    return f;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto f = func::FuncOp::create(b, module.getLoc(), name,
                                b.getFunctionType(args, {}));
  f.setPrivate();
  f->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return f;
}

/// A read-only buffer view of `t` with the kernels' layout.
Value inBuffer(PatternRewriter &rewriter, Location loc, Value t) {
  auto ty = cast<RankedTensorType>(t.getType());
  auto exact = MemRefType::get(
      ty.getShape(), ty.getElementType(),
      StridedLayoutAttr::get(rewriter.getContext(), ShapedType::kDynamic,
                             SmallVector<int64_t>(ty.getRank(), ShapedType::kDynamic)));
  Value buf = bufferization::ToBufferOp::create(rewriter, loc, exact, t,
                                                /*read_only=*/true);
  return memref::CastOp::create(rewriter, loc,
                                anyLayout(rewriter.getContext(), ty.getRank()),
                                buf);
}

bool isStaticF32(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getElementType().isF32() && t.hasStaticShape() && !t.getEncoding();
}

struct LinearToRuntime : OpRewritePattern<lq::LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(lq::LinearOp op,
                                PatternRewriter &rewriter) const override {
    if (!isStaticF32(op.getInput()) || !isStaticF32(op.getWeight()) ||
        !isStaticF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not a static f32 linear");
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto xTy = op.getInput().getType();
    auto yTy = op.getResult().getType();
    int64_t K = xTy.getShape().back(), N = op.getWeight().getType().getDimSize(0);
    int64_t M = xTy.getNumElements() / std::max<int64_t>(K, 1);
    if (K == 0 || M == 0 || N == 0)
      return rewriter.notifyMatchFailure(op, "empty linear");
    auto x2Ty = RankedTensorType::get({M, K}, rewriter.getF32Type());
    auto y2Ty = RankedTensorType::get({M, N}, rewriter.getF32Type());
    auto reassoc = [](int64_t rank) {
      SmallVector<ReassociationIndices> r(2);
      for (int64_t i = 0; i + 1 < rank; ++i)
        r[0].push_back(i);
      r[1].push_back(rank - 1);
      return r;
    };
    Value x2 = op.getInput();
    if (xTy.getRank() == 1)
      x2 = tensor::ExpandShapeOp::create(rewriter, loc, x2Ty, x2,
                                         ArrayRef<ReassociationIndices>{{0, 1}});
    else if (xTy.getRank() > 2)
      x2 = tensor::CollapseShapeOp::create(rewriter, loc, x2Ty, x2,
                                           reassoc(xTy.getRank()));
    auto fn = declare(op->getParentOfType<ModuleOp>(), "lq_rt_linear_f32",
                      {anyLayout(ctx, 2), anyLayout(ctx, 2), anyLayout(ctx, 2)});
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get({M, N}, rewriter.getF32Type()));
    func::CallOp::create(
        rewriter, loc, fn,
        ValueRange{inBuffer(rewriter, loc, x2),
                   inBuffer(rewriter, loc, op.getWeight()),
                   memref::CastOp::create(rewriter, loc, anyLayout(ctx, 2), out)});
    Value y2 = bufferization::ToTensorOp::create(rewriter, loc, y2Ty, out,
                                                 /*restrict=*/true,
                                                 /*writable=*/true);
    if (Value bias = op.getBias()) {
      MLIRContext *c = ctx;
      AffineMap id = AffineMap::getMultiDimIdentityMap(2, c);
      AffineMap col = AffineMap::get(2, 0, {getAffineDimExpr(1, c)}, c);
      Value init = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{M, N},
                                           rewriter.getF32Type());
      y2 = linalg::GenericOp::create(
               rewriter, loc, TypeRange{y2Ty}, ValueRange{y2, bias},
               ValueRange{init}, ArrayRef<AffineMap>{id, col, id},
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                             utils::IteratorType::parallel},
               [](OpBuilder &b, Location l, ValueRange a) {
                 linalg::YieldOp::create(b, l,
                                         Value(arith::AddFOp::create(b, l, a[0], a[1])));
               })
               .getResult(0);
    }
    Value y = y2;
    if (yTy.getRank() == 1)
      y = tensor::CollapseShapeOp::create(rewriter, loc, yTy, y2,
                                          ArrayRef<ReassociationIndices>{{0, 1}});
    else if (yTy.getRank() > 2)
      y = tensor::ExpandShapeOp::create(rewriter, loc, yTy, y2,
                                        reassoc(yTy.getRank()));
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct AttentionToRuntime : OpRewritePattern<lq::AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(lq::AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getMask())
      return rewriter.notifyMatchFailure(op, "explicit masks use linalg");
    if (!isStaticF32(op.getQuery()) || !isStaticF32(op.getKey()) ||
        !isStaticF32(op.getValue()) || !isStaticF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not static f32");
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto resTy = op.getResult().getType();
    auto fn = declare(op->getParentOfType<ModuleOp>(), "lq_rt_attention_f32",
                      {anyLayout(ctx, 4), anyLayout(ctx, 4), anyLayout(ctx, 4),
                       anyLayout(ctx, 4), rewriter.getF32Type(),
                       rewriter.getI32Type()});
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get(resTy.getShape(), rewriter.getF32Type()));
    Value scale = arith::ConstantOp::create(
        rewriter, loc, rewriter.getF32FloatAttr(op.getEffectiveScale()));
    Value causal = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI32IntegerAttr(op.getCausal() ? 1 : 0));
    func::CallOp::create(
        rewriter, loc, fn,
        ValueRange{inBuffer(rewriter, loc, op.getQuery()),
                   inBuffer(rewriter, loc, op.getKey()),
                   inBuffer(rewriter, loc, op.getValue()),
                   memref::CastOp::create(rewriter, loc, anyLayout(ctx, 4), out),
                   scale, causal});
    rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                               rewriter, loc, resTy, out, /*restrict=*/true,
                               /*writable=*/true));
    return success();
  }
};

struct ConvertLQToRuntimePass
    : lq::impl::ConvertLQToRuntimePassBase<ConvertLQToRuntimePass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LinearToRuntime, AttentionToRuntime>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
