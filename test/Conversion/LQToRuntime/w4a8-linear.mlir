// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime | FileCheck %s
// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime="int8-gemm=false" | FileCheck %s --check-prefix=FAKE
// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=CUDA

// W4A8LinearToRuntime: int8 activation codes x constant int4 weights in
// groups along K -> lq_rt_linear_w4a8 (int32 sums per group). The
// activation's lq.quantize stays (its codes feed the kernel), both
// dequantizes go, and the weight with its scales (and zero points) is packed
// at compile time by lq_rt_pack_w4a8.

// Dynamic per-token scales ([1, 3, 1] from lq.compute_scales), symmetric
// int4 weights in two groups of 8, no bias.
#tok = #lq.scheme<format = int, bits = 8, axis = 2, group = 16>
#g8 = #lq.scheme<format = int, bits = 4, axis = 1, group = 8>
// CHECK-LABEL: func.func @per_token_sym(
// CHECK-SAME:      %[[X:.*]]: tensor<1x3x16xf32>)
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-DAG:     %[[G:.*]] = arith.constant 8 : i64
// CHECK-DAG:     %[[P:.*]] = arith.constant dense_resource<lq_w4a8_packed> : tensor<1x256xi8>
// CHECK:         %[[S:.*]] = lq.compute_scales %[[X]]
// CHECK:         %[[Q:.*]] = lq.quantize %[[X]], %[[S]]
// CHECK-NOT:     lq.dequantize
// CHECK:         %[[QB:.*]] = bufferization.to_buffer %[[Q]] read_only
// CHECK:         %[[QC:.*]] = memref.collapse_shape %[[QB]] {{\[}}[0, 1], [2]] : memref<1x3x16xi8> into memref<3x16xi8>
// CHECK:         %[[QV:.*]] = memref.cast %[[QC]] : memref<3x16xi8> to memref<?x?xi8, strided<[?, ?], offset: ?>>
// CHECK:         %[[S3:.*]] = tensor.collapse_shape %[[S]] {{\[}}[0, 1, 2]] : tensor<1x3x1xf32> into tensor<3xf32>
// CHECK:         %[[OUT:.*]] = memref.alloc() : memref<3x2xf32>
// CHECK:         %[[SB:.*]] = bufferization.to_buffer %[[S3]] read_only
// CHECK:         %[[SV:.*]] = memref.cast %[[SB]]
// CHECK:         %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only
// CHECK:         %[[PV:.*]] = memref.cast %[[PB]]
// CHECK:         %[[OV:.*]] = memref.cast %[[OUT]]
// CHECK:         call @lq_rt_linear_w4a8(%[[QV]], %[[SV]], %[[PV]], %[[SV]], %[[OV]], %[[G]], %[[ZERO]], %[[ZERO]])
// CHECK:         %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<3x2xf32> to tensor<3x2xf32>
// CHECK:         %[[Y3:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0, 1], [2]] output_shape [1, 3, 2] : tensor<3x2xf32> into tensor<1x3x2xf32>
// CHECK:         return %[[Y3]]
// CHECK:       func.func private @lq_rt_linear_w4a8(memref<?x?xi8, strided<[?, ?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xi8, strided<[?, ?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64, i32, i32) attributes {llvm.emit_c_interface}
// The packed panel, per group: the 16 scales (0.5, 1.0; then 0.25, 2.0),
// then one 64-byte block of nibbles u = q + 8, byte i of column j holding
// k = i (low) and k = 4 + i (high): row 0 [1 -2 3 -4 | 5 -6 7 -8] ->
// D9 26 FB 04, row 1 all -1 -> 77; group 1 [0 1 2 3 | 4 5 6 7] -> C8 D9 EA FB,
// 2 -> AA.
// CHECK:       lq_w4a8_packed: "0x080000000000003F0000803F{{(00)+}}D926FB0477777777{{(00)+}}803E00000040{{(00)+}}C8D9EAFBAAAAAAAA{{(00)+}}"

