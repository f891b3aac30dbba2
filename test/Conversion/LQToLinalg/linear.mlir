// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// CHECK-DAG: #[[$A:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$B:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$C:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$COL:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @linear_3d_bias
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>, %[[W:.+]]: tensor<5x4xf32>, %[[BIAS:.+]]: tensor<5xf32>)
// CHECK: %[[X2:.+]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<2x3x4xf32> into tensor<6x4xf32>
// CHECK: %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<6x5xf32>)
// CHECK: %[[MM:.+]] = linalg.matmul indexing_maps = [#[[$A]], #[[$B]], #[[$C]]] ins(%[[X2]], %[[W]] : tensor<6x4xf32>, tensor<5x4xf32>) outs(%[[ZERO]] : tensor<6x5xf32>)
// CHECK: %[[Y:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$COL]], #[[$ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[MM]], %[[BIAS]] : tensor<6x5xf32>, tensor<5xf32>)
// CHECK: arith.addf
// CHECK: %[[R:.+]] = tensor.expand_shape %[[Y]] {{\[}}[0, 1], [2]] output_shape [2, 3, 5] : tensor<6x5xf32> into tensor<2x3x5xf32>
// CHECK: return %[[R]]
func.func @linear_3d_bias(%x: tensor<2x3x4xf32>, %w: tensor<5x4xf32>, %b: tensor<5xf32>) -> tensor<2x3x5xf32> {
  %y = lq.linear %x, %w bias %b : (tensor<2x3x4xf32>, tensor<5x4xf32>, tensor<5xf32>) -> tensor<2x3x5xf32>
  return %y : tensor<2x3x5xf32>
}

// -----

// f16 operands accumulate in f32 and truncate at the end; dynamic rows.
// CHECK-LABEL: func.func @linear_dynamic_f16
// CHECK-SAME: (%[[X:.+]]: tensor<?x4xf16>, %[[W:.+]]: tensor<5x4xf16>)
// CHECK: %[[M:.+]] = tensor.dim %[[X]], %{{.+}} : tensor<?x4xf16>
// CHECK: tensor.empty(%[[M]]) : tensor<?x5xf32>
// CHECK: %[[MM:.+]] = linalg.matmul {{.*}} ins(%[[X]], %[[W]] : tensor<?x4xf16>, tensor<5x4xf16>) outs(%{{.+}} : tensor<?x5xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[MM]] : tensor<?x5xf32>) outs(%{{.+}} : tensor<?x5xf16>)
// CHECK: arith.truncf %{{.+}} : f32 to f16
func.func @linear_dynamic_f16(%x: tensor<?x4xf16>, %w: tensor<5x4xf16>) -> tensor<?x5xf16> {
  %y = lq.linear %x, %w : (tensor<?x4xf16>, tensor<5x4xf16>) -> tensor<?x5xf16>
  return %y : tensor<?x5xf16>
}

// -----

// CHECK-LABEL: func.func @linear_1d
// CHECK: %[[X2:.+]] = tensor.expand_shape %{{.+}} {{\[}}[0, 1]] output_shape [1, 4] : tensor<4xf32> into tensor<1x4xf32>
// CHECK: %[[MM:.+]] = linalg.matmul {{.*}} ins(%[[X2]], %{{.+}} : tensor<1x4xf32>, tensor<5x4xf32>)
// CHECK: %[[R:.+]] = tensor.collapse_shape %[[MM]] {{\[}}[0, 1]] : tensor<1x5xf32> into tensor<5xf32>
// CHECK: return %[[R]]
func.func @linear_1d(%x: tensor<4xf32>, %w: tensor<5x4xf32>) -> tensor<5xf32> {
  %y = lq.linear %x, %w : (tensor<4xf32>, tensor<5x4xf32>) -> tensor<5xf32>
  return %y : tensor<5xf32>
}
