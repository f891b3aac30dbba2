//===- Pipelines.h - lq's lowering pipelines ----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_PIPELINES_PIPELINES_H
#define LQ_PASSES_PIPELINES_PIPELINES_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;

namespace lq {

#define GEN_PASS_DECL
#include "passes/Pipelines/Passes.h.inc"

/// Options of `--lower-to-cpu`.
struct LowerToCpuOptions : public PassPipelineOptions<LowerToCpuOptions> {
  Option<bool> cWrappers{
      *this, "c-wrappers",
      llvm::cl::desc("Emit _mlir_ciface_ wrappers for every function (C "
                     "callers pass memref descriptors by pointer)"),
      llvm::cl::init(false)};
  Option<bool> runtimeKernels{
      *this, "runtime-kernels",
      llvm::cl::desc("Call lq_rt's kernels for f32 linears and attention "
                     "(the model then links against liblq_rt.so)"),
      llvm::cl::init(true)};
};

/// lq IR on tensors -> LLVM dialect for the host CPU:
/// convert-lq-to-runtime (unless runtime-kernels=false), convert-lq-to-linalg, canonicalize, one-shot-bufferize (function
/// boundaries, identity layouts), the buffer deallocation pipeline,
/// convert-linalg-to-loops, expand-strided-metadata, lower-affine,
/// convert-scf-to-cf, convert-to-llvm, reconcile-unrealized-casts and
/// lq-verify-lowered.
void buildLowerToCpuPipeline(OpPassManager &pm,
                             const LowerToCpuOptions &options);

/// Registers lq-verify-lowered and the `lower-to-cpu` pipeline.
void registerPipelines();

} // namespace lq
} // namespace mlir

#endif // LQ_PASSES_PIPELINES_PIPELINES_H
