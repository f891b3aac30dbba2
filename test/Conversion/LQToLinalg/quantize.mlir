// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// Integers: x / s rounded half to even, plus the zero point, clamped to the
// code range; a zero scale or a NaN quotient gives the zero point.
// CHECK-DAG: #[[$G4:.+]] = affine_map<(d0, d1) -> (d0, d1 floordiv 4)>
// CHECK-LABEL: func.func @int4_asym
// CHECK-SAME: -> tensor<2x8xi4>
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$G4]], #[[$G4]], #{{.+}}]{{.*}} outs(%{{.+}} : tensor<2x8xi4>)
// CHECK: ^bb0(%[[X:.+]]: f32, %[[S:.+]]: f32, %[[Z:.+]]: i8, %{{.+}}: i4):
// CHECK: %[[ZERO_SCALE:.+]] = arith.cmpf oeq, %[[S]], %{{.+}} : f32
// CHECK: %[[V:.+]] = arith.divf %[[X]], %[[S]] : f32
// CHECK: %[[ZI:.+]] = arith.extsi %[[Z]] : i8 to i32
// CHECK: %[[ZF:.+]] = arith.sitofp %[[ZI]] : i32 to f32
// CHECK: %[[R:.+]] = math.roundeven %[[V]] : f32
// CHECK: %[[Q:.+]] = arith.addf %[[R]], %[[ZF]] : f32
// CHECK: %[[NAN:.+]] = arith.cmpf uno, %[[V]], %[[V]] : f32
// CHECK: %[[MISSING:.+]] = arith.ori %[[ZERO_SCALE]], %[[NAN]] : i1
// CHECK: %[[Q2:.+]] = arith.select %[[MISSING]], %[[ZF]], %[[Q]] : f32
// CHECK: %[[LO:.+]] = arith.maximumf %[[Q2]], %{{.+}} : f32
// CHECK: %[[HI:.+]] = arith.minimumf %[[LO]], %{{.+}} : f32
// CHECK: %[[I:.+]] = arith.fptosi %[[HI]] : f32 to i32
// CHECK: %[[C:.+]] = arith.trunci %[[I]] : i32 to i4
// CHECK: linalg.yield %[[C]] : i4
func.func @int4_asym(%x: tensor<2x8xf32>, %s: tensor<2x2xf32>, %z: tensor<2x2xi8>) -> tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 4, symmetric = false>> {
  %q = lq.quantize %x, %s zero_point %z : (tensor<2x8xf32>, tensor<2x2xf32>, tensor<2x2xi8>) -> tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 4, symmetric = false>>
  return %q : tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 4, symmetric = false>>
}

// -----

// Symmetric int8 clamps to [-128, 127].
// CHECK-LABEL: func.func @int8_sym
// CHECK: arith.constant -1.280000e+02 : f32
// CHECK: arith.constant 1.270000e+02 : f32
// CHECK: arith.trunci %{{.+}} : i32 to i8
func.func @int8_sym(%x: tensor<4xf32>, %s: tensor<f32>) -> tensor<4xi8, #lq.scheme<format = int, bits = 8>> {
  %q = lq.quantize %x, %s : (tensor<4xf32>, tensor<f32>) -> tensor<4xi8, #lq.scheme<format = int, bits = 8>>
  return %q : tensor<4xi8, #lq.scheme<format = int, bits = 8>>
}

// -----

// FP8 E4M3FN: round to nearest even on the bits, saturate at 448 (code 126),
// NaN gives 127; the code is bitcast to the storage type.
// CHECK-LABEL: func.func @fp8_e4m3
// CHECK-SAME: -> tensor<8xf8E4M3FN>
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK: math.roundeven
// CHECK: %[[MAX:.+]] = arith.constant 4.480000e+02 : f32
// CHECK: %[[SAT:.+]] = arith.cmpf oge, %{{.+}}, %[[MAX]] : f32
// CHECK: arith.constant 126 : i32
// CHECK: arith.cmpf uno
// CHECK: arith.constant 127 : i32
// CHECK: %[[T:.+]] = arith.trunci %{{.+}} : i32 to i8
// CHECK: %[[C:.+]] = arith.bitcast %[[T]] : i8 to f8E4M3FN
// CHECK: linalg.yield %[[C]] : f8E4M3FN
func.func @fp8_e4m3(%x: tensor<8xf16>, %s: tensor<f32>) -> tensor<8xf8E4M3FN, #lq.scheme<format = fp8_e4m3>> {
  %q = lq.quantize %x, %s : (tensor<8xf16>, tensor<f32>) -> tensor<8xf8E4M3FN, #lq.scheme<format = fp8_e4m3>>
  return %q : tensor<8xf8E4M3FN, #lq.scheme<format = fp8_e4m3>>
}

// -----

// NF4: the index of the nearest codebook entry counts the midpoints below the
// value (compared in f64); NaN gives 7.
// CHECK-LABEL: func.func @nf4
// CHECK: arith.extf %{{.+}} : f32 to f64
// CHECK-COUNT-15: arith.cmpf ogt
// CHECK: arith.constant 7 : i32
// CHECK: arith.trunci %{{.+}} : i32 to i4
func.func @nf4(%x: tensor<64xf32>, %s: tensor<1xf32>) -> tensor<64xi4, #lq.scheme<format = nf4, axis = 0, group = 64>> {
  %q = lq.quantize %x, %s : (tensor<64xf32>, tensor<1xf32>) -> tensor<64xi4, #lq.scheme<format = nf4, axis = 0, group = 64>>
  return %q : tensor<64xi4, #lq.scheme<format = nf4, axis = 0, group = 64>>
}

// -----

// MXFP4 with E8M0 scales: the encoder targets E2M1 (max 6, code 7).
// CHECK-LABEL: func.func @mxfp4
// CHECK: arith.bitcast %{{.+}} : f8E8M0FNU to i8
// CHECK: arith.constant 6.000000e+00 : f32
// CHECK: arith.trunci %{{.+}} : i32 to i4
// CHECK: arith.bitcast %{{.+}} : i4 to f4E2M1FN
func.func @mxfp4(%x: tensor<2x32xf32>, %s: tensor<2x1xf8E8M0FNU>) -> tensor<2x32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>> {
  %q = lq.quantize %x, %s : (tensor<2x32xf32>, tensor<2x1xf8E8M0FNU>) -> tensor<2x32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>
  return %q : tensor<2x32xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>
}
