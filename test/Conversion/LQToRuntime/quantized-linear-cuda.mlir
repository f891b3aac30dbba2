// RUN: quant-opt %s --convert-lq-to-runtime="prefix=lq_rt_cuda_" --split-input-file | FileCheck %s

// --lower-to-cuda's prefix: FP4 (MXFP4, NVFP4) and FP8 weights reach
// lq_rt_cuda's quantized linear with the CPU's format codes and layout
// (lq_cuda_qgemm_nt: codes per row, block scales decoded to f32, NVFP4's
// tensor scale folded in); MXFP6 still falls back to dequantize + the f32
// linear.

// NVFP4, groups of 16: format 9, bits 4, E4M3 block scales x tensor scale.
#nv = #lq.scheme<format = nvfp4, axis = 1, group = 16>
// CHECK-LABEL: func.func @nvfp4(
// CHECK-NOT:     lq.dequantize
// CHECK-DAG:     arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
// CHECK-DAG:     %[[FMT:.*]] = arith.constant 9 : i32
// CHECK-DAG:     %[[BITS:.*]] = arith.constant 4 : i32
// CHECK-DAG:     %[[G:.*]] = arith.constant 16 : i64
// CHECK:         call @lq_rt_cuda_linear_q_f32({{.*}}, %[[FMT]], %[[BITS]], %[[G]],
// CHECK-NOT:     call @lq_rt_linear_q_f32
// CHECK:       func.func private @lq_rt_cuda_linear_q_f32(
func.func @nvfp4(%x: tensor<1x32xf32>) -> tensor<1x1xf32> {
  %q = arith.constant dense<[[0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0, 0.0, 0.5, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0, 0.0, 0.5]]> : tensor<1x32xf4E2M1FN, #nv>
  %s = arith.constant dense<[[2.0, 4.0]]> : tensor<1x2xf8E4M3FN>
  %g = arith.constant dense<0.5> : tensor<f32>
  %w = lq.dequantize %q, %s global_scale %g : (tensor<1x32xf4E2M1FN, #nv>, tensor<1x2xf8E4M3FN>, tensor<f32>) -> tensor<1x32xf32>
  %y = lq.linear %x, %w : (tensor<1x32xf32>, tensor<1x32xf32>) -> tensor<1x1xf32>
  return %y : tensor<1x1xf32>
}

// -----

// MXFP4, groups of 32: format 4, bits 4, E8M0 scales decoded to f32.
#mx4 = #lq.scheme<format = mxfp4, axis = 1, group = 32>
// CHECK-LABEL: func.func @mxfp4(
// CHECK-NOT:     lq.dequantize
// CHECK-DAG:     arith.constant dense<{{\[}}[2.500000e-01, 4.000000e+00], [1.000000e+00, 5.000000e-01]]> : tensor<2x2xf32>
// Format 4 and bits 4 are one constant.
// CHECK-DAG:     %[[FOUR:.*]] = arith.constant 4 : i32
// CHECK-DAG:     %[[G:.*]] = arith.constant 32 : i64
// CHECK:         call @lq_rt_cuda_linear_q_f32({{.*}}, %[[FOUR]], %[[FOUR]], %[[G]],
func.func @mxfp4(%x: tensor<1x64xf32>) -> tensor<1x2xf32> {
  %q = arith.constant dense<-1.5> : tensor<2x64xf4E2M1FN, #mx4>
  %s = arith.constant dense<[[0.25, 4.0], [1.0, 0.5]]> : tensor<2x2xf8E8M0FNU>
  %w = lq.dequantize %q, %s : (tensor<2x64xf4E2M1FN, #mx4>, tensor<2x2xf8E8M0FNU>) -> tensor<2x64xf32>
  %y = lq.linear %x, %w : (tensor<1x64xf32>, tensor<2x64xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// FP8 E4M3 per channel (format 2) and E5M2 in groups of 16 (format 3), bits 8.
#f8 = #lq.scheme<format = fp8_e4m3, axis = 0>
#f8g = #lq.scheme<format = fp8_e5m2, axis = 1, group = 16>
// CHECK-LABEL: func.func @fp8(
// CHECK-NOT:     lq.dequantize
// CHECK-DAG:     %[[E4M3:.*]] = arith.constant 2 : i32
// CHECK-DAG:     %[[E5M2:.*]] = arith.constant 3 : i32
// CHECK-DAG:     %[[BITS:.*]] = arith.constant 8 : i32
// CHECK-DAG:     %[[K:.*]] = arith.constant 32 : i64
// CHECK-DAG:     %[[G:.*]] = arith.constant 16 : i64
// CHECK:         call @lq_rt_cuda_linear_q_f32({{.*}}, %[[E4M3]], %[[BITS]], %[[K]],
// CHECK:         call @lq_rt_cuda_linear_q_f32({{.*}}, %[[E5M2]], %[[BITS]], %[[G]],
// CHECK-NOT:     lq.dequantize
func.func @fp8(%x: tensor<1x32xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %q = arith.constant dense<1.5> : tensor<2x32xf8E4M3FN, #f8>
  %s = arith.constant dense<[[0.5], [2.0]]> : tensor<2x1xf32>
  %w = lq.dequantize %q, %s : (tensor<2x32xf8E4M3FN, #f8>, tensor<2x1xf32>) -> tensor<2x32xf32>
  %y = lq.linear %x, %w : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<1x2xf32>
  %q2 = arith.constant dense<-3.0> : tensor<2x32xf8E5M2, #f8g>
  %s2 = arith.constant dense<0.25> : tensor<2x2xf32>
  %w2 = lq.dequantize %q2, %s2 : (tensor<2x32xf8E5M2, #f8g>, tensor<2x2xf32>) -> tensor<2x32xf32>
  %y2 = lq.linear %x, %w2 : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<1x2xf32>
  return %y, %y2 : tensor<1x2xf32>, tensor<1x2xf32>
}

// -----

// MXFP6 has no quantized kernel on either runtime: generic dequantize, then
// the f32 linear.
#mx6 = #lq.scheme<format = mxfp6_e2m3, axis = 1, group = 32>
// CHECK-LABEL: func.func @mxfp6_fallback(
// CHECK-NOT:     lq_rt_cuda_linear_q_f32
// CHECK:         lq.dequantize {{.*}}f6E2M3FN
// CHECK:         call @lq_rt_cuda_linear_f32(
func.func @mxfp6_fallback(%x: tensor<1x32xf32>) -> tensor<1x2xf32> {
  %q = arith.constant dense<1.0> : tensor<2x32xf6E2M3FN, #mx6>
  %s = arith.constant dense<1.0> : tensor<2x1xf8E8M0FNU>
  %w = lq.dequantize %q, %s : (tensor<2x32xf6E2M3FN, #mx6>, tensor<2x1xf8E8M0FNU>) -> tensor<2x32xf32>
  %y = lq.linear %x, %w : (tensor<1x32xf32>, tensor<2x32xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
