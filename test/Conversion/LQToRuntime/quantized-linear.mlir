// RUN: quant-opt %s --convert-lq-to-runtime --split-input-file | FileCheck %s

// int4 asymmetric, groups of 32 along K, with a bias: codes repacked per row
// into an i8 blob (element 2i in the low nibble), f16 scales widened to f32,
// biases = -zero_point * scale, the linear's bias added after the call.

#g32 = #lq.scheme<format = int, bits = 4, axis = 1, group = 32, symmetric = false>
// CHECK-LABEL: func.func @int4_asym_g32(
// CHECK-SAME:      %[[X:.*]]: tensor<3x64xf32>, %[[BIAS:.*]]: tensor<2xf32>)
// CHECK-NOT:     lq.dequantize
// CHECK-DAG:     %[[CODES:.*]] = arith.constant dense_resource<lq_qlinear_codes> : tensor<2x32xi8>
// CHECK-DAG:     %[[S:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 2.500000e-01], [2.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG:     %[[B:.*]] = arith.constant dense<{{\[}}[-4.000000e+00, -2.000000e+00], [-2.600000e+01, -6.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG:     %[[FMT:.*]] = arith.constant 0 : i32
// CHECK-DAG:     %[[BITS:.*]] = arith.constant 4 : i32
// CHECK-DAG:     %[[G:.*]] = arith.constant 32 : i64
// CHECK-DAG:     %[[ASYM:.*]] = arith.constant 1 : i32
// CHECK:         %[[OUT:.*]] = memref.alloc() : memref<3x2xf32>
// CHECK:         %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK:         %[[XC:.*]] = memref.cast %[[XB]]
// CHECK:         %[[OC:.*]] = memref.cast %[[OUT]]
// CHECK:         %[[CB:.*]] = bufferization.to_buffer %[[CODES]] read_only : tensor<2x32xi8> to memref<2x32xi8, strided<[?, ?], offset: ?>>
// CHECK:         %[[CC:.*]] = memref.cast %[[CB]] {{.*}} to memref<?x?xi8, strided<[?, ?], offset: ?>>
// CHECK:         %[[SB:.*]] = bufferization.to_buffer %[[S]] read_only
// CHECK:         %[[SC:.*]] = memref.cast %[[SB]]
// CHECK:         %[[BB:.*]] = bufferization.to_buffer %[[B]] read_only
// CHECK:         %[[BC:.*]] = memref.cast %[[BB]]
// CHECK:         call @lq_rt_linear_q_f32(%[[XC]], %[[CC]], %[[SC]], %[[BC]], %[[OC]], %[[FMT]], %[[BITS]], %[[G]], %[[ASYM]])
// CHECK:         %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK:         %[[YB:.*]] = linalg.generic {{.*}} ins(%[[Y]], %[[BIAS]] : tensor<3x2xf32>, tensor<2xf32>)
// CHECK:           arith.addf
// CHECK:         return %[[YB]]
// CHECK:       func.func private @lq_rt_linear_q_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xi8, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i32, i32, i64, i32) attributes {llvm.emit_c_interface}
// Row 0 starts 7, 2, 3, 11 -> bytes 0x27, 0xB3; row 1 (byte 32) 8, 7 -> 0x78.
// CHECK:       lq_qlinear_codes: "0x0800000027B31FF3894163AE3DC7C0612B9F09A54E8772032DCA8C6FE11659DF42DB951778EB6B0E915FDF37F1FC7ACAB48360934483500D471CC2FA92F29D26C517BAE4"
func.func @int4_asym_g32(%x: tensor<3x64xf32>, %bias: tensor<2xf32>) -> tensor<3x2xf32> {
  %q = arith.constant dense<[[7, 2, 3, 11, 15, 1, 3, 15, 9, 8, 1, 4, 3, 6, 14, 10, 13, 3, 7, 12, 0, 12, 1, 6, 11, 2, 15, 9, 9, 0, 5, 10, 14, 4, 7, 8, 2, 7, 3, 0, 13, 2, 10, 12, 12, 8, 15, 6, 1, 14, 6, 1, 9, 5, 15, 13, 2, 4, 11, 13, 5, 9, 7, 1], [8, 7, 11, 14, 11, 6, 14, 0, 1, 9, 15, 5, 15, 13, 7, 3, 1, 15, 12, 15, 10, 7, 10, 12, 4, 11, 3, 8, 0, 6, 3, 9, 4, 4, 3, 8, 0, 5, 13, 0, 7, 4, 12, 1, 2, 12, 10, 15, 2, 9, 2, 15, 13, 9, 6, 2, 5, 12, 7, 1, 10, 11, 4, 14]]> : tensor<2x64xi4, #g32>
  %s = arith.constant dense<[[0.5, 0.25], [2.0, 1.0]]> : tensor<2x2xf16>
  %zp = arith.constant dense<[[8, 8], [13, 6]]> : tensor<2x2xi8>
  %w = lq.dequantize %q, %s zero_point %zp : (tensor<2x64xi4, #g32>, tensor<2x2xf16>, tensor<2x2xi8>) -> tensor<2x64xf32>
  %y = lq.linear %x, %w bias %bias : (tensor<3x64xf32>, tensor<2x64xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// int8 symmetric per channel (axis 0), 3-D input: one group of K, signed
// codes, no biases (the scales are passed in their place and ignored).

#ch = #lq.scheme<format = int, bits = 8, axis = 0>
// CHECK-LABEL: func.func @int8_sym_per_channel(
// CHECK-DAG:     %[[CODES:.*]] = arith.constant dense_resource<lq_qlinear_codes> : tensor<2x4xi8>
// CHECK-DAG:     %[[S:.*]] = arith.constant dense<{{\[}}[5.000000e-01], [2.500000e-01]]> : tensor<2x1xf32>
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-DAG:     %[[BITS:.*]] = arith.constant 8 : i32
// CHECK-DAG:     %[[G:.*]] = arith.constant 4 : i64
// CHECK:         tensor.collapse_shape {{.*}} into tensor<6x4xf32>
// CHECK:         %[[SB:.*]] = bufferization.to_buffer %[[S]] read_only
// CHECK:         %[[SC:.*]] = memref.cast %[[SB]]
// CHECK:         %[[SB2:.*]] = bufferization.to_buffer %[[S]] read_only
// CHECK:         %[[SC2:.*]] = memref.cast %[[SB2]]
// CHECK:         call @lq_rt_linear_q_f32({{.*}}, %[[SC]], %[[SC2]], {{.*}}, %[[ZERO]], %[[BITS]], %[[G]], %[[ZERO]])
// CHECK:         tensor.expand_shape {{.*}} into tensor<2x3x2xf32>
// 1, -2, 3, -128, 127, 0, -1, 5 as bytes.
// CHECK:       lq_qlinear_codes: "0x0800000001FE03807F00FF05"
func.func @int8_sym_per_channel(%x: tensor<2x3x4xf32>) -> tensor<2x3x2xf32> {
  %q = arith.constant dense<[[1, -2, 3, -128], [127, 0, -1, 5]]> : tensor<2x4xi8, #ch>
  %s = arith.constant dense<[[0.5], [0.25]]> : tensor<2x1xf32>
  %w = lq.dequantize %q, %s : (tensor<2x4xi8, #ch>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %y = lq.linear %x, %w : (tensor<2x3x4xf32>, tensor<2x4xf32>) -> tensor<2x3x2xf32>
  return %y : tensor<2x3x2xf32>
}

// -----

// NF4, groups of 64: format 1 (LQ_FORMAT_NF4), codes are codebook indices.

#nf4 = #lq.scheme<format = nf4, axis = 1, group = 64>
// CHECK-LABEL: func.func @nf4_g64(
// CHECK-DAG:     arith.constant dense_resource<lq_qlinear_codes> : tensor<1x64xi8>
// CHECK-DAG:     arith.constant dense<{{\[}}[1.500000e+00, 7.500000e-01]]> : tensor<1x2xf32>
// CHECK-DAG:     %[[FMT:.*]] = arith.constant 1 : i32
// CHECK-DAG:     %[[BITS:.*]] = arith.constant 4 : i32
// CHECK-DAG:     %[[G:.*]] = arith.constant 64 : i64
// CHECK-DAG:     %[[ASYM:.*]] = arith.constant 0 : i32
// CHECK:         call @lq_rt_linear_q_f32({{.*}}, %[[FMT]], %[[BITS]], %[[G]], %[[ASYM]])
// CHECK:       lq_qlinear_codes: "0x08000000F087214365
func.func @nf4_g64(%x: tensor<1x128xf32>, %q: tensor<1x128xi4, #nf4>) -> tensor<1x1xf32> {
  %c = arith.constant dense<[[0, 15, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]]> : tensor<1x128xi4, #nf4>
  %s = arith.constant dense<[[1.5, 0.75]]> : tensor<1x2xf16>
  %w = lq.dequantize %c, %s : (tensor<1x128xi4, #nf4>, tensor<1x2xf16>) -> tensor<1x128xf32>
  %y = lq.linear %x, %w : (tensor<1x128xf32>, tensor<1x128xf32>) -> tensor<1x1xf32>
  return %y : tensor<1x1xf32>
}

// -----

// A 2-D block scheme with one block row per two weight rows: the scales are
// repeated over the rows of each block.

#blk = #lq.scheme<format = int, bits = 8, block = [2, 4]>
// CHECK-LABEL: func.func @int8_blocks(
// CHECK:         arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<4x2xf32>
// CHECK-DAG:     %[[G:.*]] = arith.constant 4 : i64
// CHECK:         call @lq_rt_linear_q_f32({{.*}}, %[[G]], {{.*}})
func.func @int8_blocks(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {
  %q = arith.constant dense<1> : tensor<4x8xi8, #blk>
  %s = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w = lq.dequantize %q, %s : (tensor<4x8xi8, #blk>, tensor<2x2xf32>) -> tensor<4x8xf32>
  %y = lq.linear %x, %w : (tensor<1x8xf32>, tensor<4x8xf32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}

// -----

// Fall back to the f32 kernel with a generic lq.dequantize: MXFP6 (no
// quantized kernel), groups along N (axis 0), non-constant codes.

#mx = #lq.scheme<format = mxfp6_e2m3, axis = 1, group = 32>
#ax0 = #lq.scheme<format = int, bits = 4, axis = 0, group = 2>
#ch8 = #lq.scheme<format = int, bits = 8, axis = 0>
// CHECK-LABEL: func.func @fallbacks(
// CHECK-NOT:     lq_rt_linear_q_f32
// CHECK:         lq.dequantize {{.*}}f6E2M3FN
// CHECK:         call @lq_rt_linear_f32(
// CHECK:         lq.dequantize {{.*}}group = 2
// CHECK:         call @lq_rt_linear_f32(
// CHECK:         lq.dequantize %arg1
// CHECK:         call @lq_rt_linear_f32(
// CHECK-NOT:     lq_rt_linear_q_f32
func.func @fallbacks(%x: tensor<1x32xf32>, %qa: tensor<2x32xi8, #ch8>) -> (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %q = arith.constant dense<1.0> : tensor<2x32xf6E2M3FN, #mx>
  %s = arith.constant dense<1.0> : tensor<2x1xf8E8M0FNU>
  %w = lq.dequantize %q, %s : (tensor<2x32xf6E2M3FN, #mx>, tensor<2x1xf8E8M0FNU>) -> tensor<2x32xf32>
  %y = lq.linear %x, %w : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<1x2xf32>
  %q2 = arith.constant dense<1> : tensor<2x32xi4, #ax0>
  %s2 = arith.constant dense<0.5> : tensor<1x32xf32>
  %w2 = lq.dequantize %q2, %s2 : (tensor<2x32xi4, #ax0>, tensor<1x32xf32>) -> tensor<2x32xf32>
  %y2 = lq.linear %x, %w2 : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<1x2xf32>
  %s3 = arith.constant dense<0.5> : tensor<2x1xf32>
  %w3 = lq.dequantize %qa, %s3 : (tensor<2x32xi8, #ch8>, tensor<2x1xf32>) -> tensor<2x32xf32>
  %y3 = lq.linear %x, %w3 : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<1x2xf32>
  return %y, %y2, %y3 : tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>
}

// -----

// NVFP4: E2M1 codes through the kernel's 4-bit table (format 9), the E4M3
// block scales times the tensor scale folded into f32 scales.
#nv = #lq.scheme<format = nvfp4, axis = 1, group = 16>
// CHECK-LABEL: func.func @nvfp4(
// CHECK-NOT:     lq.dequantize
// CHECK-DAG:     arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
// CHECK-DAG:     %[[FMT:.*]] = arith.constant 9 : i32
// CHECK:         call @lq_rt_linear_q_f32({{.*}}, %[[FMT]],
func.func @nvfp4(%x: tensor<1x32xf32>) -> tensor<1x1xf32> {
  %q = arith.constant dense<[[0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0, 0.0, 0.5, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0, 0.0, 0.5]]> : tensor<1x32xf4E2M1FN, #nv>
  %s = arith.constant dense<[[2.0, 4.0]]> : tensor<1x2xf8E4M3FN>
  %g = arith.constant dense<0.5> : tensor<f32>
  %w = lq.dequantize %q, %s global_scale %g : (tensor<1x32xf4E2M1FN, #nv>, tensor<1x2xf8E4M3FN>, tensor<f32>) -> tensor<1x32xf32>
  %y = lq.linear %x, %w : (tensor<1x32xf32>, tensor<1x32xf32>) -> tensor<1x1xf32>
  return %y : tensor<1x1xf32>
}

// -----

// FP8 E4M3 per channel: codes through the kernel's FP8 table (format 2).
#f8 = #lq.scheme<format = fp8_e4m3, axis = 0>
// CHECK-LABEL: func.func @fp8_channel(
// CHECK-NOT:     lq.dequantize
// CHECK-DAG:     %[[FMT:.*]] = arith.constant 2 : i32
// CHECK-DAG:     %[[BITS:.*]] = arith.constant 8 : i32
// CHECK:         call @lq_rt_linear_q_f32({{.*}}, %[[FMT]], %[[BITS]],
func.func @fp8_channel(%x: tensor<1x32xf32>) -> tensor<1x2xf32> {
  %q = arith.constant dense<1.5> : tensor<2x32xf8E4M3FN, #f8>
  %s = arith.constant dense<[[0.5], [2.0]]> : tensor<2x1xf32>
  %w = lq.dequantize %q, %s : (tensor<2x32xf8E4M3FN, #f8>, tensor<2x1xf32>) -> tensor<2x32xf32>
  %y = lq.linear %x, %w : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
