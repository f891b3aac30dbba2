// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime | FileCheck %s
// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=CUDA

// Bf16LinearToRuntime: lq.linear on lq.dequantize of constant bfloat16 codes
// with a scale of 1 (--quantize-weights format=bf16) -> lq_rt_linear_bf16 on
// the codes packed at compile time by lq_rt_pack_bf16 (16-column panels of
// 2-deep K blocks); no dequantize, no f32 weight. The bias is added after
// the call.

#bf16 = #lq.scheme<format = bf16>
// CHECK-LABEL: func.func @bf16(
// CHECK-SAME:      %[[X:.*]]: tensor<2x3x3xf32>, %[[BIAS:.*]]: tensor<2xf32>)
// CHECK-NOT:     lq.dequantize
// CHECK:         %[[P:.*]] = arith.constant dense_resource<lq_bf16_packed> : tensor<1x64xi16>
// CHECK:         %[[XC:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<2x3x3xf32> into tensor<6x3xf32>
// CHECK:         %[[OUT:.*]] = memref.alloc() : memref<6x2xf32>
// CHECK:         %[[XB:.*]] = bufferization.to_buffer %[[XC]] read_only
// CHECK:         %[[XV:.*]] = memref.cast %[[XB]]
// CHECK:         %[[OV:.*]] = memref.cast %[[OUT]]
// CHECK:         %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only : tensor<1x64xi16> to memref<1x64xi16, strided<[?, ?], offset: ?>>
// CHECK:         %[[PV:.*]] = memref.cast %[[PB]] {{.*}} to memref<?x?xi16, strided<[?, ?], offset: ?>>
// CHECK:         call @lq_rt_linear_bf16(%[[XV]], %[[PV]], %[[OV]])
// CHECK:         %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK:         linalg.generic {{.*}} ins(%[[Y]], %[[BIAS]] : tensor<6x2xf32>, tensor<2xf32>)
// CHECK:       func.func private @lq_rt_linear_bf16(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xi16, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// Block 0: column 0 = (1.0, 2.0) = 0x3F80, 0x4000 and column 1 = (0.5, 3.0)
// = 0x3F00, 0x4040 (little-endian), 14 zero columns; block 1 (k = 2 and the
// zero pad of odd K): (-1.0, 0) = 0xBF80, then (0.25, 0) = 0x3E80.
// CHECK:       lq_bf16_packed: "0x08000000803F0040003F4040{{(00)+}}80BF0000803E{{(00)+}}"

// CUDA-LABEL: func.func @bf16(
// CUDA-NOT:     lq_rt_cuda_linear_bf16
// CUDA:         lq.dequantize
// CUDA:         call @lq_rt_cuda_linear_f32
func.func @bf16(%x: tensor<2x3x3xf32>, %bias: tensor<2xf32>) -> tensor<2x3x2xf32> {
  %q = arith.constant dense<[[1.0, 2.0, -1.0], [0.5, 3.0, 0.25]]> : tensor<2x3xbf16, #bf16>
  %s = arith.constant dense<1.0> : tensor<1x1xf32>
  %w = lq.dequantize %q, %s : (tensor<2x3xbf16, #bf16>, tensor<1x1xf32>) -> tensor<2x3xf32>
  %y = lq.linear %x, %w bias %bias : (tensor<2x3x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x3x2xf32>
  return %y : tensor<2x3x2xf32>
}

// -----

// A scale other than 1 has no kernel: the generic path (dequantize, then
// the f32 linear) keeps it exact.
#bf16 = #lq.scheme<format = bf16>
// CHECK-LABEL: func.func @scaled(
// CHECK-NOT:     lq_rt_linear_bf16
// CHECK:         lq.dequantize
// CHECK:         call @lq_rt_linear_f32
func.func @scaled(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %q = arith.constant dense<[[1.0, 2.0, -1.0], [0.5, 3.0, 0.25]]> : tensor<2x3xbf16, #bf16>
  %s = arith.constant dense<2.0> : tensor<f32>
  %w = lq.dequantize %q, %s : (tensor<2x3xbf16, #bf16>, tensor<f32>) -> tensor<2x3xf32>
  %y = lq.linear %x, %w : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
