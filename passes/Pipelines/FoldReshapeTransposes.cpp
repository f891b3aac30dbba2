//===- FoldReshapeTransposes.cpp - Transposes that only move unit dims ---===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// ONNX exports split heads with Reshape + Transpose: [B, S, H, D] ->
// [B, H, S, D]. In a decode step S = 1, and moving a size-1 dimension
// keeps every element at the same linear position: the transpose is a
// reshape. As a linalg.transpose it still costs a copy after bufferization
// (on the GPU, a kernel launch: four per layer in pd-llama-6m's step), so it
// becomes tensor.collapse_shape to one dimension + tensor.expand_shape to the
// result's shape, which bufferize to views of the same buffer.
//
//===----------------------------------------------------------------------===//

#include "passes/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::lq {
#define GEN_PASS_DEF_FOLDRESHAPETRANSPOSESPASS
#include "passes/Pipelines/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// True if `perm` keeps the dimensions of `shape` larger than 1 in order:
/// then output element i and input element i are the same linear index.
bool movesOnlyUnitDims(ArrayRef<int64_t> shape, ArrayRef<int64_t> perm) {
  int64_t last = -1;
  for (int64_t src : perm) {
    if (shape[src] == 1)
      continue;
    if (src < last)
      return false;
    last = src;
  }
  return true;
}

struct TransposeAsReshape : OpRewritePattern<linalg::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::TransposeOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics())
      return failure();
    auto in = cast<RankedTensorType>(op.getInput().getType());
    auto out = cast<RankedTensorType>(op.getResult()[0].getType());
    if (!in.hasStaticShape() || in.getNumElements() == 0 || in.getRank() < 2 ||
        in.getEncoding() || out.getEncoding() ||
        !movesOnlyUnitDims(in.getShape(), op.getPermutation()))
      return failure();
    Location loc = op.getLoc();
    auto group = [](int64_t rank) {
      SmallVector<ReassociationIndices> g(1);
      for (int64_t i = 0; i < rank; ++i)
        g[0].push_back(i);
      return g;
    };
    auto flatType =
        RankedTensorType::get({in.getNumElements()}, in.getElementType());
    Value flat = tensor::CollapseShapeOp::create(rewriter, loc, flatType,
                                                 op.getInput(), group(in.getRank()));
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, out, flat,
                                                       group(out.getRank()));
    return success();
  }
};

struct FoldReshapeTransposesPass
    : lq::impl::FoldReshapeTransposesPassBase<FoldReshapeTransposesPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<TransposeAsReshape>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
