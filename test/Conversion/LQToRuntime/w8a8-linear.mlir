// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime | FileCheck %s
// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime="int8-gemm=false" | FileCheck %s --check-prefix=FAKE
// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=CUDA

// W8A8LinearToRuntime: int8 activation codes x constant int8 per-channel
// weights -> lq_rt_linear_w8a8 (int32 sums). The activation's lq.quantize
// stays (its codes feed the kernel), both dequantizes go, and the weight is
// packed at compile time by lq_rt_pack_w8a8.

// Static per-tensor activation scale, 3-D input, no bias.
#a8 = #lq.scheme<format = int, bits = 8>
#ch = #lq.scheme<format = int, bits = 8, axis = 0>
// CHECK-LABEL: func.func @per_tensor(
// CHECK-SAME:      %[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-DAG:     %[[NOBIAS:.*]] = arith.constant 0 : i32
// CHECK-DAG:     %[[SX:.*]] = arith.constant dense<2.500000e-01> : tensor<f32>
// The scalar scale as [1] (a folded tensor.expand_shape).
// CHECK-DAG:     %[[S1:.*]] = arith.constant dense<2.500000e-01> : tensor<1xf32>
// CHECK-DAG:     %[[P:.*]] = arith.constant dense_resource<lq_w8a8_packed> : tensor<1x128xi8>
// CHECK-DAG:     %[[SW:.*]] = arith.constant dense<[5.000000e-01, 1.250000e-01]> : tensor<2xf32>
// CHECK-NOT:     lq.dequantize
// CHECK:         %[[Q:.*]] = lq.quantize %[[X]], %[[SX]] : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xi8, #lq.scheme<format = int, bits = 8>>
// CHECK-NOT:     lq.dequantize
// CHECK:         %[[QB:.*]] = bufferization.to_buffer %[[Q]] read_only : tensor<2x3x4xi8, #lq.scheme<format = int, bits = 8>> to memref<2x3x4xi8>
// CHECK:         %[[QC:.*]] = memref.collapse_shape %[[QB]] {{\[}}[0, 1], [2]] : memref<2x3x4xi8> into memref<6x4xi8>
// CHECK:         %[[QV:.*]] = memref.cast %[[QC]] : memref<6x4xi8> to memref<?x?xi8, strided<[?, ?], offset: ?>>
// CHECK:         %[[SWB:.*]] = bufferization.to_buffer %[[SW]] read_only
// CHECK:         %[[SWV:.*]] = memref.cast %[[SWB]]
// CHECK:         %[[OUT:.*]] = memref.alloc() : memref<6x2xf32>
// CHECK:         %[[S1B:.*]] = bufferization.to_buffer %[[S1]] read_only
// CHECK:         %[[S1V:.*]] = memref.cast %[[S1B]]
// CHECK:         %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only
// CHECK:         %[[PV:.*]] = memref.cast %[[PB]]
// CHECK:         %[[OV:.*]] = memref.cast %[[OUT]]
// CHECK:         call @lq_rt_linear_w8a8(%[[QV]], %[[S1V]], %[[PV]], %[[SWV]], %[[SWV]], %[[OV]], %[[NOBIAS]])
// CHECK:         %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<6x2xf32> to tensor<6x2xf32>
// CHECK:         %[[Y3:.*]] = tensor.expand_shape %[[Y]] {{\[}}[0, 1], [2]] output_shape [2, 3, 2] : tensor<6x2xf32> into tensor<2x3x2xf32>
// CHECK:         return %[[Y3]]
// CHECK:       func.func private @lq_rt_linear_w8a8(memref<?x?xi8, strided<[?, ?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xi8, strided<[?, ?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i32) attributes {llvm.emit_c_interface}
// The packed panel: int32 128 * row sums (-2 -> -256, 131 -> 16768), zeros
// for the 14 missing columns, then the 4-deep block: row 0's codes, row 1's.
// CHECK:       lq_w8a8_packed: "0x0800000000FFFFFF80410000{{(00)+}}01FE03FC0506F97F{{(00)+}}"

