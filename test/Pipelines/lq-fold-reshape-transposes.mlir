// RUN: quant-opt %s --lq-fold-reshape-transposes --split-input-file | FileCheck %s

// A decode step's head split, [1, 1, H, D] -> [1, H, 1, D]: no element moves.
// CHECK-LABEL: func.func @decode_heads
// CHECK-SAME: (%[[X:.+]]: tensor<1x1x8x32xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: %[[F:.+]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1, 2, 3]] : tensor<1x1x8x32xf32> into tensor<256xf32>
// CHECK: %[[R:.+]] = tensor.expand_shape %[[F]] {{\[}}[0, 1, 2, 3]] output_shape [1, 8, 1, 32] : tensor<256xf32> into tensor<1x8x1x32xf32>
// CHECK: return %[[R]]
func.func @decode_heads(%x: tensor<1x1x8x32xf32>) -> tensor<1x8x1x32xf32> {
  %e = tensor.empty() : tensor<1x8x1x32xf32>
  %t = linalg.transpose ins(%x : tensor<1x1x8x32xf32>) outs(%e : tensor<1x8x1x32xf32>) permutation = [0, 2, 1, 3]
  return %t : tensor<1x8x1x32xf32>
}

// -----

// A prefill (S = 4) really transposes.
// CHECK-LABEL: func.func @prefill_heads
// CHECK: linalg.transpose
// CHECK-NOT: tensor.collapse_shape
func.func @prefill_heads(%x: tensor<1x4x8x32xf32>) -> tensor<1x8x4x32xf32> {
  %e = tensor.empty() : tensor<1x8x4x32xf32>
  %t = linalg.transpose ins(%x : tensor<1x4x8x32xf32>) outs(%e : tensor<1x8x4x32xf32>) permutation = [0, 2, 1, 3]
  return %t : tensor<1x8x4x32xf32>
}

// -----

// Two dimensions larger than 1 swapped around unit ones: a transpose.
// CHECK-LABEL: func.func @swapped
// CHECK: linalg.transpose
func.func @swapped(%x: tensor<2x1x3xf32>) -> tensor<3x1x2xf32> {
  %e = tensor.empty() : tensor<3x1x2xf32>
  %t = linalg.transpose ins(%x : tensor<2x1x3xf32>) outs(%e : tensor<3x1x2xf32>) permutation = [2, 1, 0]
  return %t : tensor<3x1x2xf32>
}

// -----

// Dynamic shapes are left alone (the size-1 test needs static sizes).
// CHECK-LABEL: func.func @dynamic
// CHECK: linalg.transpose
func.func @dynamic(%x: tensor<1x?x8xf32>, %e: tensor<?x1x8xf32>) -> tensor<?x1x8xf32> {
  %t = linalg.transpose ins(%x : tensor<1x?x8xf32>) outs(%e : tensor<?x1x8xf32>) permutation = [1, 0, 2]
  return %t : tensor<?x1x8xf32>
}

// -----

// Only unit dimensions, and a buffer (not a tensor) transpose: the first is
// a reshape (folded away: the shapes are equal), the second stays.
// CHECK-LABEL: func.func @all_unit
// CHECK-SAME: (%[[X:.+]]: tensor<1x1xf32>)
// CHECK-NEXT: return %[[X]]
// CHECK-LABEL: func.func @on_buffers
// CHECK: linalg.transpose
func.func @all_unit(%x: tensor<1x1xf32>) -> tensor<1x1xf32> {
  %e = tensor.empty() : tensor<1x1xf32>
  %t = linalg.transpose ins(%x : tensor<1x1xf32>) outs(%e : tensor<1x1xf32>) permutation = [1, 0]
  return %t : tensor<1x1xf32>
}
func.func @on_buffers(%x: memref<1x1x8xf32>, %y: memref<1x8x1xf32>) {
  linalg.transpose ins(%x : memref<1x1x8xf32>) outs(%y : memref<1x8x1xf32>) permutation = [0, 2, 1]
  return
}
