// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file | FileCheck %s --implicit-check-not=lq.

// Asymmetric int4 in groups of 32 along axis 1: unsigned codes minus the zero
// point, times the f16 scale; scale index = (i, j floordiv 32).
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$G32:.+]] = affine_map<(d0, d1) -> (d0, d1 floordiv 32)>
// CHECK-LABEL: func.func @int4_asym_group
// CHECK-SAME: (%[[Q:.+]]: tensor<2x64xi4>, %[[S:.+]]: tensor<2x2xf16>, %[[Z:.+]]: tensor<2x2xi8>)
// CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$G32]], #[[$G32]], #[[$ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[Q]], %[[S]], %[[Z]] : tensor<2x64xi4>, tensor<2x2xf16>, tensor<2x2xi8>) outs(%{{.+}} : tensor<2x64xf32>)
// CHECK: ^bb0(%[[C:.+]]: i4, %[[SC:.+]]: f16, %[[ZP:.+]]: i8, %{{.+}}: f32):
// CHECK: %[[SF:.+]] = arith.extf %[[SC]] : f16 to f32
// CHECK: %[[CI:.+]] = arith.extui %[[C]] : i4 to i32
// CHECK: %[[ZI:.+]] = arith.extsi %[[ZP]] : i8 to i32
// CHECK: %[[D:.+]] = arith.subi %[[CI]], %[[ZI]] : i32
// CHECK: %[[F:.+]] = arith.sitofp %[[D]] : i32 to f32
// CHECK: %[[V:.+]] = arith.mulf %[[F]], %[[SF]] : f32
// CHECK: linalg.yield %[[V]] : f32
func.func @int4_asym_group(%q: tensor<2x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32, symmetric = false>>, %s: tensor<2x2xf16>, %z: tensor<2x2xi8>) -> tensor<2x64xf32> {
  %d = lq.dequantize %q, %s zero_point %z : (tensor<2x64xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 32, symmetric = false>>, tensor<2x2xf16>, tensor<2x2xi8>) -> tensor<2x64xf32>
  return %d : tensor<2x64xf32>
}

// -----

