// RUN: quant-opt %s --canonicalize --split-input-file | FileCheck %s

// lq.quantize of constants folds with the runtime's codecs; small results stay
// readable `dense`, large ones become packed `dense_resource` blobs.

// CHECK-LABEL: func.func @int8_per_tensor
// CHECK: %[[C:.+]] = arith.constant dense<[-2, 0, 2, 20, 127, -128]> : tensor<6xi8, #lq.scheme<format = int, bits = 8>>
// CHECK-NOT: lq.quantize
// CHECK: return %[[C]]
func.func @int8_per_tensor() -> tensor<6xi8, #lq.scheme<format = int, bits = 8>> {
  %x = arith.constant dense<[-1.0, 0.0, 1.25, 10.0, 100.0, -200.0]> : tensor<6xf32>
  %s = arith.constant dense<0.5> : tensor<f32>
  %q = lq.quantize %x, %s : (tensor<6xf32>, tensor<f32>) -> tensor<6xi8, #lq.scheme<format = int, bits = 8>>
  return %q : tensor<6xi8, #lq.scheme<format = int, bits = 8>>
}

// -----

// CHECK-LABEL: func.func @int4_asym
// Asymmetric codes are unsigned in the same 4 bits: 10 and 15 print as -6 and -1.
// CHECK: arith.constant dense<{{\[}}[2, 6, -6, -1], [0, 1, 2, 4]]> : tensor<2x4xi4
func.func @int4_asym() -> tensor<2x4xi4, #lq.scheme<format = int, bits = 4, axis = 0, symmetric = false>> {
  %x = arith.constant dense<[[0.0, 1.0, 2.0, 3.5], [0.0, 1.0, 2.0, 3.5]]> : tensor<2x4xf32>
  %s = arith.constant dense<[[0.25], [1.0]]> : tensor<2x1xf32>
  %zp = arith.constant dense<[[2], [0]]> : tensor<2x1xi8>
  %q = lq.quantize %x, %s zero_point %zp : (tensor<2x4xf32>, tensor<2x1xf32>, tensor<2x1xi8>) -> tensor<2x4xi4, #lq.scheme<format = int, bits = 4, axis = 0, symmetric = false>>
  return %q : tensor<2x4xi4, #lq.scheme<format = int, bits = 4, axis = 0, symmetric = false>>
}

// -----

// CHECK-LABEL: func.func @fp8
// 2000/2 saturates to 448; 0.15 rounds to 0.15625.
// CHECK: arith.constant dense<[5.000000e-01, 4.480000e+02, 1.562500e-01]> : tensor<3xf8E4M3FN
func.func @fp8() -> tensor<3xf8E4M3FN, #lq.scheme<format = fp8_e4m3>> {
  %x = arith.constant dense<[1.0, 2000.0, 0.3]> : tensor<3xf32>
  %s = arith.constant dense<2.0> : tensor<f32>
  %q = lq.quantize %x, %s : (tensor<3xf32>, tensor<f32>) -> tensor<3xf8E4M3FN, #lq.scheme<format = fp8_e4m3>>
  return %q : tensor<3xf8E4M3FN, #lq.scheme<format = fp8_e4m3>>
}

// -----

// CHECK-LABEL: func.func @mxfp4
// Ties round to even (2.5 -> 2, -5 -> -4), overflow saturates to 6; row 1 has scale 2.
// CHECK: arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, -4.000000e+00, 6.000000e+00, 0.000000e+00, 1.000000e+00, 4.000000e+00, 6.000000e+00,
// CHECK-SAME: [5.000000e-01, 1.000000e+00, -2.000000e+00, 4.000000e+00, 0.000000e+00, 5.000000e-01, 2.000000e+00, 6.000000e+00,
func.func @mxfp4() -> tensor<2x32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>> {
  %x = arith.constant dense<[[1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0, 1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0, 1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0, 1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0],[1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0, 1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0, 1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0, 1.0, 2.5, -5.0, 7.0, 0.25, 0.75, 3.5, 100.0]]> : tensor<2x32xf32>
  %s = arith.constant dense<[[1.0], [2.0]]> : tensor<2x1xf8E8M0FNU>
  %q = lq.quantize %x, %s : (tensor<2x32xf32>, tensor<2x1xf8E8M0FNU>) -> tensor<2x32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>
  return %q : tensor<2x32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>
}

