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
      llvm::cl::desc("Call lq_rt's kernels for f32 linears and attention, "
                     "and allocate buffers with lq_rt's allocator (the "
                     "model then links against liblq_rt.so)"),
      llvm::cl::init(true)};
};

/// lq IR on tensors -> LLVM dialect for the host CPU:
/// convert-lq-to-runtime (unless runtime-kernels=false), convert-lq-to-linalg,
/// lq-fold-reshape-transposes, canonicalize, one-shot-bufferize (function
/// boundaries, identity layouts), the buffer deallocation pipeline,
/// convert-linalg-to-loops, expand-strided-metadata, lower-affine,
/// convert-scf-to-cf, finalize-memref-to-llvm with lq_rt's allocator
/// (use-generic-functions, with runtime kernels only), convert-to-llvm,
/// reconcile-unrealized-casts and lq-verify-lowered.
void buildLowerToCpuPipeline(OpPassManager &pm,
                             const LowerToCpuOptions &options);

/// The tensor -> buffer stage both lowerings share: one-shot-bufferize
/// (function boundaries, identity layouts), the buffer deallocation pipeline
/// and convert-bufferization-to-memref.
void addBufferizationPasses(OpPassManager &pm);

/// Options of `--lower-to-cuda`.
struct LowerToCudaOptions : public PassPipelineOptions<LowerToCudaOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture: sm_80, sm_86, "
                                          "sm_89, sm_90, sm_90a, sm_100, "
                                          "sm_100a, sm_120, sm_120a"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{
      *this, "cubin-features",
      llvm::cl::desc("PTX ISA as +ptxNN (default: the chip's minimum, e.g. "
                     "+ptx80 for sm_90a; LLVM's +ptx60 default aborts on "
                     "sm_80 and newer)"),
      llvm::cl::init("")};
  Option<std::string> format{
      *this, "cubin-format",
      llvm::cl::desc("Device code in gpu.binary: fatbin (ptxas + fatbinary "
                     "from the CUDA toolkit), bin (cubin), isa (PTX text, no "
                     "toolkit needed), offload (LLVM IR)"),
      llvm::cl::init("fatbin")};
  Option<std::string> toolkit{
      *this, "cuda-path",
      llvm::cl::desc("CUDA toolkit (ptxas, fatbinary, libdevice); default "
                     "$CUDA_HOME, $CUDA_PATH, $CUDA_ROOT or /usr/local/cuda"),
      llvm::cl::init("")};
  Option<int> optLevel{*this, "opt-level",
                       llvm::cl::desc("Device code optimization level"),
                       llvm::cl::init(3)};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("Threads per block of generated "
                                           "elementwise kernels"),
                            llvm::cl::init(256)};
  Option<bool> cWrappers{
      *this, "c-wrappers",
      llvm::cl::desc("Emit _mlir_ciface_ wrappers for every function"),
      llvm::cl::init(false)};
  Option<bool> runtimeKernels{
      *this, "runtime-kernels",
      llvm::cl::desc("Call lq_rt_cuda's kernels for linears and attention "
                     "(the model then links against liblq_rt_cuda.so)"),
      llvm::cl::init(true)};
  Option<bool> residentWeights{
      *this, "resident-weights",
      llvm::cl::desc("Copy weights to the device once, on the first call, "
                     "and keep them there (false: copy them at every call)"),
      llvm::cl::init(true)};
  Option<bool> deviceKvCaches{
      *this, "device-kv-caches",
      llvm::cl::desc("Keep KV caches updated in place (kv-cache-in-place) "
                     "on the device across calls, never copied back (not "
                     "yet run on a GPU: off by default)"),
      llvm::cl::init(false)};
  Option<bool> streamOrdered{
      *this, "stream-ordered",
      llvm::cl::desc("Enqueue every device step of a call in order on one "
                     "stream and wait only where the host reads (the "
                     "results); false: wait after every step. Not yet run "
                     "on a GPU: off by default"),
      llvm::cl::init(false)};
};

/// lq IR on tensors -> host LLVM dialect + gpu.binary (see LowerToCuda.cpp):
/// lq-check-cuda-target, convert-lq-to-runtime{prefix=lq_rt_cuda_},
/// convert-lq-to-linalg, lq-fold-reshape-transposes,
/// linalg-fuse-elementwise-ops, bufferization as --lower-to-cpu,
/// convert-linalg-to-parallel-loops, lq-gpu-parallelize-loops (reductions:
/// one block per output and gpu.all_reduce),
/// gpu-map-parallel-loops, convert-parallel-loops-to-gpu,
/// lq-gpu-device-buffers, gpu-kernel-outlining, nvvm-attach-target,
/// convert-gpu-to-nvvm, gpu-to-llvm, convert-to-llvm, gpu-module-to-binary,
/// lq-verify-lowered.
void buildLowerToCudaPipeline(OpPassManager &pm,
                              const LowerToCudaOptions &options);

/// "+ptxNN" for `chip`: the oldest PTX ISA LLVM accepts for it.
std::string cudaDefaultFeatures(llvm::StringRef chip);

/// The CUDA toolkit --lower-to-cuda uses: `given`, else $CUDA_HOME,
/// $CUDA_PATH, $CUDA_ROOT, else /usr/local/cuda.
std::string cudaToolkitPath(llvm::StringRef given);

/// Registers the GPU passes and the `lower-to-cuda` pipeline.
void registerLowerToCuda();

/// Registers lq-verify-lowered and the `lower-to-cpu` pipeline.
void registerPipelines();

} // namespace lq
} // namespace mlir

#endif // LQ_PASSES_PIPELINES_PIPELINES_H
