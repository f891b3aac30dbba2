// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// Rotate-half, partial (2R = 6 < D = 8): the partner of feature j < R is
// j + R, of R <= j < 2R is j - R; features from 2R on pass through.
// CHECK-LABEL: func.func @rotate_half
// CHECK-SAME: (%[[X:.+]]: tensor<1x2x4x8xf32>, %[[C:.+]]: tensor<4x3xf32>, %[[S:.+]]: tensor<4x3xf32>)
// CHECK: %[[R:.+]] = arith.constant 3 : index
// CHECK: %[[TWO_R:.+]] = arith.addi %[[R]], %[[R]] : index
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<1x2x4x8xf32>)
// CHECK: ^bb0(%[[IN:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[I0:.+]] = linalg.index 0
// CHECK: %[[I1:.+]] = linalg.index 1
// CHECK: %[[T:.+]] = linalg.index 2
// CHECK: %[[J:.+]] = linalg.index 3
// CHECK: %[[ROT:.+]] = arith.cmpi ult, %[[J]], %[[TWO_R]] : index
// CHECK: %[[Y:.+]] = scf.if %[[ROT]] -> (f32) {
// CHECK: %[[FIRST:.+]] = arith.cmpi ult, %[[J]], %[[R]] : index
// CHECK: %[[JMR:.+]] = arith.subi %[[J]], %[[R]] : index
// CHECK: %[[PAIR:.+]] = arith.select %[[FIRST]], %[[J]], %[[JMR]] : index
// CHECK: %[[JPR:.+]] = arith.addi %[[J]], %[[R]] : index
// CHECK: %[[PART:.+]] = arith.select %[[FIRST]], %[[JPR]], %[[JMR]] : index
// CHECK: %[[XP:.+]] = tensor.extract %[[X]][%[[I0]], %[[I1]], %[[T]], %[[PART]]]
// CHECK: %[[CV:.+]] = tensor.extract %[[C]][%[[T]], %[[PAIR]]]
// CHECK: %[[SV:.+]] = tensor.extract %[[S]][%[[T]], %[[PAIR]]]
// CHECK: %[[XC:.+]] = arith.mulf %[[IN]], %[[CV]]
// CHECK: %[[XS:.+]] = arith.mulf %[[XP]], %[[SV]]
// CHECK: %[[SUB:.+]] = arith.subf %[[XC]], %[[XS]]
// CHECK: %[[ADD:.+]] = arith.addf %[[XC]], %[[XS]]
// CHECK: %[[RES:.+]] = arith.select %[[FIRST]], %[[SUB]], %[[ADD]]
// CHECK: scf.yield %[[RES]]
// CHECK: } else {
// CHECK: scf.yield %[[IN]]
// CHECK: linalg.yield %[[Y]]
func.func @rotate_half(%x: tensor<1x2x4x8xf32>, %c: tensor<4x3xf32>, %s: tensor<4x3xf32>) -> tensor<1x2x4x8xf32> {
  %y = lq.rotary %x, %c, %s : tensor<1x2x4x8xf32>, tensor<4x3xf32>
  return %y : tensor<1x2x4x8xf32>
}

// -----

// Interleaved: pairs (2i, 2i + 1) use angle i; dynamic R and T.
// CHECK-LABEL: func.func @interleaved_dynamic
// CHECK-SAME: (%[[X:.+]]: tensor<?x?x16xf16>, %[[C:.+]]: tensor<?x?xf16>, %{{.+}}: tensor<?x?xf16>)
// CHECK: %[[R:.+]] = tensor.dim %[[C]], %{{.+}} : tensor<?x?xf16>
// CHECK: linalg.generic
// CHECK: %[[J:.+]] = linalg.index 2
// CHECK: scf.if
// CHECK: %[[TWO:.+]] = arith.constant 2 : index
// CHECK: %[[PAIR:.+]] = arith.divui %[[J]], %[[TWO]] : index
// CHECK: %[[ODD:.+]] = arith.remui %[[J]], %[[TWO]] : index
// CHECK: %[[EVEN:.+]] = arith.cmpi eq, %[[ODD]], %{{.+}} : index
// CHECK: tensor.extract %[[C]][%{{.+}}, %[[PAIR]]] : tensor<?x?xf16>
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK: arith.truncf %{{.+}} : f32 to f16
func.func @interleaved_dynamic(%x: tensor<?x?x16xf16>, %c: tensor<?x?xf16>, %s: tensor<?x?xf16>) -> tensor<?x?x16xf16> {
  %y = lq.rotary %x, %c, %s {interleaved} : tensor<?x?x16xf16>, tensor<?x?xf16>
  return %y : tensor<?x?x16xf16>
}
