// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// GQA (Hq = 4, Hkv = 2): query head h reads KV head h floordiv 2. Causal mask
// aligned bottom right: key s is masked for query t when s > t + (S - T).
// CHECK-DAG: #[[$Q:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[$K:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d3, d4)>
// CHECK-DAG: #[[$S:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$V:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d4, d3)>
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @gqa_causal
// CHECK-SAME: (%[[QA:.+]]: tensor<1x4x2x8xf32>, %[[KA:.+]]: tensor<1x2x5x8xf32>, %[[VA:.+]]: tensor<1x2x5x6xf32>)
// CHECK: %[[SCORES:.+]] = linalg.generic {indexing_maps = [#[[$Q]], #[[$K]], #[[$S]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[QA]], %[[KA]] : tensor<1x4x2x8xf32>, tensor<1x2x5x8xf32>) outs(%{{.+}} : tensor<1x4x2x5xf32>)
// CHECK: %[[SCALE:.+]] = arith.constant 0.353553385 : f32
// CHECK: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: %[[OFFSET:.+]] = arith.subi %{{.+}}, %{{.+}} : index
// CHECK: %[[MASKED:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ID]]], {{.*}} ins(%[[SCORES]] :
// CHECK: %[[SC:.+]] = arith.mulf %{{.+}}, %[[SCALE]] : f32
// CHECK: %[[T:.+]] = linalg.index 2 : index
// CHECK: %[[SI:.+]] = linalg.index 3 : index
// CHECK: %[[LIMIT:.+]] = arith.addi %[[T]], %[[OFFSET]] : index
// CHECK: %[[FUTURE:.+]] = arith.cmpi sgt, %[[SI]], %[[LIMIT]] : index
// CHECK: arith.select %[[FUTURE]], %[[NEGINF]], %[[SC]] : f32
// CHECK: %[[MAX:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[MASKED]] :
// CHECK: arith.maximumf
// CHECK: %[[P:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], {{.*}} ins(%[[MASKED]], %[[MAX]] :
// CHECK: %[[ALL:.+]] = arith.cmpf oeq, %{{.+}}, %[[NEGINF]] : f32
// CHECK: %[[M:.+]] = arith.select %[[ALL]], %{{.+}}, %{{.+}} : f32
// CHECK: %[[D:.+]] = arith.subf %{{.+}}, %[[M]] : f32
// CHECK: math.exp %[[D]] : f32
// CHECK: %[[L:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]]], {{.*}} ins(%[[P]] :
// CHECK: %[[O:.+]] = linalg.generic {indexing_maps = [#[[$Q]], #[[$V]], #[[$S]]], {{.*}} ins(%[[P]], %[[VA]] : tensor<1x4x2x5xf32>, tensor<1x2x5x6xf32>) outs(%{{.+}} : tensor<1x4x2x6xf32>)
// CHECK: %[[OUT:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]], {{.*}} ins(%[[O]], %[[L]] :
// CHECK: %[[EMPTY:.+]] = arith.cmpf oeq, %{{.+}}, %{{.+}} : f32
// CHECK: %[[DIV:.+]] = arith.divf
// CHECK: arith.select %[[EMPTY]], %{{.+}}, %[[DIV]] : f32
// CHECK: return %[[OUT]]
func.func @gqa_causal(%q: tensor<1x4x2x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x6xf32>) -> tensor<1x4x2x6xf32> {
  %o = lq.attention %q, %k, %v {causal} : (tensor<1x4x2x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x6xf32>) -> tensor<1x4x2x6xf32>
  return %o : tensor<1x4x2x6xf32>
}

// -----

// A boolean mask selects -inf; unit mask dims broadcast through constant 0.
// CHECK-DAG: #[[$MASK:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
// CHECK-LABEL: func.func @bool_mask
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$MASK]], #{{.+}}]
// CHECK: ^bb0(%[[S:.+]]: f32, %[[M:.+]]: i1, %{{.+}}: f32):
// CHECK: %[[SC:.+]] = arith.mulf %[[S]], %{{.+}} : f32
// CHECK: arith.select %[[M]], %[[SC]], %{{.+}} : f32
func.func @bool_mask(%q: tensor<2x2x3x4xf32>, %k: tensor<2x2x3x4xf32>, %v: tensor<2x2x3x4xf32>, %m: tensor<2x1x3x3xi1>) -> tensor<2x2x3x4xf32> {
  %o = lq.attention %q, %k, %v mask %m : (tensor<2x2x3x4xf32>, tensor<2x2x3x4xf32>, tensor<2x2x3x4xf32>, tensor<2x1x3x3xi1>) -> tensor<2x2x3x4xf32>
  return %o : tensor<2x2x3x4xf32>
}

// -----

// An additive f16 mask of rank 2 broadcasts over [B, H]; a dynamic head size
// without a `scale` gives 1 / sqrt(D) at run time; the f16 result is
// truncated from the f32 accumulator.
// CHECK-DAG: #[[$MASK:.+]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-LABEL: func.func @additive_mask_dynamic
// CHECK: %[[D:.+]] = arith.sitofp %{{.+}} : i64 to f32
// CHECK: %[[SQRT:.+]] = math.sqrt %[[D]] : f32
// CHECK: %[[SCALE:.+]] = arith.divf %{{.+}}, %[[SQRT]] : f32
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$MASK]], #{{.+}}]
// CHECK: arith.mulf %{{.+}}, %[[SCALE]] : f32
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK: arith.addf
// CHECK: arith.truncf %{{.+}} : f32 to f16
func.func @additive_mask_dynamic(%q: tensor<?x2x?x?xf16>, %k: tensor<?x1x?x?xf16>, %v: tensor<?x1x?x?xf16>, %m: tensor<?x?xf16>) -> tensor<?x2x?x?xf16> {
  %o = lq.attention %q, %k, %v mask %m : (tensor<?x2x?x?xf16>, tensor<?x1x?x?xf16>, tensor<?x1x?x?xf16>, tensor<?x?xf16>) -> tensor<?x2x?x?xf16>
  return %o : tensor<?x2x?x?xf16>
}