// -----

// CHECK-LABEL: func.func @nf4
// Codebook indices 15, 0, 7, 12 (0.44 is nearest to 0.4407).
// CHECK: arith.constant dense<[-1, 0, 7, -4]> : tensor<4xi4, #lq.scheme<format = nf4>>
func.func @nf4() -> tensor<4xi4, #lq.scheme<format = nf4>> {
  %x = arith.constant dense<[2.0, -2.0, 0.0, 0.88]> : tensor<4xf32>
  %s = arith.constant dense<2.0> : tensor<f32>
  %q = lq.quantize %x, %s : (tensor<4xf32>, tensor<f32>) -> tensor<4xi4, #lq.scheme<format = nf4>>
  return %q : tensor<4xi4, #lq.scheme<format = nf4>>
}

// -----

// CHECK-LABEL: func.func @nvfp4
// 3 / (1 * 0.5) = 6.
// CHECK: arith.constant dense<6.000000e+00> : tensor<1x16xf4E2M1FN
func.func @nvfp4() -> tensor<1x16xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>> {
  %x = arith.constant dense<3.0> : tensor<1x16xf32>
  %s = arith.constant dense<1.0> : tensor<1x1xf8E4M3FN>
  %g = arith.constant dense<0.5> : tensor<f32>
  %q = lq.quantize %x, %s global_scale %g : (tensor<1x16xf32>, tensor<1x1xf8E4M3FN>, tensor<f32>) -> tensor<1x16xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>
  return %q : tensor<1x16xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>
}

// -----

// CHECK-LABEL: func.func @big
// More than 256 codes: a packed blob, two 4-bit codes (4 = 1/0.25) per byte.
// CHECK: arith.constant dense_resource<[[BLOB:.+]]> : tensor<16x32xi4
// CHECK: [[BLOB]]: "0x08000000{{(44)+}}"
func.func @big() -> tensor<16x32xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 16>> {
  %x = arith.constant dense<1.0> : tensor<16x32xf32>
  %s = arith.constant dense<0.25> : tensor<16x2xf32>
  %q = lq.quantize %x, %s : (tensor<16x32xf32>, tensor<16x2xf32>) -> tensor<16x32xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 16>>
  return %q : tensor<16x32xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 16>>
}

// -----

// CHECK-LABEL: func.func @quantize_of_dequantize
// CHECK-SAME: (%[[Q:[^:]+]]: tensor
// CHECK-NEXT: return %[[Q]]
func.func @quantize_of_dequantize(%q: tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>, %s: tensor<4x2xf16>) -> tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>> {
  %d = lq.dequantize %q, %s : (tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>, tensor<4x2xf16>) -> tensor<4x64xf32>
  %r = lq.quantize %d, %s : (tensor<4x64xf32>, tensor<4x2xf16>) -> tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>
  return %r : tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>
}

// -----

// Different scales: the round trip is not the identity.
// CHECK-LABEL: func.func @quantize_of_dequantize_other_scales
// CHECK: lq.dequantize
// CHECK: lq.quantize
func.func @quantize_of_dequantize_other_scales(%q: tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>, %s: tensor<4x2xf16>, %s2: tensor<4x2xf16>) -> tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>> {
  %d = lq.dequantize %q, %s : (tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>, tensor<4x2xf16>) -> tensor<4x64xf32>
  %r = lq.quantize %d, %s2 : (tensor<4x64xf32>, tensor<4x2xf16>) -> tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>
  return %r : tensor<4x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32>>
}

// -----

// dequantize(quantize(x)) is lossy and must stay.
// CHECK-LABEL: func.func @dequantize_of_quantize
// CHECK: lq.quantize
// CHECK: lq.dequantize
func.func @dequantize_of_quantize(%x: tensor<8xf32>, %s: tensor<f32>) -> tensor<8xf32> {
  %q = lq.quantize %x, %s : (tensor<8xf32>, tensor<f32>) -> tensor<8xi8, #lq.scheme<format = int, bits = 8>>
  %d = lq.dequantize %q, %s : (tensor<8xi8, #lq.scheme<format = int, bits = 8>>, tensor<f32>) -> tensor<8xf32>
  return %d : tensor<8xf32>
}
