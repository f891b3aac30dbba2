// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// Quantized constants lose their #lq.scheme encoding and keep their bits.
// CHECK-LABEL: func.func @dense_codes
// CHECK: %[[Q:.+]] = arith.constant dense<[1, 2, 3, -1]> : tensor<4xi4>
// CHECK: %[[F:.+]] = arith.constant dense<1.500000e+00> : tensor<32xf4E2M1FN>
// CHECK: linalg.generic {{.*}} ins(%[[Q]], %{{.+}} : tensor<4xi4>, tensor<f32>)
// CHECK: linalg.generic {{.*}} ins(%[[F]], %{{.+}} : tensor<32xf4E2M1FN>, tensor<1xf8E8M0FNU>)
func.func @dense_codes() -> (tensor<4xf32>, tensor<32xf32>) {
  %q = arith.constant dense<[1, 2, 3, 15]> : tensor<4xi4, #lq.scheme<format = int, bits = 4>>
  %f = arith.constant dense<1.5> : tensor<32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 0, group = 32>>
  %s = arith.constant dense<0.5> : tensor<f32>
  %e = arith.constant dense<0.5> : tensor<1xf8E8M0FNU>
  %d = lq.dequantize %q, %s : (tensor<4xi4, #lq.scheme<format = int, bits = 4>>, tensor<f32>) -> tensor<4xf32>
  %d2 = lq.dequantize %f, %e : (tensor<32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 0, group = 32>>, tensor<1xf8E8M0FNU>) -> tensor<32xf32>
  return %d, %d2 : tensor<4xf32>, tensor<32xf32>
}

// -----

// Packed dense_resource blobs (element 2k in the low nibble of byte k) are
// unpacked into a dense of the storage type, one element per code.
// CHECK-LABEL: func.func @packed_blob
// CHECK: arith.constant dense<[1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, 0, -1]> : tensor<16xi4>
func.func @packed_blob() -> tensor<16xf32> {
  %q = arith.constant dense_resource<codes> : tensor<16xi4, #lq.scheme<format = int, bits = 4>>
  %s = arith.constant dense<1.0> : tensor<f32>
  %d = lq.dequantize %q, %s : (tensor<16xi4, #lq.scheme<format = int, bits = 4>>, tensor<f32>) -> tensor<16xf32>
  return %d : tensor<16xf32>
}

{-#
  dialect_resources: {
    builtin: {
      codes: "0x0800000021436587A9CBEDF0"
    }
  }
#-}

// -----

// Function signatures, calls and returns are re-typed too.
// CHECK-LABEL: func.func @callee
// CHECK-SAME: (%{{.+}}: tensor<8xi8>) -> tensor<8xi8>
// CHECK-LABEL: func.func @caller
// CHECK-SAME: (%[[X:.+]]: tensor<8xf32>, %[[S:.+]]: tensor<f32>) -> tensor<8xi8>
// CHECK: %[[Q:.+]] = linalg.generic
// CHECK: %[[R:.+]] = call @callee(%[[Q]]) : (tensor<8xi8>) -> tensor<8xi8>
// CHECK: return %[[R]] : tensor<8xi8>
func.func @callee(%q: tensor<8xi8, #lq.scheme<format = int, bits = 8>>) -> tensor<8xi8, #lq.scheme<format = int, bits = 8>> {
  return %q : tensor<8xi8, #lq.scheme<format = int, bits = 8>>
}
func.func @caller(%x: tensor<8xf32>, %s: tensor<f32>) -> tensor<8xi8, #lq.scheme<format = int, bits = 8>> {
  %q = lq.quantize %x, %s : (tensor<8xf32>, tensor<f32>) -> tensor<8xi8, #lq.scheme<format = int, bits = 8>>
  %r = call @callee(%q) : (tensor<8xi8, #lq.scheme<format = int, bits = 8>>) -> tensor<8xi8, #lq.scheme<format = int, bits = 8>>
  return %r : tensor<8xi8, #lq.scheme<format = int, bits = 8>>
}
