// RUN: quant-opt %s --convert-lq-to-linalg | FileCheck %s --implicit-check-not=lq.

// With `position`, causal attention masks key s for query t when
// s > t + position (not S - T): the cache's unwritten rows never count.

// CHECK-LABEL: func.func @chunk
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<i32>
// CHECK: %[[P:.*]] = tensor.extract %[[POS]][] : tensor<i32>
// CHECK: %[[I:.*]] = arith.index_cast %[[P]] : i32 to index
// CHECK: linalg.generic
// CHECK: %[[T:.*]] = linalg.index 2 : index
// CHECK: %[[S:.*]] = linalg.index 3 : index
// CHECK: %[[L:.*]] = arith.addi %[[T]], %[[I]] : index
// CHECK: arith.cmpi sgt, %[[S]], %[[L]] : index
func.func @chunk(%q: tensor<1x2x4x8xf32>, %k: tensor<1x1x16x8xf32>,
                 %v: tensor<1x1x16x8xf32>, %pos: tensor<i32>) -> tensor<1x2x4x8xf32> {
  %o = lq.attention %q, %k, %v position %pos {causal} : (tensor<1x2x4x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<i32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// Without causal, every query of the block sees keys s <= position + T - 1.
// CHECK-LABEL: func.func @block
// CHECK: %[[P2:.*]] = tensor.extract
// CHECK: %[[I2:.*]] = arith.index_cast %[[P2]] : i64 to index
// CHECK: %[[LIM:.*]] = arith.addi %[[I2]], %{{.*}} : index
// CHECK: linalg.generic
// CHECK: %[[S2:.*]] = linalg.index 3 : index
// CHECK: arith.cmpi sgt, %[[S2]], %[[LIM]] : index
func.func @block(%q: tensor<1x2x3x8xf32>, %k: tensor<1x1x16x8xf32>,
                 %v: tensor<1x1x16x8xf32>, %pos: tensor<i64>) -> tensor<1x2x3x8xf32> {
  %o = lq.attention %q, %k, %v position %pos : (tensor<1x2x3x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<i64>) -> tensor<1x2x3x8xf32>
  return %o : tensor<1x2x3x8xf32>
}