// Symmetric int8 per channel (axis 0): signed codes; the scale's unit dim maps
// to 0.
// CHECK-DAG: #[[$CH:.+]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @int8_per_channel
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$CH]], #{{.+}}]
// CHECK: arith.extsi %{{.+}} : i8 to i32
// CHECK: arith.sitofp
func.func @int8_per_channel(%q: tensor<3x5xi8, #lq.scheme<format = int, bits = 8, axis = 0>>, %s: tensor<3x1xf32>) -> tensor<3x5xf32> {
  %d = lq.dequantize %q, %s : (tensor<3x5xi8, #lq.scheme<format = int, bits = 8, axis = 0>>, tensor<3x1xf32>) -> tensor<3x5xf32>
  return %d : tensor<3x5xf32>
}

// -----

// NF4 reads the QLoRA codebook from a constant table; bf16 scales, f16 result.
// CHECK-LABEL: func.func @nf4
// CHECK: %[[TABLE:.+]] = arith.constant dense<[-1.000000e+00, -0.6961928, {{.+}}, 0.722956836, 1.000000e+00]> : tensor<16xf32>
// CHECK: linalg.generic
// CHECK: ^bb0(%[[C:.+]]: i4, %[[SC:.+]]: bf16, %{{.+}}: f16):
// CHECK: %[[SF:.+]] = arith.extf %[[SC]] : bf16 to f32
// CHECK: %[[CI:.+]] = arith.extui %[[C]] : i4 to i32
// CHECK: %[[I:.+]] = arith.index_castui %[[CI]] : i32 to index
// CHECK: %[[V:.+]] = tensor.extract %[[TABLE]][%[[I]]] : tensor<16xf32>
// CHECK: %[[M:.+]] = arith.mulf %[[V]], %[[SF]] : f32
// CHECK: arith.truncf %[[M]] : f32 to f16
func.func @nf4(%q: tensor<2x128xi4, #lq.scheme<format = nf4, axis = 1, group = 64>>, %s: tensor<2x2xbf16>) -> tensor<2x128xf16> {
  %d = lq.dequantize %q, %s : (tensor<2x128xi4, #lq.scheme<format = nf4, axis = 1, group = 64>>, tensor<2x2xbf16>) -> tensor<2x128xf16>
  return %d : tensor<2x128xf16>
}

// -----

// FP8 E4M3FN is decoded bit by bit: exponent rebias 127 - 7 = 120, subnormals
// m * 2^-9, S.1111.111 is NaN.
// CHECK-LABEL: func.func @fp8_e4m3_blocks
// CHECK-SAME: (%{{.+}}: tensor<256x256xf8E4M3FN>, %{{.+}}: tensor<2x2xf32>)
// CHECK: linalg.generic
// CHECK: ^bb0(%[[C:.+]]: f8E4M3FN, %{{.+}}: f32, %{{.+}}: f32):
// CHECK: %[[BITS:.+]] = arith.bitcast %[[C]] : f8E4M3FN to i8
// CHECK: arith.extui %[[BITS]] : i8 to i32
// CHECK: arith.constant 120 : i32
// CHECK: arith.constant 0.001953125 : f32
// CHECK: arith.constant 127 : i32
// CHECK: arith.constant 0x7FC00000 : f32
// CHECK: arith.negf
func.func @fp8_e4m3_blocks(%q: tensor<256x256xf8E4M3FN, #lq.scheme<format = fp8_e4m3, block = [128, 128]>>, %s: tensor<2x2xf32>) -> tensor<256x256xf32> {
  %d = lq.dequantize %q, %s : (tensor<256x256xf8E4M3FN, #lq.scheme<format = fp8_e4m3, block = [128, 128]>>, tensor<2x2xf32>) -> tensor<256x256xf32>
  return %d : tensor<256x256xf32>
}

// -----

// MXFP4: E2M1 codes times 2^(e - 127) from the E8M0 scale (0 -> 2^-127,
// 255 -> NaN).
// CHECK-LABEL: func.func @mxfp4
// CHECK: ^bb0(%[[C:.+]]: f4E2M1FN, %[[SC:.+]]: f8E8M0FNU, %{{.+}}: f32):
// CHECK: %[[SB:.+]] = arith.bitcast %[[SC]] : f8E8M0FNU to i8
// CHECK: %[[SI:.+]] = arith.extui %[[SB]] : i8 to i32
// CHECK: %[[SH:.+]] = arith.shli %[[SI]], %{{.+}} : i32
// CHECK: arith.constant 4194304 : i32
// CHECK: arith.constant 2143289344 : i32
// CHECK: %[[SCALE:.+]] = arith.bitcast %{{.+}} : i32 to f32
// CHECK: arith.bitcast %[[C]] : f4E2M1FN to i4
// CHECK: %[[V:.+]] = arith.mulf %{{.+}}, %[[SCALE]] : f32
// CHECK: linalg.yield %[[V]] : f32
func.func @mxfp4(%q: tensor<2x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>, %s: tensor<2x2xf8E8M0FNU>) -> tensor<2x64xf32> {
  %d = lq.dequantize %q, %s : (tensor<2x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 1, group = 32>>, tensor<2x2xf8E8M0FNU>) -> tensor<2x64xf32>
  return %d : tensor<2x64xf32>
}

// -----

// NVFP4: the E4M3 block scale times the f32 tensor scale, then times the code.
// CHECK-DAG: #[[$G16:.+]] = affine_map<(d0, d1) -> (d0, d1 floordiv 16)>
// CHECK-DAG: #[[$GLOBAL:.+]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @nvfp4
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$G16]], #[[$GLOBAL]], #{{.+}}]
// CHECK: ^bb0(%{{.+}}: f4E2M1FN, %[[SC:.+]]: f8E4M3FN, %[[G:.+]]: f32, %{{.+}}: f32):
// CHECK: arith.bitcast %[[SC]] : f8E4M3FN to i8
// CHECK: %[[D:.+]] = arith.mulf %{{.+}}, %[[G]] : f32
// CHECK: %[[V:.+]] = arith.mulf %{{.+}}, %[[D]] : f32
// CHECK: linalg.yield %[[V]]
func.func @nvfp4(%q: tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, %s: tensor<4x4xf8E4M3FN>, %g: tensor<f32>) -> tensor<4x64xf32> {
  %d = lq.dequantize %q, %s global_scale %g : (tensor<4x64xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 1, group = 16>>, tensor<4x4xf8E4M3FN>, tensor<f32>) -> tensor<4x64xf32>
  return %d : tensor<4x64xf32>
}

// -----

// Dynamic shapes: per-tensor rank-0 scale, result sized from the input.
// CHECK-DAG: #[[$SCALAR:.+]] = affine_map<(d0) -> ()>
// CHECK-LABEL: func.func @fp8_e5m2_dynamic
// CHECK-SAME: (%[[Q:.+]]: tensor<?xf8E5M2>, %{{.+}}: tensor<f32>)
// CHECK: %[[N:.+]] = tensor.dim %[[Q]]
// CHECK: tensor.empty(%[[N]]) : tensor<?xf16>
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$SCALAR]], #{{.+}}]
// CHECK: arith.constant 0x7F800000 : f32
func.func @fp8_e5m2_dynamic(%q: tensor<?xf8E5M2, #lq.scheme<format = fp8_e5m2>>, %s: tensor<f32>) -> tensor<?xf16> {
  %d = lq.dequantize %q, %s : (tensor<?xf8E5M2, #lq.scheme<format = fp8_e5m2>>, tensor<f32>) -> tensor<?xf16>
  return %d : tensor<?xf16>
}
