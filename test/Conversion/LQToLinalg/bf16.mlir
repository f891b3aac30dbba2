// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// bf16 (per tensor) dequantize: the code's 16 bits shifted into the top of
// an f32 (exact), times the scale.
// CHECK-LABEL: func.func @dequantize_bf16
// CHECK: linalg.generic
// CHECK: ^bb0(%[[C:.+]]: bf16, %[[S:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[B:.+]] = arith.bitcast %[[C]] : bf16 to i16
// CHECK: %[[I:.+]] = arith.extui %[[B]] : i16 to i32
// CHECK: %[[C16:.+]] = arith.constant 16 : i32
// CHECK: %[[SH:.+]] = arith.shli %[[I]], %[[C16]] : i32
// CHECK: %[[F:.+]] = arith.bitcast %[[SH]] : i32 to f32
// CHECK: %[[V:.+]] = arith.mulf %[[F]], %[[S]] : f32
// CHECK: linalg.yield %[[V]] : f32
func.func @dequantize_bf16(%q: tensor<2x8xbf16, #lq.scheme<format = bf16>>, %s: tensor<1x1xf32>) -> tensor<2x8xf32> {
  %d = lq.dequantize %q, %s : (tensor<2x8xbf16, #lq.scheme<format = bf16>>, tensor<1x1xf32>) -> tensor<2x8xf32>
  return %d : tensor<2x8xf32>
}

// -----

// bf16 quantize: x / scale rounded to nearest even on the bits
// (u + 0x7FFF + bit 16) >> 16, NaN -> its top half with the quiet bit.
// CHECK-LABEL: func.func @quantize_bf16
// CHECK: linalg.generic
// CHECK: arith.divf
// CHECK: %[[X:.+]] = arith.select
// CHECK: %[[U:.+]] = arith.bitcast %[[X]] : f32 to i32
// CHECK: %[[S16:.+]] = arith.constant 16 : i32
// CHECK: %[[HI:.+]] = arith.shrui %[[U]], %[[S16]] : i32
// CHECK: %[[ONE:.+]] = arith.constant 1 : i32
// CHECK: %[[LSB:.+]] = arith.andi %[[HI]], %[[ONE]] : i32
// CHECK: %[[HALF:.+]] = arith.constant 32767 : i32
// CHECK: %[[BIAS:.+]] = arith.addi %[[LSB]], %[[HALF]] : i32
// CHECK: %[[SUM:.+]] = arith.addi %[[U]], %[[BIAS]] : i32
// CHECK: %[[S16B:.+]] = arith.constant 16 : i32
// CHECK: %[[R:.+]] = arith.shrui %[[SUM]], %[[S16B]] : i32
// CHECK: %[[QUIET:.+]] = arith.constant 64 : i32
// CHECK: %[[QN:.+]] = arith.ori %[[HI]], %[[QUIET]] : i32
// CHECK: %[[NAN:.+]] = arith.cmpf uno, %[[X]], %[[X]] : f32
// CHECK: %[[SEL:.+]] = arith.select %[[NAN]], %[[QN]], %[[R]] : i32
// CHECK: %[[T:.+]] = arith.trunci %[[SEL]] : i32 to i16
// CHECK: %[[BF:.+]] = arith.bitcast %[[T]] : i16 to bf16
// CHECK: linalg.yield %[[BF]] : bf16
func.func @quantize_bf16(%x: tensor<2x8xf32>, %s: tensor<f32>) -> tensor<2x8xbf16, #lq.scheme<format = bf16>> {
  %q = lq.quantize %x, %s : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xbf16, #lq.scheme<format = bf16>>
  return %q : tensor<2x8xbf16, #lq.scheme<format = bf16>>
}
