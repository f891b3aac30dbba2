// RUN: quant-opt %s --lower-to-cuda="cubin-format=isa" | FileCheck %s --implicit-check-not=lq. --implicit-check-not=linalg. --implicit-check-not=memref.load
// RUN: quant-opt %s --lower-to-cuda="cubin-format=isa" --mlir-print-ir-before=gpu-module-to-binary -o /dev/null 2>&1 | FileCheck %s --check-prefix=NVVM

// --lower-to-cuda on the op families that become generated kernels
// (elementwise, norms, rotary, embedding gather, softmax): each function's
// loops become kernels in gpu.module ops lowered to NVVM, then to PTX
// (cubin-format=isa: no CUDA toolkit needed) in gpu.binary ops; host code
// copies inputs and constants to device buffers, launches, copies results
// back.

// Elementwise SiLU, 300 elements: 2 blocks of 256 threads, exp via libdevice.
// NVVM-LABEL: gpu.module @silu_kernel [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">]
// NVVM: llvm.func @silu_kernel({{.*}}) attributes {gpu.kernel, gpu.known_block_size = array<i32: 256, 1, 1>, gpu.known_grid_size = array<i32: 2, 1, 1>, nvvm.kernel
// NVVM: nvvm.read.ptx.sreg.ctaid.x
// NVVM: nvvm.read.ptx.sreg.tid.x
// NVVM: llvm.icmp "ult"
// NVVM: llvm.call @__nv_expf
// NVVM: llvm.fdiv
// CHECK-LABEL: llvm.func @silu
// CHECK: llvm.call @mgpuMemAlloc
// CHECK: llvm.call @mgpuMemcpy
// CHECK: gpu.launch_func @silu_kernel::@silu_kernel blocks in
// CHECK: llvm.call @malloc
// CHECK: llvm.call @mgpuMemcpy
// CHECK: llvm.call @mgpuMemFree
// CHECK: llvm.return
// CHECK: gpu.binary @silu_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: .version 8.0
// CHECK-SAME: .target sm_90a
// CHECK-SAME: .visible .entry silu_kernel(
// CHECK-SAME: %ctaid.x
// CHECK-SAME: %tid.x
// CHECK-SAME: ld.global.b32
// CHECK-SAME: ex2.approx.ftz.f32
// CHECK-SAME: div.rn.f32
// CHECK-SAME: st.global.b32
func.func @silu(%x: tensor<3x100xf32>) -> tensor<3x100xf32> {
  %e = tensor.empty() : tensor<3x100xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<3x100xf32>) outs(%e : tensor<3x100xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    %x1 = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %d = arith.addf %one, %x1 : f32
    %s = arith.divf %a, %d : f32
    linalg.yield %s : f32
  } -> tensor<3x100xf32>
  return %y : tensor<3x100xf32>
}

// RMSNorm: zero-fill, sum of squares (one block per row: its 64 threads
// each sum a strided share in a register, gpu.all_reduce adds the shares
// with warp shuffles and shared memory), then the scaling kernel with rsqrt.
// NVVM-LABEL: gpu.module @rms_norm_kernel_0
// NVVM: gpu.known_block_size = array<i32: 64, 1, 1>, gpu.known_grid_size = array<i32: 2, 1, 1>
// NVVM: llvm.fmul
// NVVM: llvm.fadd
// NVVM: nvvm.shfl.sync bfly
// NVVM: nvvm.barrier
// NVVM-LABEL: gpu.module @rms_norm_kernel_1
// NVVM: llvm.call @__nv_rsqrtf
// CHECK-LABEL: llvm.func @rms_norm
// CHECK-COUNT-3: gpu.launch_func @rms_norm_kernel
// CHECK: gpu.binary @rms_norm_kernel [
// CHECK: gpu.binary @rms_norm_kernel_0 [
// CHECK-SAME: add.rn.f32
// CHECK-SAME: shfl.sync.bfly.b32
// CHECK: gpu.binary @rms_norm_kernel_1 [
// CHECK-SAME: rsqrt.approx.f32
func.func @rms_norm(%x: tensor<2x64xf32>, %g: tensor<64xf32>) -> tensor<2x64xf32> {
  %y = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<2x64xf32>, tensor<64xf32>
  return %y : tensor<2x64xf32>
}