// FAKE-LABEL: func.func @per_token_sym(
// FAKE:         lq.dequantize
// FAKE:         call @lq_rt_linear_q_f32
// FAKE-NOT:     lq_rt_linear_w4a8
// CUDA-LABEL: func.func @per_token_sym(
// CUDA-NOT:     lq_rt_cuda_linear_w4a8
// CUDA:         call @lq_rt_cuda_linear_q_f32
func.func @per_token_sym(%x: tensor<1x3x16xf32>) -> tensor<1x3x2xf32> {
  %s = lq.compute_scales %x for <format = int, bits = 8, axis = 2, group = 16> : (tensor<1x3x16xf32>) -> tensor<1x3x1xf32>
  %q = lq.quantize %x, %s : (tensor<1x3x16xf32>, tensor<1x3x1xf32>) -> tensor<1x3x16xi8, #tok>
  %xd = lq.dequantize %q, %s : (tensor<1x3x16xi8, #tok>, tensor<1x3x1xf32>) -> tensor<1x3x16xf32>
  %wq = arith.constant dense<[[1, -2, 3, -4, 5, -6, 7, -8, 0, 1, 2, 3, 4, 5, 6, 7], [-1, -1, -1, -1, -1, -1, -1, -1, 2, 2, 2, 2, 2, 2, 2, 2]]> : tensor<2x16xi4, #g8>
  %sw = arith.constant dense<[[0.5, 0.25], [1.0, 2.0]]> : tensor<2x2xf32>
  %w = lq.dequantize %wq, %sw : (tensor<2x16xi4, #g8>, tensor<2x2xf32>) -> tensor<2x16xf32>
  %y = lq.linear %xd, %w : (tensor<1x3x16xf32>, tensor<2x16xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}

// -----

// A static per-tensor activation scale, asymmetric weights (zero points per
// group, packed as int32 after the scales), 17 output channels (two
// panels), and a linear bias passed to the kernel (has_bias = 1).
#a8 = #lq.scheme<format = int, bits = 8>
#asym = #lq.scheme<format = int, bits = 4, axis = 1, group = 32, symmetric = false>
// CHECK-LABEL: func.func @per_tensor_asym_bias(
// CHECK-SAME:      %[[X:.*]]: tensor<2x64xf32>, %[[BIAS:.*]]: tensor<17xf32>)
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1 : i32
// CHECK-DAG:     %[[G:.*]] = arith.constant 32 : i64
// Two panels of 2 groups x (64 B scales + 64 B zero points + 4 blocks).
// CHECK-DAG:     %[[P:.*]] = arith.constant dense_resource<lq_w4a8_packed> : tensor<2x768xi8>
// CHECK-DAG:     %[[S1:.*]] = arith.constant dense<1.250000e-01> : tensor<1xf32>
// CHECK:         %[[Q:.*]] = lq.quantize %[[X]]
// CHECK-NOT:     lq.dequantize
// CHECK-DAG:     %[[BB:.*]] = bufferization.to_buffer %[[BIAS]] read_only
// CHECK-DAG:     %[[BV:.*]] = memref.cast %[[BB]]
// CHECK:         call @lq_rt_linear_w4a8({{.*}}, %[[BV]], {{.*}}, %[[G]], %[[ONE]], %[[ONE]])
// CHECK-NOT:     linalg.generic
// CHECK:         return
func.func @per_tensor_asym_bias(%x: tensor<2x64xf32>, %bias: tensor<17xf32>) -> tensor<2x17xf32> {
  %sx = arith.constant dense<0.125> : tensor<f32>
  %q = lq.quantize %x, %sx : (tensor<2x64xf32>, tensor<f32>) -> tensor<2x64xi8, #a8>
  %xd = lq.dequantize %q, %sx : (tensor<2x64xi8, #a8>, tensor<f32>) -> tensor<2x64xf32>
  %wq = arith.constant dense<11> : tensor<17x64xi4, #asym>
  %sw = arith.constant dense<0.03> : tensor<17x2xf32>
  %z = arith.constant dense<3> : tensor<17x2xi4>
  %w = lq.dequantize %wq, %sw zero_point %z : (tensor<17x64xi4, #asym>, tensor<17x2xf32>, tensor<17x2xi4>) -> tensor<17x64xf32>
  %y = lq.linear %xd, %w bias %bias : (tensor<2x64xf32>, tensor<17x64xf32>, tensor<17xf32>) -> tensor<2x17xf32>
  return %y : tensor<2x17xf32>
}

// -----

// Not W4A8: groups of 4 (not a multiple of the kernel's 8-deep blocks),
// int4 activation codes, activation codes that are not lq.quantize's (an
// argument: any layout), NF4 weights. Each keeps the fake-quantized path.
#a8 = #lq.scheme<format = int, bits = 8>
#a4 = #lq.scheme<format = int, bits = 4, axis = 1, group = 16>
#g4 = #lq.scheme<format = int, bits = 4, axis = 1, group = 4>
#g8 = #lq.scheme<format = int, bits = 4, axis = 1, group = 8>
#nf4 = #lq.scheme<format = nf4, axis = 1, group = 8>
// CHECK-LABEL: func.func @not_w4a8(
// CHECK-NOT:     lq_rt_linear_w4a8
// CHECK-COUNT-4: call @lq_rt_linear_q_f32
// CHECK-NOT:     lq_rt_linear_w4a8
func.func @not_w4a8(%x: tensor<2x16xf32>, %codes: tensor<2x16xi8, #a8>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %sx = arith.constant dense<0.25> : tensor<f32>
  %q = lq.quantize %x, %sx : (tensor<2x16xf32>, tensor<f32>) -> tensor<2x16xi8, #a8>
  %xd = lq.dequantize %q, %sx : (tensor<2x16xi8, #a8>, tensor<f32>) -> tensor<2x16xf32>
  %w4 = arith.constant dense<3> : tensor<2x16xi4, #g4>
  %s4 = arith.constant dense<0.5> : tensor<2x4xf32>
  %wg4 = lq.dequantize %w4, %s4 : (tensor<2x16xi4, #g4>, tensor<2x4xf32>) -> tensor<2x16xf32>
  %y0 = lq.linear %xd, %wg4 : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x2xf32>
  %w8 = arith.constant dense<-3> : tensor<2x16xi4, #g8>
  %s8 = arith.constant dense<0.5> : tensor<2x2xf32>
  %wg8 = lq.dequantize %w8, %s8 : (tensor<2x16xi4, #g8>, tensor<2x2xf32>) -> tensor<2x16xf32>
  %sa = lq.compute_scales %x for <format = int, bits = 4, axis = 1, group = 16> : (tensor<2x16xf32>) -> tensor<2x1xf32>
  %qa = lq.quantize %x, %sa : (tensor<2x16xf32>, tensor<2x1xf32>) -> tensor<2x16xi4, #a4>
  %xa4 = lq.dequantize %qa, %sa : (tensor<2x16xi4, #a4>, tensor<2x1xf32>) -> tensor<2x16xf32>
  %y1 = lq.linear %xa4, %wg8 : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x2xf32>
  %xarg = lq.dequantize %codes, %sx : (tensor<2x16xi8, #a8>, tensor<f32>) -> tensor<2x16xf32>
  %y2 = lq.linear %xarg, %wg8 : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x2xf32>
  %wn = arith.constant dense<5> : tensor<2x16xi4, #nf4>
  %wnf = lq.dequantize %wn, %s8 : (tensor<2x16xi4, #nf4>, tensor<2x2xf32>) -> tensor<2x16xf32>
  %y3 = lq.linear %xd, %wnf : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x2xf32>
  return %y0, %y1, %y2, %y3 : tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
