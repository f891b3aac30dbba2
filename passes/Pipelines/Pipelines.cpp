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
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
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
    ModuleOp module = getOperation();
    SmallVector<memref::CopyOp> copies;
    module.walk([&](memref::CopyOp copy) {
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
      FailureOr<bool> called = callRuntimeCopy(module, b, copy);
      if (failed(called))
        return signalPassFailure();
      if (*called) {
        copy.erase();
        continue;
      }
      if (!denseBlocks || failed(copyContiguousBlocks(b, copy)))
        linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                               copy.getTarget());
      copy.erase();
    }
  }

  /// A rank-4 f32 copy of at least runtimeCopyBytes as a call of
  /// lq_rt_copy_f32 (both buffers cast to fully dynamic strided views; the
  /// C interface passes their descriptors). A per-layer KV-cache copy of a
  /// decode step ran on one thread while the others waited: ~9% of a
  /// 2-thread wide-768x12 w4a16 step.
  /// True when the call replaced the copy, false when the copy is not one
  /// for lq_rt (the caller expands it), failure on a clashing symbol.
  FailureOr<bool> callRuntimeCopy(ModuleOp module, OpBuilder &b,
                                  memref::CopyOp copy) {
    auto st = cast<MemRefType>(copy.getSource().getType());
    auto fn = copy->getParentOfType<func::FuncOp>();
    if (runtimeCopyBytes <= 0 || st.getRank() != 4 || !st.getElementType().isF32() ||
        !st.hasStaticShape() || st.getNumElements() * 4 < runtimeCopyBytes ||
        !fn || fn->getParentOp() != module)
      return false;
    MLIRContext *ctx = b.getContext();
    auto any = MemRefType::get(
        SmallVector<int64_t>(4, ShapedType::kDynamic), b.getF32Type(),
        StridedLayoutAttr::get(ctx, ShapedType::kDynamic,
                               SmallVector<int64_t>(4, ShapedType::kDynamic)));
    const StringRef name = "lq_rt_copy_f32";
    FunctionType type = b.getFunctionType({any, any}, {});
    Operation *existing = module.lookupSymbol(name);
    auto callee = dyn_cast_or_null<func::FuncOp>(existing);
    if (existing && (!callee || callee.getFunctionType() != type)) {
      existing->emitError() << "'" << name << "' must be lq_rt's strided copy, "
                            << type;
      return failure();
    }
    if (!callee) {
      OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
      callee = func::FuncOp::create(mb, module.getLoc(), name, type);
      callee.setPrivate();
      callee->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
    }
    Location loc = copy.getLoc();
    Value from = memref::CastOp::create(b, loc, any, copy.getSource());
    Value to = memref::CastOp::create(b, loc, any, copy.getTarget());
    func::CallOp::create(b, loc, callee, ValueRange{from, to});
    return true;
  }

  /// A strided copy whose trailing dimensions are contiguous in both buffers
  /// (a KV cache's [past, head_dim] block inside [capacity, head_dim]) as
  /// loops over the leading dimensions of memref.copy's of those blocks,
  /// which lower to llvm.memcpy. Element loops from linalg.copy stay scalar:
  /// LLVM cannot prove the two buffers disjoint, and a past/present decode
  /// step of pd-llama-6m spent ~8% in them. Fails (nothing built) when the
  /// contiguous block is small or the layout is not static.
  static LogicalResult copyContiguousBlocks(OpBuilder &b, memref::CopyOp copy) {
    auto st = cast<MemRefType>(copy.getSource().getType());
    auto tt = cast<MemRefType>(copy.getTarget().getType());
    if (!st.hasStaticShape() || st.getShape() != tt.getShape())
      return failure();
    SmallVector<int64_t> ss, ts;
    int64_t so, to;
    if (failed(st.getStridesAndOffset(ss, so)) ||
        failed(tt.getStridesAndOffset(ts, to)))
      return failure();
    ArrayRef<int64_t> shape = st.getShape();
    const int64_t r = st.getRank();
    // The longest suffix laid out row-major and dense in both (every
    // dimension's stride, unit ones included, as a dense block has it).
    int64_t d0 = r, block = 1;
    while (d0 > 0 && ss[d0 - 1] == block && ts[d0 - 1] == block) {
      --d0;
      block *= shape[d0];
    }
    if (block < 16)
      return failure();
    // The blocks' types (offsets do not change strides): both must be dense,
    // or memref.copy would become a memrefCopy call.
    SmallVector<int64_t> blockShape(shape.drop_front(d0));
    SmallVector<OpFoldResult> zeros(r, b.getIndexAttr(0)), sizes,
        ones(r, b.getIndexAttr(1));
    for (int64_t d = 0; d < r; ++d)
      sizes.push_back(b.getIndexAttr(d < d0 ? 1 : shape[d]));
    for (MemRefType ty : {st, tt})
      if (!memref::isStaticShapeAndContiguousRowMajor(
              memref::SubViewOp::inferRankReducedResultType(blockShape, ty,
                                                            zeros, sizes, ones)))
        return failure();
    Location loc = copy.getLoc();
    SmallVector<Value> lbs, ubs, steps;
    for (int64_t d = 0; d < d0; ++d) {
      lbs.push_back(arith::ConstantIndexOp::create(b, loc, 0));
      ubs.push_back(arith::ConstantIndexOp::create(b, loc, shape[d]));
      steps.push_back(arith::ConstantIndexOp::create(b, loc, 1));
    }
    scf::buildLoopNest(b, loc, lbs, ubs, steps,
                       [&](OpBuilder &lb, Location l, ValueRange ivs) {
      SmallVector<OpFoldResult> offsets(ivs.begin(), ivs.end());
      for (int64_t d = d0; d < r; ++d)
        offsets.push_back(lb.getIndexAttr(0));
      auto sub = [&](Value m, MemRefType ty) -> Value {
        auto reduced = memref::SubViewOp::inferRankReducedResultType(
            blockShape, ty, offsets, sizes, ones);
        return memref::SubViewOp::create(lb, l, reduced, m, offsets, sizes,
                                         ones);
      };
      Value from = sub(copy.getSource(), st), to = sub(copy.getTarget(), tt);
      memref::CopyOp::create(lb, l, from, to);
    });
    return success();
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
  pm.addNestedPass<func::FuncOp>(lq::createFoldReshapeTransposesPass());
  pm.addPass(createCanonicalizerPass());
  lq::addBufferizationPasses(pm);

  ExpandStridedCopiesPassOptions copies;
  if (options.runtimeKernels)
    copies.runtimeCopyBytes = 64 << 10; // below that, a memcpy beats a hand-off
  pm.addPass(lq::createExpandStridedCopiesPass(copies));
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
  ::mlir::registerPass([] { return lq::createFoldReshapeTransposesPass(); });
  PassPipelineRegistration<LowerToCpuOptions>(
      "lower-to-cpu",
      "Lower lq IR on tensors to the LLVM dialect for the host CPU",
      buildLowerToCpuPipeline);
  registerLowerToCuda();
}
