// RUN: quant-opt %s --convert-lq-to-runtime | FileCheck %s

// lq.hadamard -> lq_rt_hadamard_f32 on the input collapsed to [M, n], into a
// fresh buffer, with the block size as an i64 (the last dimension when the
// op has no block).

// CHECK-LABEL: func.func @per_head(
// CHECK-SAME:      %[[X:.*]]: tensor<1x8x512xf32>)
// CHECK-DAG:     %[[B:.*]] = arith.constant 64 : i64
// CHECK-DAG:     %[[X2:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<1x8x512xf32> into tensor<8x512xf32>
// CHECK-DAG:     %[[OUT:.*]] = memref.alloc() : memref<8x512xf32>
// CHECK:         %[[XB:.*]] = bufferization.to_buffer %[[X2]] read_only
// CHECK:         %[[XC:.*]] = memref.cast %[[XB]]
// CHECK:         %[[OC:.*]] = memref.cast %[[OUT]]
// CHECK:         call @lq_rt_hadamard_f32(%[[XC]], %[[OC]], %[[B]])
// CHECK:         %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<8x512xf32> to tensor<8x512xf32>
// CHECK:         %[[Y3:.*]] = tensor.expand_shape %[[Y]] {{\[\[}}0, 1], [2]] output_shape [1, 8, 512]
// CHECK:         return %[[Y3]]
func.func @per_head(%x: tensor<1x8x512xf32>) -> tensor<1x8x512xf32> {
  %y = lq.hadamard %x {block = 64} : tensor<1x8x512xf32>
  return %y : tensor<1x8x512xf32>
}

// CHECK-LABEL: func.func @whole_row(
// CHECK:         %[[B:.*]] = arith.constant 768 : i64
// CHECK:         call @lq_rt_hadamard_f32({{.*}}, {{.*}}, %[[B]])
// CHECK-NOT:     lq.hadamard
func.func @whole_row(%x: tensor<4x768xf32>) -> tensor<4x768xf32> {
  %y = lq.hadamard %x : tensor<4x768xf32>
  return %y : tensor<4x768xf32>
}

// CHECK: func.func private @lq_rt_hadamard_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, i64) attributes {llvm.emit_c_interface}
