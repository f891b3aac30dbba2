//===- Pipelines.cpp - lq's lowering pipelines --------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// `--lower-to-cpu` takes lq IR on tensors to the LLVM dialect with stock MLIR
// passes after convert-lq-to-linalg, and ends with lq-verify-lowered.
//
//===----------------------------------------------------------------------===//

#include "passes/Pipelines/Pipelines.h"

#include "dialects/LQ/IR/LQDialect.h"
#include "passes/Conversion/Passes.h"
#include "mlir/Conversion/LLVMCommon/LoweringOptions.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::lq {
#define GEN_PASS_DEF_APPROXIMATEMATHPASS
#define GEN_PASS_DEF_EXPANDSTRIDEDCOPIESPASS
#define GEN_PASS_DEF_VERIFYLOWEREDPASS
#include "passes/Pipelines/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

bool hasScheme(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  return t && isa_and_nonnull<lq::SchemeAttr>(t.getEncoding());
}

struct VerifyLoweredPass : lq::impl::VerifyLoweredPassBase<VerifyLoweredPass> {
  using Base::Base;
  void runOnOperation() override {
    bool failed = false;
    getOperation().walk([&](Operation *op) {
      if (isa<lq::LQDialect>(op->getDialect())) {
        op->emitError() << "'" << op->getName()
                        << "' was not lowered by the pipeline";
        failed = true;
        return;
      }
      auto report = [&](Type t) {
        op->emitError() << "type " << t
                        << " still carries a #lq.scheme encoding after lowering";
        failed = true;
      };
      for (Type t : op->getResultTypes())
        if (hasScheme(t))
          return report(t);
      for (Type t : op->getOperandTypes())
        if (hasScheme(t))
          return report(t);
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            if (hasScheme(arg.getType()))
              return report(arg.getType());
    });
    if (failed)
      signalPassFailure();
  }
};

struct ExpandStridedCopiesPass
    : lq::impl::ExpandStridedCopiesPassBase<ExpandStridedCopiesPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp copy) {
      auto contiguous = [](Type t) {
        auto m = cast<MemRefType>(t);
        return m.getLayout().isIdentity() ||
               memref::isStaticShapeAndContiguousRowMajor(m);
      };
      if (!contiguous(copy.getSource().getType()) ||
          !contiguous(copy.getTarget().getType()))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
  }
};

struct ApproximateMathPass
    : lq::impl::ApproximateMathPassBase<ApproximateMathPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populatePolynomialApproximateErfPattern(patterns);
    // Upstream's exp approximation rewrites f32 (and vectors of it) only.
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == math::ExpOp::getOperationName();
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void lq::addBufferizationPasses(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  // bufferization.clone (returning an argument or a constant) -> alloc + copy.
  pm.addPass(createConvertBufferizationToMemRefPass());
}

void lq::buildLowerToCpuPipeline(OpPassManager &pm,
                                 const LowerToCpuOptions &options) {
  if (options.runtimeKernels)
    pm.addPass(lq::createConvertLQToRuntimePass());
  pm.addPass(lq::createConvertLQToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  lq::addBufferizationPasses(pm);

  pm.addNestedPass<func::FuncOp>(lq::createExpandStridedCopiesPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  if (options.cWrappers)
    pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());
  pm.addNestedPass<func::FuncOp>(lq::createApproximateMathPass());
  if (options.runtimeKernels) {
    // Buffers come from lq_rt's allocator (runtime/src/core/alloc.cpp), which
    // keeps freed blocks for the next call instead of faulting in fresh
    // pages every time.
    FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
    memrefOptions.useGenericFunctions = true;
    pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  }
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(lq::createVerifyLoweredPass());
}

void lq::registerPipelines() {
  ::mlir::registerPass([] { return lq::createVerifyLoweredPass(); });
  ::mlir::registerPass([] { return lq::createExpandStridedCopiesPass(); });
  ::mlir::registerPass([] { return lq::createApproximateMathPass(); });
  PassPipelineRegistration<LowerToCpuOptions>(
      "lower-to-cpu",
      "Lower lq IR on tensors to the LLVM dialect for the host CPU",
      buildLowerToCpuPipeline);
  registerLowerToCuda();
}
