// RUN: quant-opt %s --split-input-file --quantize-weights="bits=4 group=4" | FileCheck %s
// RUN: quant-opt %s --split-input-file --quantize-weights="bits=4 group=4 sym=false" | FileCheck %s --check-prefix=ASYM
// RUN: not quant-opt %s --split-input-file --quantize-weights="format=mxfp4" 2>&1 | FileCheck %s --check-prefix=MX
// RUN: not quant-opt %s --split-input-file --quantize-weights="format=mxfp4 group=64" 2>&1 | FileCheck %s --check-prefix=MXG
// RUN: not quant-opt %s --split-input-file --quantize-weights="format=nvfp4 lm-head=same" 2>&1 | FileCheck %s --check-prefix=NV
// RUN: quant-opt %s --split-input-file --quantize-weights="bits=8 group=-1" | FileCheck %s --check-prefix=CHAN

// Symmetric int4, groups of 4: the first row's groups are [1 2 3 7] (scale
// 7/7 = 1: codes 1 2 3 7) and [-14 0 0 7] (scale 14/7 = 2: codes -7 0 0 4
// since 3.5 rounds to 4); the second row is constant (codes 7).
// CHECK-NOT: tensor<2x8xf32> = dense
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[Q:.+]] = arith.constant dense<{{\[}}[1, 2, 3, 7, -7, 0, 0, 4], [7, 7, 7, 7, 7, 7, 7, 7]]> : tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 4>>
// CHECK-DAG: %[[S:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [0.0204081573, 0.0204081573]]> : tensor<2x2xf32>
// CHECK: %[[W:.+]] = lq.dequantize %[[Q]], %[[S]] : (tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 4>>, tensor<2x2xf32>) -> tensor<2x8xf32>
// CHECK: lq.linear %{{.+}}, %[[W]]

// Asymmetric: ranges include 0; group [1 2 3 7]: scale 7/15, zero point 0.
// ASYM-LABEL: func.func @linear
// ASYM: tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 4, symmetric = false>>
// ASYM: lq.dequantize %{{.+}}, %{{.+}} zero_point %{{.+}} : (tensor<2x8xi4, {{.+}}>, tensor<2x2xf32>, tensor<2x2xi32>) -> tensor<2x8xf32>

// MXFP4 needs groups of 32; K = 8 does not divide into them.
// MX: error: group 32 does not divide the weight's K (8)
// MXG: error: format 'mxfp4' uses groups of 32, got group=64

// NV: error: group 16 does not divide the weight's K (8)

// CHAN: tensor<2x8xi8, #lq.scheme<format = int, bits = 8, axis = 0>>
// CHAN: tensor<2x1xf32>
func.func @linear(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 7.0, -14.0, 0.0, 0.0, 7.0], [0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571]]> : tensor<2x8xf32>
  %y = lq.linear %x, %w : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// The output projection (its result is returned) gets int8 per channel.
// CHECK-LABEL: func.func @lm_head
// CHECK: tensor<2x8xi8, #lq.scheme<format = int, bits = 8, axis = 0>>
func.func @lm_head(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x8xf32>
  %y = lq.linear %x, %w : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