// Rotary (rotate-half): a select between the partner feature's products.
// NVVM-LABEL: gpu.module @rotary_kernel
// NVVM: llvm.select
// CHECK-LABEL: llvm.func @rotary
// CHECK: gpu.launch_func @rotary_kernel::@rotary_kernel
// CHECK: gpu.binary @rotary_kernel [
// CHECK-SAME: selp.f32
func.func @rotary(%x: tensor<1x2x4x8xf32>, %c: tensor<4x4xf32>, %s: tensor<4x4xf32>) -> tensor<1x2x4x8xf32> {
  %y = lq.rotary %x, %c, %s : tensor<1x2x4x8xf32>, tensor<4x4xf32>
  return %y : tensor<1x2x4x8xf32>
}

// Embedding gather: the table is a constant copied to the device at entry;
// each thread loads its id, then the row element.
// NVVM-LABEL: gpu.module @embedding_kernel
// NVVM: %[[ID:.+]] = llvm.load %{{.+}} : !llvm.ptr -> i64
// NVVM: llvm.mul %[[ID]]
// CHECK-LABEL: llvm.func @embedding
// CHECK: llvm.mlir.addressof @__constant_3x4xf32
// CHECK: llvm.call @mgpuMemcpy
// CHECK: gpu.launch_func @embedding_kernel::@embedding_kernel
// CHECK: gpu.binary @embedding_kernel [
// CHECK-SAME: ld.global.b32
// CHECK-SAME: st.global.b32
func.func @embedding(%ids: tensor<1x5xi64>) -> tensor<1x5x4xf32> {
  %t = arith.constant dense<[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]]> : tensor<3x4xf32>
  %e = lq.embedding %t, %ids : (tensor<3x4xf32>, tensor<1x5xi64>) -> tensor<1x5x4xf32>
  return %e : tensor<1x5x4xf32>
}

// Softmax (an attention with an explicit mask stays on generated code):
// running max, exp(x - max), sum, divide.
// NVVM-LABEL: gpu.module @softmax_kernel
// NVVM: llvm.intr.maximum
// NVVM: llvm.call @__nv_expf
// NVVM: llvm.fdiv
// CHECK-LABEL: llvm.func @softmax
// CHECK: gpu.launch_func @softmax_kernel
// CHECK: gpu.binary @softmax_kernel_5 [
// CHECK-SAME: max.NaN.f32
// CHECK: gpu.binary @softmax_kernel_6 [
// CHECK-SAME: ex2.approx.ftz.f32
func.func @softmax(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>, %m: tensor<1x1x3x3xi1>) -> tensor<1x2x3x4xf32> {
  %o = lq.attention %q, %k, %v mask %m : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x1x3x3xi1>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// SwiGLU's silu(gate) * up, two elementwise ops: fused into one kernel
// (linalg-fuse-elementwise-ops) that reads gate and up and writes the
// product, instead of a kernel per op and a buffer between them.
// NVVM-LABEL: gpu.module @swiglu_kernel
// NVVM: llvm.call @__nv_expf
// NVVM: llvm.fdiv
// NVVM: llvm.fmul
// CHECK-LABEL: llvm.func @swiglu
// CHECK: gpu.launch_func @swiglu_kernel::@swiglu_kernel
// CHECK-NOT: gpu.launch_func
// CHECK: llvm.return
func.func @swiglu(%g: tensor<4x64xf32>, %u: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %e = tensor.empty() : tensor<4x64xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%g : tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    %x1 = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %d = arith.addf %one, %x1 : f32
    %r = arith.divf %a, %d : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%s, %u : tensor<4x64xf32>, tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<4x64xf32>
  return %p : tensor<4x64xf32>
}
