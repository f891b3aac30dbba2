// RUN: quant-opt %s --lq-expand-strided-copies --split-input-file | FileCheck %s
// RUN: quant-opt %s --lq-expand-strided-copies=runtime-copy-bytes=60000 --split-input-file | FileCheck %s --check-prefix=RT

// A KV cache's past rows into the present buffer: the [127, 32] block of each
// head is dense in both, so the copy becomes loops over batch and heads of
// contiguous memref.copy's (llvm.memcpy), not element loops.
// CHECK-LABEL: func.func @kv
// CHECK-SAME: (%[[PAST:.+]]: memref<1x4x127x32xf32>, %[[PRESENT:.+]]: memref<1x4x128x32xf32>)
// CHECK: %[[S:.+]] = memref.subview %[[PRESENT]]
// CHECK: scf.for %[[B:.+]] = %{{.+}} to %{{.+}} step
// CHECK: scf.for %[[H:.+]] = %{{.+}} to %{{.+}} step
// CHECK: %[[FROM:.+]] = memref.subview %[[PAST]][%[[B]], %[[H]], 0, 0] [1, 1, 127, 32] [1, 1, 1, 1] : memref<1x4x127x32xf32> to memref<127x32xf32, strided<[32, 1], offset: ?>>
// CHECK: %[[TO:.+]] = memref.subview %[[S]][%[[B]], %[[H]], 0, 0] [1, 1, 127, 32] [1, 1, 1, 1] : memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>> to memref<127x32xf32, strided<[32, 1], offset: ?>>
// CHECK: memref.copy %[[FROM]], %[[TO]]
// CHECK-NOT: linalg.copy
// With runtime-copy-bytes (the CPU pipeline sets 64 KB), a rank-4 f32 copy
// that large calls lq_rt, which splits its rows between threads.
// RT-LABEL: func.func @kv
// RT-SAME: (%[[PAST:.+]]: memref<1x4x127x32xf32>, %[[PRESENT:.+]]: memref<1x4x128x32xf32>)
// RT: %[[S:.+]] = memref.subview %[[PRESENT]]
// RT: %[[FROM:.+]] = memref.cast %[[PAST]] : memref<1x4x127x32xf32> to memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>
// RT: %[[TO:.+]] = memref.cast %[[S]] : memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>> to memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>
// RT: call @lq_rt_copy_f32(%[[FROM]], %[[TO]])
// RT-NOT: memref.copy
// RT: func.func private @lq_rt_copy_f32(memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>) attributes {llvm.emit_c_interface}
func.func @kv(%past: memref<1x4x127x32xf32>, %present: memref<1x4x128x32xf32>) {
  %s = memref.subview %present[0, 0, 0, 0] [1, 4, 127, 32] [1, 1, 1, 1] : memref<1x4x128x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>>
  memref.copy %past, %s : memref<1x4x127x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>>
  return
}

// -----

// Blocks under 16 elements and transposed layouts keep the element loops;
// copies under runtime-copy-bytes, or not rank-4 f32, never call lq_rt.
// CHECK-LABEL: func.func @small
// RT-LABEL: func.func @small
// RT-NOT: call
// RT: linalg.copy
// CHECK-NOT: scf.for
// CHECK: linalg.copy
func.func @small(%a: memref<4x3xf32>, %b: memref<4x8xf32>) {
  %s = memref.subview %b[0, 0] [4, 3] [1, 1] : memref<4x8xf32> to memref<4x3xf32, strided<[8, 1]>>
  memref.copy %a, %s : memref<4x3xf32> to memref<4x3xf32, strided<[8, 1]>>
  return
}

// -----

// CHECK-LABEL: func.func @columns
// CHECK-NOT: memref.copy
// CHECK: linalg.copy
func.func @columns(%a: memref<64x64xf32>, %b: memref<64x64xf32, strided<[1, 64]>>) {
  memref.copy %a, %b : memref<64x64xf32> to memref<64x64xf32, strided<[1, 64]>>
  return
}

// -----

// A dynamic offset (a cache row written at run time) keeps the dense block.
// CHECK-LABEL: func.func @dynamic_offset
// CHECK: memref.copy %{{.+}}, %{{.+}} : memref<64xf32, strided<[1], offset: ?>> to memref<64xf32, strided<[1], offset: ?>>
func.func @dynamic_offset(%a: memref<2x64xf32>, %b: memref<2x100x64xf32>, %p: index) {
  %s = memref.subview %b[0, %p, 0] [2, 1, 64] [1, 1, 1] : memref<2x100x64xf32> to memref<2x64xf32, strided<[6400, 1], offset: ?>>
  memref.copy %a, %s : memref<2x64xf32> to memref<2x64xf32, strided<[6400, 1], offset: ?>>
  return
}

// -----

// Under the threshold, not f32, or twice in one function: one declaration,
// only the large f32 copies call lq_rt.
// RT-LABEL: func.func @mixed
// RT: call @lq_rt_copy_f32
// RT: call @lq_rt_copy_f32
// RT-NOT: call
// RT: func.func private @lq_rt_copy_f32
// RT-NOT: func.func private @lq_rt_copy_f32
func.func @mixed(%a: memref<1x4x127x32xf32>, %b: memref<1x4x128x32xf32>,
                 %c: memref<1x2x8x32xf32>, %d: memref<1x2x9x32xf32>,
                 %e: memref<1x4x127x64xf16>, %f: memref<1x4x128x64xf16>) {
  %sb = memref.subview %b[0, 0, 1, 0] [1, 4, 127, 32] [1, 1, 1, 1] : memref<1x4x128x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1], offset: 32>>
  memref.copy %a, %sb : memref<1x4x127x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1], offset: 32>>
  %sb2 = memref.subview %b[0, 0, 0, 0] [1, 4, 127, 32] [1, 1, 1, 1] : memref<1x4x128x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>>
  memref.copy %a, %sb2 : memref<1x4x127x32xf32> to memref<1x4x127x32xf32, strided<[16384, 4096, 32, 1]>>
  %sd = memref.subview %d[0, 0, 0, 0] [1, 2, 8, 32] [1, 1, 1, 1] : memref<1x2x9x32xf32> to memref<1x2x8x32xf32, strided<[576, 288, 32, 1]>>
  memref.copy %c, %sd : memref<1x2x8x32xf32> to memref<1x2x8x32xf32, strided<[576, 288, 32, 1]>>
  %sf = memref.subview %f[0, 0, 0, 0] [1, 4, 127, 64] [1, 1, 1, 1] : memref<1x4x128x64xf16> to memref<1x4x127x64xf16, strided<[32768, 8192, 64, 1]>>
  memref.copy %e, %sf : memref<1x4x127x64xf16> to memref<1x4x127x64xf16, strided<[32768, 8192, 64, 1]>>
  return
}

