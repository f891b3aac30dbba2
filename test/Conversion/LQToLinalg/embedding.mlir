// RUN: quant-opt %s --convert-lq-to-linalg | FileCheck %s --implicit-check-not=lq.

// CHECK-DAG: #[[$IDS:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$OUT:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[T:.+]]: tensor<7x4xf32>, %[[IDS_ARG:.+]]: tensor<?x3xi32>)
// CHECK: %[[N:.+]] = tensor.dim %[[IDS_ARG]], %{{.+}} : tensor<?x3xi32>
// CHECK: %[[E:.+]] = tensor.empty(%[[N]]) : tensor<?x3x4xf32>
// CHECK: linalg.generic {indexing_maps = [#[[$IDS]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[IDS_ARG]] : tensor<?x3xi32>) outs(%[[E]] : tensor<?x3x4xf32>)
// CHECK: ^bb0(%[[ID:.+]]: i32, %{{.+}}: f32):
// CHECK: %[[ROW:.+]] = arith.index_cast %[[ID]] : i32 to index
// CHECK: %[[COL:.+]] = linalg.index 2 : index
// CHECK: %[[V:.+]] = tensor.extract %[[T]][%[[ROW]], %[[COL]]] : tensor<7x4xf32>
// CHECK: linalg.yield %[[V]] : f32
func.func @embedding(%t: tensor<7x4xf32>, %ids: tensor<?x3xi32>) -> tensor<?x3x4xf32> {
  %e = lq.embedding %t, %ids : (tensor<7x4xf32>, tensor<?x3xi32>) -> tensor<?x3x4xf32>
  return %e : tensor<?x3x4xf32>
}