// FAKE-LABEL: func.func @per_tensor(
// FAKE:         lq.dequantize
// FAKE:         call @lq_rt_linear_q_f32
// FAKE-NOT:     lq_rt_linear_w8a8
// CUDA-LABEL: func.func @per_tensor(
// CUDA-NOT:     lq_rt_cuda_linear_w8a8
// CUDA:         call @lq_rt_cuda_linear_q_f32
func.func @per_tensor(%x: tensor<2x3x4xf32>) -> tensor<2x3x2xf32> {
  %sx = arith.constant dense<0.25> : tensor<f32>
  %q = lq.quantize %x, %sx : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xi8, #a8>
  %xd = lq.dequantize %q, %sx : (tensor<2x3x4xi8, #a8>, tensor<f32>) -> tensor<2x3x4xf32>
  %wq = arith.constant dense<[[1, -2, 3, -4], [5, 6, -7, 127]]> : tensor<2x4xi8, #ch>
  %sw = arith.constant dense<[[0.5], [0.125]]> : tensor<2x1xf32>
  %w = lq.dequantize %wq, %sw : (tensor<2x4xi8, #ch>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %y = lq.linear %xd, %w : (tensor<2x3x4xf32>, tensor<2x4xf32>) -> tensor<2x3x2xf32>
  return %y : tensor<2x3x2xf32>
}

// -----

// Dynamic per-token scales ([1, 3, 1] from lq.compute_scales, one per row),
// a linear bias passed to the kernel (has_bias = 1), 17 output channels (two
// panels), and one weight scale for the whole tensor repeated per channel.
#tok = #lq.scheme<format = int, bits = 8, axis = 2, group = 5>
#wt = #lq.scheme<format = int, bits = 8>
// CHECK-LABEL: func.func @per_token_bias(
// CHECK-SAME:      %[[X:.*]]: tensor<1x3x5xf32>, %[[BIAS:.*]]: tensor<17xf32>)
// CHECK-DAG:     %[[P:.*]] = arith.constant dense_resource<lq_w8a8_packed> : tensor<2x192xi8>
// CHECK-DAG:     %[[SW:.*]] = arith.constant dense<3.000000e-02> : tensor<17xf32>
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1 : i32
// CHECK:         %[[S:.*]] = lq.compute_scales %[[X]]
// CHECK:         %[[Q:.*]] = lq.quantize %[[X]], %[[S]]
// CHECK-NOT:     lq.dequantize
// CHECK:         memref.collapse_shape {{.*}} : memref<1x3x5xi8> into memref<3x5xi8>
// CHECK:         %[[S3:.*]] = tensor.collapse_shape %[[S]] {{\[}}[0, 1, 2]] : tensor<1x3x1xf32> into tensor<3xf32>
// CHECK-DAG:     %[[BB:.*]] = bufferization.to_buffer %[[BIAS]] read_only
// CHECK-DAG:     %[[BV:.*]] = memref.cast %[[BB]]
// CHECK:         call @lq_rt_linear_w8a8({{.*}}, %[[BV]], {{.*}}, %[[ONE]])
// CHECK-NOT:     linalg.generic
// CHECK:         return
func.func @per_token_bias(%x: tensor<1x3x5xf32>, %bias: tensor<17xf32>) -> tensor<1x3x17xf32> {
  %s = lq.compute_scales %x for <format = int, bits = 8, axis = 2, group = 5> : (tensor<1x3x5xf32>) -> tensor<1x3x1xf32>
  %q = lq.quantize %x, %s : (tensor<1x3x5xf32>, tensor<1x3x1xf32>) -> tensor<1x3x5xi8, #tok>
  %xd = lq.dequantize %q, %s : (tensor<1x3x5xi8, #tok>, tensor<1x3x1xf32>) -> tensor<1x3x5xf32>
  %wq = arith.constant dense<7> : tensor<17x5xi8, #wt>
  %sw = arith.constant dense<0.03> : tensor<f32>
  %w = lq.dequantize %wq, %sw : (tensor<17x5xi8, #wt>, tensor<f32>) -> tensor<17x5xf32>
  %y = lq.linear %xd, %w bias %bias : (tensor<1x3x5xf32>, tensor<17x5xf32>, tensor<17xf32>) -> tensor<1x3x17xf32>
  return %y : tensor<1x3x17xf32>
}

// -----

// Not W8A8: weights in groups along K (per-group scales would need a scale
// per K block inside the integer sum), int4 activation codes, an asymmetric
// weight, activation codes that are not lq.quantize's (an argument: any
// layout). Each keeps the fake-quantized path.
#a8 = #lq.scheme<format = int, bits = 8>
#a4 = #lq.scheme<format = int, bits = 4, axis = 1, group = 8>
#g4 = #lq.scheme<format = int, bits = 8, axis = 1, group = 4>
#asym = #lq.scheme<format = int, bits = 8, axis = 0, symmetric = false>
#ch = #lq.scheme<format = int, bits = 8, axis = 0>
// CHECK-LABEL: func.func @not_w8a8(
// CHECK-NOT:     lq_rt_linear_w8a8
// CHECK-COUNT-4: call @lq_rt_linear_q_f32
// CHECK-NOT:     lq_rt_linear_w8a8
func.func @not_w8a8(%x: tensor<2x8xf32>, %codes: tensor<2x8xi8, #a8>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %sx = arith.constant dense<0.25> : tensor<f32>
  %q = lq.quantize %x, %sx : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xi8, #a8>
  %xd = lq.dequantize %q, %sx : (tensor<2x8xi8, #a8>, tensor<f32>) -> tensor<2x8xf32>
  %wq = arith.constant dense<3> : tensor<2x8xi8, #g4>
  %sg = arith.constant dense<0.5> : tensor<2x2xf32>
  %wg = lq.dequantize %wq, %sg : (tensor<2x8xi8, #g4>, tensor<2x2xf32>) -> tensor<2x8xf32>
  %y0 = lq.linear %xd, %wg : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  %s4 = lq.compute_scales %x for <format = int, bits = 4, axis = 1, group = 8> : (tensor<2x8xf32>) -> tensor<2x1xf32>
  %q4 = lq.quantize %x, %s4 : (tensor<2x8xf32>, tensor<2x1xf32>) -> tensor<2x8xi4, #a4>
  %x4 = lq.dequantize %q4, %s4 : (tensor<2x8xi4, #a4>, tensor<2x1xf32>) -> tensor<2x8xf32>
  %wc = arith.constant dense<3> : tensor<2x8xi8, #ch>
  %sc = arith.constant dense<[[0.5], [0.25]]> : tensor<2x1xf32>
  %wch = lq.dequantize %wc, %sc : (tensor<2x8xi8, #ch>, tensor<2x1xf32>) -> tensor<2x8xf32>
  %y1 = lq.linear %x4, %wch : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  %wa = arith.constant dense<3> : tensor<2x8xi8, #asym>
  %za = arith.constant dense<[[100], [120]]> : tensor<2x1xi8>
  %wasym = lq.dequantize %wa, %sc zero_point %za : (tensor<2x8xi8, #asym>, tensor<2x1xf32>, tensor<2x1xi8>) -> tensor<2x8xf32>
  %y2 = lq.linear %xd, %wasym : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  %xa = lq.dequantize %codes, %sx : (tensor<2x8xi8, #a8>, tensor<f32>) -> tensor<2x8xf32>
  %y3 = lq.linear %xa, %wch : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  return %y0, %y1, %y2, %y3 : tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}
