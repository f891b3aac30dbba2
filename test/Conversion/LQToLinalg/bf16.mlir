// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// bf16 (per tensor) dequantize: the code's 16 bits shifted into the top of
// an f32 (exact), times the scale.
// CHECK-LABEL: func.func @dequantize_bf16
// CHECK: linalg.generic
// CHECK: ^bb0(%[[C:.+]]: bf16, %[[S:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[B:.+]] = arith.bitcast %[[C]] : bf16 to i16
// CHECK: %[[I:.+]] = arith.extui %[[B]] : i16 to i32
// CHECK: %[[SH:.+]] = arith.shli %[[I]], %{{.+}} : i32
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
// CHECK: %[[U:.+]] = arith.bitcast %{{.+}} : f32 to i32
// CHECK: %[[HI:.+]] = arith.shrui %[[U]]
// CHECK: arith.andi %[[HI]]
// CHECK: arith.addi
// CHECK: %[[R:.+]] = arith.shrui
// CHECK: %[[QN:.+]] = arith.ori %[[HI]]
// CHECK: %[[NAN:.+]] = arith.cmpf uno
// CHECK: %[[SEL:.+]] = arith.select %[[NAN]], %[[QN]], %[[R]] : i32
// CHECK: %[[T:.+]] = arith.trunci %[[SEL]] : i32 to i16
// CHECK: %[[BF:.+]] = arith.bitcast %[[T]] : i16 to bf16
// CHECK: linalg.yield %[[BF]] : bf16
func.func @quantize_bf16(%x: tensor<2x8xf32>, %s: tensor<f32>) -> tensor<2x8xbf16, #lq.scheme<format = bf16>> {
  %q = lq.quantize %x, %s : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xbf16, #lq.scheme<format = bf16>>
  return %q : tensor<2x8xbf16, #lq.scheme<format = bf16>>
}
