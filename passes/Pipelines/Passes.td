//===- Passes.td - Passes that close lq's pipelines --------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PIPELINES_PASSES_TD
#define LQ_PIPELINES_PASSES_TD

include "mlir/Pass/PassBase.td"

def VerifyLoweredPass : Pass<"lq-verify-lowered", "ModuleOp"> {
  let summary = "Reject any lq op or #lq.scheme-encoded tensor left after lowering";
  let description = [{
    The last pass of `--lower-to-cpu`: a lowering pipeline must leave no
    `lq.*` op and no tensor type whose encoding is a `#lq.scheme` (in results,
    operands or block arguments). Each offender gets an error at its location.
  }];
}

def ExpandStridedCopiesPass : Pass<"lq-expand-strided-copies", "ModuleOp"> {
  let summary = "Turn memref.copy between strided buffers into loops";
  let description = [{
    `memref.copy` between contiguous buffers lowers to `llvm.memcpy`; any other
    copy becomes a call to `memrefCopy` from MLIR's C runner utilities, which a
    compiled model must not depend on. This pass rewrites those copies: when
    their trailing dimensions form a dense block of at least 16 elements in
    both buffers, to loops over the leading dimensions of `memref.copy`s of
    the blocks (contiguous: `llvm.memcpy`); otherwise to `linalg.copy`, which
    `convert-linalg-to-loops` turns into plain loops. With
    `runtime-copy-bytes`, large rank-4 f32 copies of a static shape in the
    module's top-level functions (a decode step's KV cache copied into the
    returned one, once per layer) instead call lq_rt's `lq_rt_copy_f32`,
    which splits the rows between its threads.
  }];
  let dependentDialects = ["linalg::LinalgDialect", "scf::SCFDialect",
                           "arith::ArithDialect", "func::FuncDialect",
                           "memref::MemRefDialect"];
  let options = [
    Option<"denseBlocks", "dense-blocks", "bool", /*default=*/"true",
           "Copy dense trailing blocks with memref.copy (CPU); false: every "
           "strided copy becomes linalg.copy (the GPU pipeline maps those "
           "loops to threads)">,
    Option<"runtimeCopyBytes", "runtime-copy-bytes", "int64_t", /*default=*/"0",
           "Rank-4 f32 strided copies of a static shape and at least this "
           "many bytes, in the module's top-level functions, call "
           "lq_rt_copy_f32 (threads); 0: never">,
  ];
}

