// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[$COL:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @rms_norm_f16
// CHECK-SAME: (%[[X:.+]]: tensor<?x8xf16>, %[[G:.+]]: tensor<8xf16>)
// CHECK: %[[INIT:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<?xf32>)
// CHECK: %[[SS:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]} ins(%[[X]] : tensor<?x8xf16>) outs(%[[INIT]] : tensor<?xf32>)
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-DAG: %[[D:.+]] = arith.constant 8.000000e+00 : f32
// CHECK-DAG: %[[EPS:.+]] = arith.constant 9.99999974E-6 : f32
// CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$COL]], #[[$ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[X]], %[[SS]], %[[G]] : tensor<?x8xf16>, tensor<?xf32>, tensor<8xf16>) outs(%{{.+}} : tensor<?x8xf16>)
// CHECK: %[[MEAN:.+]] = arith.divf %{{.+}}, %[[D]] : f32
// CHECK: %[[V:.+]] = arith.addf %[[MEAN]], %[[EPS]] : f32
// CHECK: math.rsqrt %[[V]] : f32
// CHECK: arith.truncf %{{.+}} : f32 to f16
func.func @rms_norm_f16(%x: tensor<?x8xf16>, %g: tensor<8xf16>) -> tensor<?x8xf16> {
  %y = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<?x8xf16>, tensor<8xf16>
  return %y : tensor<?x8xf16>
}

// -----

// A dynamic feature size is read at run time for the mean.
// CHECK-LABEL: func.func @rms_norm_dynamic_d
// CHECK: %[[DIM:.+]] = tensor.dim %{{.+}}, %{{.+}} : tensor<2x?xf32>
// CHECK: %[[I:.+]] = arith.index_cast %{{.+}} : index to i64
// CHECK: %[[D:.+]] = arith.sitofp %[[I]] : i64 to f32
// CHECK: linalg.generic
// CHECK: arith.divf %{{.+}}, %[[D]] : f32
func.func @rms_norm_dynamic_d(%x: tensor<2x?xf32>, %g: tensor<?xf32>) -> tensor<2x?xf32> {
  %y = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<2x?xf32>, tensor<?xf32>
  return %y : tensor<2x?xf32>
}

// -----

// Two-pass layer norm: sum, sum of squared deviations, then normalize.
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$LEAD:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$LAST:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @layer_norm_bias
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x8xf32>, %[[G:.+]]: tensor<8xf32>, %[[B:.+]]: tensor<8xf32>)
// CHECK: %[[SUM:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$LEAD]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<2x3x8xf32>)
// CHECK: %[[SQ:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$LEAD]], #[[$LEAD]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[SUM]] : tensor<2x3x8xf32>, tensor<2x3xf32>)
// CHECK: arith.subf
// CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$LEAD]], #[[$LEAD]], #[[$LAST]], #[[$LAST]], #[[$ID]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[X]], %[[SUM]], %[[SQ]], %[[G]], %[[B]] :
// CHECK: math.rsqrt
// CHECK: arith.addf
// CHECK: linalg.yield
func.func @layer_norm_bias(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = lq.layer_norm %x, %g bias %b {epsilon = 1.0e-05 : f32} : tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>
  return %y : tensor<2x3x8xf32>
}
