// RUN: quant-opt %s --pass-pipeline='builtin.module(func.func(lq-gpu-parallelize-loops{block-size=128}))' | FileCheck %s

// A 2-D parallel loop of 3 x 100 = 300 iterations becomes ceil(300 / 128) = 3
// blocks of 128 threads; the original indices come back from the linear
// index under an in-bounds guard.
// CHECK-LABEL: func.func @nest
// CHECK: %[[N0:.+]] = arith.ceildivui
// CHECK: %[[N1:.+]] = arith.ceildivui
// CHECK: %[[TOTAL:.+]] = arith.muli %[[N0]], %[[N1]]
// CHECK: %[[C128:.+]] = arith.constant 128 : index
// CHECK: %[[BLOCKS:.+]] = arith.ceildivui %[[TOTAL]], %[[C128]]
// CHECK: scf.parallel (%[[B:.+]]) = (%{{.+}}) to (%[[BLOCKS]])
// CHECK: scf.parallel (%[[T:.+]]) = (%{{.+}}) to (%[[C128]])
// CHECK: %[[BB:.+]] = arith.muli %[[B]], %[[C128]]
// CHECK: %[[LIN:.+]] = arith.addi %[[BB]], %[[T]]
// CHECK: %[[IN:.+]] = arith.cmpi ult, %[[LIN]], %[[TOTAL]]
// CHECK: scf.if %[[IN]]
// CHECK: %[[J:.+]] = arith.remui %[[LIN]], %[[N1]]
// CHECK: %[[I:.+]] = arith.divui %[[LIN]], %[[N1]]
// CHECK: memref.store
func.func @nest(%m: memref<3x100xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c100 = arith.constant 100 : index
  %z = arith.constant 0.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c3, %c100) step (%c1, %c1) {
    memref.store %z, %m[%i, %j] : memref<3x100xf32>
    scf.reduce
  }
  return
}

// A sequential loop (a reduction with no parallel dimension) runs on one
// device thread: a 1 x 1 nest around the loop.
// CHECK-LABEL: func.func @sequential
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: scf.if
// CHECK: scf.for
func.func @sequential(%m: memref<8xf32>, %acc: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.for %k = %c0 to %c8 step %c1 {
    %a = memref.load %m[%k] : memref<8xf32>
    %s = memref.load %acc[] : memref<f32>
    %t = arith.addf %a, %s : f32
    memref.store %t, %acc[] : memref<f32>
  }
  return
}