def FoldReshapeTransposesPass
    : Pass<"lq-fold-reshape-transposes", "func::FuncOp"> {
  let summary = "Turn linalg.transpose ops that only move unit dimensions into reshapes";
  let description = [{
    A transpose whose permutation keeps the dimensions larger than 1 in their
    order (a decode step's [1, 1, H, D] -> [1, H, 1, D] head split) moves no
    element: it is rewritten to `tensor.collapse_shape` to one dimension and
    `tensor.expand_shape` to the result's shape, views after bufferization,
    instead of a copy (on the GPU, a kernel). Static shapes only.
  }];
  let dependentDialects = ["tensor::TensorDialect"];
}

def ApproximateMathPass : Pass<"lq-approximate-math", "func::FuncOp"> {
  let summary = "Replace math.erf and f32 math.exp by MLIR's polynomial approximations";
  let description = [{
    LLVM has no erf intrinsic and MathToLibm would also turn other math ops
    into libm calls that do not exist (`rsqrtf`), so erf (GELU in many
    exports) is expanded in place with upstream's polynomial approximation.
    f32 exp (SiLU's sigmoid, softmax) is expanded too: as a libm call it
    kept LLVM from vectorizing the elementwise loops around it and cost 10%
    of a pd-llama-6m prefill.
  }];
  let dependentDialects = ["math::MathDialect", "arith::ArithDialect"];
}

def CheckCudaTargetPass : Pass<"lq-check-cuda-target", "ModuleOp"> {
  let summary = "Reject a --lower-to-cuda chip or PTX version the toolchain cannot build";
  let description = [{
    The first pass of `--lower-to-cuda`: `chip` must be one of sm_80, sm_86,
    sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_120, sm_120a (CUDA 13 has no
    sm_7x) and `features`, when given, `+ptxNN` with NN at least the chip's
    minimum PTX ISA (LLVM aborts otherwise). Errors name the module.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"", "Target chip">,
    Option<"features", "features", "std::string", /*default=*/"\"\"",
           "PTX ISA (+ptxNN); empty: the chip's minimum">
  ];
}

def GpuParallelizeLoopsPass : Pass<"lq-gpu-parallelize-loops", "func::FuncOp"> {
  let summary = "Shape host loop nests for gpu-map-parallel-loops: blocks x threads";
  let description = [{
    Every outermost `scf.parallel` (as convert-linalg-to-parallel-loops
    emits it, any rank) is linearized into a two-level nest,
    `scf.parallel (%b) = (0) to (ceil(total / B))` around
    `scf.parallel (%t) = (0) to (B)` with the original induction variables
    recovered from `%b * B + %t` under an in-bounds `scf.if`, so
    gpu-map-parallel-loops maps `%b` to blocks and `%t` to threads (B =
    `block-size`, or the trip count when smaller). Outermost `scf.for` nests
    and stores outside loops (reductions with no parallel dimension, scalar
    glue) are wrapped in a one-block, one-thread nest, so no host code is left
    touching buffers, which live in device memory after
    lq-gpu-device-buffers.

    A reduction (convert-linalg-to-parallel-loops' scf.for whose body reads
    an accumulator at loop-invariant indices, combines it with one f32 / i32
    add, mul, min or max, and stores it back) over at least 64 values, or an
    unknown count, becomes a `gpu.launch` with one block per output element:
    each thread folds a strided share of the reduced dimension into a
    register, `gpu.all_reduce` combines the shares (warp shuffles and shared
    memory after convert-gpu-to-nvvm) and thread 0 updates the accumulator.
    Threads per block: the reduced extent rounded up to 32, at most
    `block-size`.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">
  ];
  let dependentDialects = ["scf::SCFDialect", "arith::ArithDialect",
                           "gpu::GPUDialect", "memref::MemRefDialect"];
}

def GpuDeviceBuffersPass : Pass<"lq-gpu-device-buffers", "ModuleOp"> {
  let summary = "Move every host buffer to device memory; copy inputs, constants and results";
  let description = [{
    Runs after convert-parallel-loops-to-gpu, on host functions whose data
    accesses are all inside `gpu.launch`:
    - `memref.alloc` / `memref.dealloc` / `memref.copy` become `gpu.alloc` /
      `gpu.dealloc` / `gpu.memcpy` (each on its own stream, waited on: every
      step is complete before the next starts; with `stream-ordered`, the
      steps of the function's entry block, launches included, form one chain
      of async tokens and the host waits only before it reads a copy: the
      copies of the results, and small buffers it reads);
    - `memref.get_global` (weights, tables) becomes the constant's device
      copy, made by `lq_rt_cuda_resident` on the model's first call and
      kept for the life of the process (the pointer is cached in a
      zero-initialized slot global `@<name>__lq_device` of the module);
    - public functions copy their memref arguments to device buffers at
      entry and their results back to fresh host buffers (`memref.alloc`,
      freed by the caller as on the CPU) at every return;
    - after each call of a `lq_rt_cuda_` kernel (which launches on the
      default stream) the default stream is synchronized, unless
      `stream-ordered` (lq_rt_cuda's mgpuStreamCreate returns that stream,
      so the chain and the kernels run in one order);
    - with `device-kv-caches`, a cache argument updated in place
      (`lq.kv_cache_in_place`) is a device buffer kept across calls
      (`lq_rt_cuda_kv_shadow`, a slot `@<func>__lq_kv<arg>` per cache):
      uploaded when the runtime sees a new host buffer or the step starts
      at position 0 (the `position` argument), never copied back, so a
      decode step moves no cache over PCIe;
    - a host `memref.load` of a public function's argument reads the
      caller's buffer; one of another small static buffer (up to 64
      elements) reads a host copy of it.
    What is copied per call: every argument and every result; the weights
    only on the first call. A later step should let the caller pass device
    buffers.
    Fails, naming the op, when host code still reads or writes a buffer
    outside `gpu.launch`.
  }];
  let options = [
    Option<"residentConstants", "resident-constants", "bool",
           /*default=*/"true",
           "Keep constants on the device across calls (false: copy every "
           "constant to the device at each call, the baseline to compare)">,
    Option<"deviceKvCaches", "device-kv-caches", "bool", /*default=*/"false",
           "Keep in-place KV caches (kv-cache-in-place) on the device across "
           "calls: lq_rt_cuda_kv_shadow uploads a cache when it first sees "
           "its host buffer or at position 0, and it is never copied back">,
    Option<"streamOrdered", "stream-ordered", "bool", /*default=*/"false",
           "Chain the device steps on one stream and wait only where the "
           "host reads (false: wait after every step)">
  ];
  let dependentDialects = ["gpu::GPUDialect", "memref::MemRefDialect",
                           "LLVM::LLVMDialect", "arith::ArithDialect",
                           "func::FuncDialect"];
}

#endif // LQ_PIPELINES_PASSES_TD
