// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s

// The portable lowering: each block times the dense orthonormal H_B, one
// matmul with a transposed constant on [rows * n / B, B]. H_4 / 2:
// CHECK-LABEL: func.func @per_block(
// CHECK:         %[[H:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 5.000000e-01, 5.000000e-01, 5.000000e-01], [5.000000e-01, -5.000000e-01, 5.000000e-01, -5.000000e-01], [5.000000e-01, 5.000000e-01, -5.000000e-01, -5.000000e-01], [5.000000e-01, -5.000000e-01, -5.000000e-01, 5.000000e-01]]> : tensor<4x4xf32>
// CHECK:         %[[F:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1, 2]] : tensor<2x3x8xf32> into tensor<48xf32>
// CHECK:         %[[X:.*]] = tensor.expand_shape %[[F]] {{\[\[}}0, 1]] output_shape [12, 4] : tensor<48xf32> into tensor<12x4xf32>
// CHECK:         linalg.matmul{{.*}} ins(%[[X]], %[[H]] : tensor<12x4xf32>, tensor<4x4xf32>)
// CHECK-NOT:     lq.hadamard
func.func @per_block(%x: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  %y = lq.hadamard %x {block = 4} : tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}
