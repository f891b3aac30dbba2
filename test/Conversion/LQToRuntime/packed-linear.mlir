// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime | FileCheck %s
// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime="pack-weights=false" | FileCheck %s --check-prefix=NOPACK
// The CUDA kernels read the row-major weight: nothing is packed for them.
// RUN: quant-opt %s --split-input-file --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=NOPACK

// A constant f32 weight used by one linear alone is packed at compile time
// into 16-column k-major panels, zero-padded: w [3, 2] -> [1, 2 * 16] with
// packed[0][k * 16 + j] = w[j][k].

// CHECK-LABEL: func.func @packed(
// CHECK:         %[[P:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00, 5.000000e+00, 0.000000e+00, {{.*}}, 2.000000e+00, 4.000000e+00, 6.000000e+00, 0.000000e+00, {{.*}}]]> : tensor<1x32xf32>
// CHECK-NOT:     tensor<3x2xf32>
// CHECK:         %[[PB:.*]] = bufferization.to_buffer %[[P]]
// CHECK:         %[[PC:.*]] = memref.cast %[[PB]]
// CHECK:         call @lq_rt_linear_packed_f32(%{{.*}}, %[[PC]], %{{.*}})
// CHECK:         func.func private @lq_rt_linear_packed_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
// NOPACK-LABEL: func.func @packed(
// NOPACK-NOT:     lq_rt_linear_packed_f32
// NOPACK:         call @lq_rt_{{(cuda_)?}}linear_f32(
func.func @packed(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %y = lq.linear %x, %w : (tensor<4x2xf32>, tensor<3x2xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// Not packed: a weight shared by two ops (packing would keep two copies) and
// a weight that is not a constant.

// CHECK-LABEL: func.func @not_packed(
// CHECK-NOT:     lq_rt_linear_packed_f32
// CHECK:         call @lq_rt_linear_f32(
// CHECK:         call @lq_rt_linear_f32(
// CHECK:         call @lq_rt_linear_f32(
// CHECK-NOT:     lq_rt_linear_packed_f32
func.func @not_packed(%x: tensor<1x2xf32>, %w2: tensor<3x2xf32>) -> (tensor<1x3xf32>, tensor<1x3xf32>, tensor<1x3xf32>) {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %y = lq.linear %x, %w : (tensor<1x2xf32>, tensor<3x2xf32>) -> tensor<1x3xf32>
  %z = lq.linear %x, %w : (tensor<1x2xf32>, tensor<3x2xf32>) -> tensor<1x3xf32>
  %u = lq.linear %x, %w2 : (tensor<1x2xf32>, tensor<3x2xf32>) -> tensor<1x3xf32>
  return %y, %z, %u : tensor<1x3xf32>, tensor<1x3xf32>, tensor<1x3xf32>
}

// -----

// Not packed: a resource blob two constants refer to (a tied embedding
// table and lm_head), since the other constant keeps the original.

// CHECK-LABEL: func.func @shared_blob(
// CHECK-NOT:     lq_rt_linear_packed_f32
// CHECK:         call @lq_rt_linear_f32(
func.func @shared_blob(%x: tensor<1x2xf32>) -> (tensor<1x3xf32>, tensor<3x2xf32>) {
  %w = arith.constant dense_resource<tied> : tensor<3x2xf32>
  %t = arith.constant dense_resource<tied> : tensor<3x2xf32>
  %y = lq.linear %x, %w : (tensor<1x2xf32>, tensor<3x2xf32>) -> tensor<1x3xf32>
  return %y, %t : tensor<1x3xf32>, tensor<3x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      tied: "0x040000000000803F0000004000004040000080400000A0400000C040"
    }
  }
#-}
