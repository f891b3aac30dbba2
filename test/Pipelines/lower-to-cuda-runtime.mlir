// RUN: quant-opt %s --lower-to-cuda="cubin-format=isa" | FileCheck %s --implicit-check-not=lq.
// RUN: quant-opt %s --lower-to-cuda="cubin-format=isa runtime-kernels=false" | FileCheck %s --check-prefix=GEN

// Linears and attention call lq_rt_cuda's kernels on device buffers; after
// each call (the kernels run on the default stream) the host waits for the
// default stream before the next step.

// Weights' device copies: one slot per constant, and the runtime lookup.
// CHECK-DAG: llvm.mlir.global private @__constant_8x32xi8__lq_device(dense<0> : tensor<1xi64>)
// CHECK-DAG: llvm.call @_mlir_ciface_lq_rt_cuda_resident(
// CHECK-DAG: llvm.func @_mlir_ciface_lq_rt_cuda_resident(i64, i64, i64) -> i64
// CHECK-LABEL: llvm.func @linear_f32
// CHECK: llvm.call @mgpuMemAlloc
// CHECK: llvm.call @mgpuMemcpy
// CHECK: llvm.call @lq_rt_cuda_linear_f32(
// CHECK-NEXT: llvm.call @mgpuStreamSynchronize(
// The bias is added by a generated kernel.
// CHECK: gpu.launch_func @linear_f32_kernel::@linear_f32_kernel
// CHECK: llvm.call @malloc
// CHECK: llvm.call @mgpuMemcpy
// CHECK: llvm.return
// With runtime-kernels=false the matmul is a generated kernel too.
// GEN-LABEL: llvm.func @linear_f32
// GEN-NOT: lq_rt_cuda
// GEN: gpu.launch_func
// GEN: gpu.binary @linear_f32_kernel_0 [
// GEN-SAME: mul.rn.f32
// GEN-SAME: add.rn.f32
func.func @linear_f32(%x: tensor<2x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<2x8xf32> {
  %y = lq.linear %x, %w bias %b : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// W4A16: the codes, repacked at compile time, are a constant whose device
// copy (made on the first call, then cached in the module's slot global)
// goes to the fused dequantizing kernel; weights are never copied per call.
// CHECK-LABEL: llvm.func @int4_linear
// CHECK: llvm.mlir.addressof @__constant_8x32xi8__lq_device
// CHECK: llvm.call @lq_rt_cuda_resident(
// CHECK: llvm.call @lq_rt_cuda_linear_q_f32(
// CHECK-NEXT: llvm.call @mgpuStreamSynchronize(
func.func @int4_linear(%x: tensor<2x64xf32>, %s: tensor<8x2xf32>) -> tensor<2x8xf32> {
  %q = arith.constant dense<3> : tensor<8x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>
  %s0 = arith.constant dense<0.5> : tensor<8x2xf32>
  %w = lq.dequantize %q, %s0 : (tensor<8x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>, tensor<8x2xf32>) -> tensor<8x64xf32>
  %y = lq.linear %x, %w : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// Causal GQA attention.
// CHECK-LABEL: llvm.func @attention
// CHECK: llvm.call @lq_rt_cuda_attention_f32(
// CHECK-NEXT: llvm.call @mgpuStreamSynchronize(
// CHECK: llvm.call @mgpuMemFree
func.func @attention(%q: tensor<1x4x3x8xf32>, %k: tensor<1x2x3x8xf32>, %v: tensor<1x2x3x8xf32>) -> tensor<1x4x3x8xf32> {
  %o = lq.attention %q, %k, %v {causal} : (tensor<1x4x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>) -> tensor<1x4x3x8xf32>
  return %o : tensor<1x4x3x8xf32>
}

// The kernels' declarations (the C interface of lq_rt_cuda): the wrappers
// pass memref descriptors by pointer.
// CHECK-DAG: llvm.call @_mlir_ciface_lq_rt_cuda_linear_f32(
// CHECK-DAG: llvm.call @_mlir_ciface_lq_rt_cuda_linear_q_f32(
// CHECK-DAG: llvm.call @_mlir_ciface_lq_rt_cuda_attention_f32(
// CHECK-DAG: llvm.func @_mlir_ciface_lq_rt_cuda_linear_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr)
// CHECK-DAG: llvm.func @_mlir_ciface_lq_rt_cuda_linear_q_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32)
// CHECK-DAG: llvm.func @_mlir_ciface_lq_rt_cuda_attention_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, f32, i32)
// CHECK-DAG: llvm.func @mgpuStreamSynchronize(!llvm.ptr)
