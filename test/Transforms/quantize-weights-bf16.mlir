// RUN: quant-opt %s --split-input-file --quantize-weights="format=bf16 lm-head=same" | FileCheck %s
// RUN: quant-opt %s --split-input-file --quantize-weights="format=bf16" | FileCheck %s --check-prefix=HEAD8
// RUN: not quant-opt %s --split-input-file --quantize-weights="format=bf16 group=32" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not quant-opt %s --split-input-file --quantize-weights="format=bf16 group=-1" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not quant-opt %s --split-input-file --quantize-weights="format=bf16 sym=false" 2>&1 | FileCheck %s --check-prefix=ASYM

// --quantize-weights format=bf16: every weight rounded once to bfloat16
// (nearest even, NaN kept), one per-tensor scale of 1.0. Row 0: 1.0 and -2.5
// are exact; 1.00390625 = 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes
// to the even 1.0; 1.01171875 = 1 + 3 * 2^-8 is a tie going up to
// 1 + 2^-6 = 1.015625. Row 1: 3.4e38 is above bf16's overflow threshold
// 0x1.ffp127 (halfway past its largest finite 0x1.fep127) and rounds to +Inf
// as IEEE rounding does; NaN stays NaN; -0.0 keeps its sign; 0.1 rounds to
// 0.10009765625.
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[Q:.+]] = arith.constant dense<{{\[}}[1.000000e+00, -2.500000e+00, 1.000000e+00, 1.015630e+00], [0x7F80, 0x7FC0, -0.000000e+00, 1.000980e-01]]> : tensor<2x4xbf16, #lq.scheme<format = bf16>>
// CHECK-DAG: %[[S:.+]] = arith.constant dense<1.000000e+00> : tensor<1x1xf32>
// CHECK: %[[W:.+]] = lq.dequantize %[[Q]], %[[S]] : (tensor<2x4xbf16, #lq.scheme<format = bf16>>, tensor<1x1xf32>) -> tensor<2x4xf32>
// CHECK: lq.linear %{{.+}}, %[[W]]

// The output projection: bf16 too with lm-head=same (the bf16 recipe), the
// pass's default int8 per channel otherwise.
// HEAD8-LABEL: func.func @linear
// HEAD8: tensor<2x4xbf16, #lq.scheme<format = bf16>>
// HEAD8-LABEL: func.func @head
// HEAD8: tensor<2x4xi8, #lq.scheme<format = int, bits = 8, axis = 0>>

// GROUP: error: format 'bf16' is per tensor: it takes no group, got group=
// ASYM: error: 'symmetric = false' needs format 'int', got 'bf16'
func.func @linear(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, -2.5, 1.00390625, 1.01171875], [3.4e38, 0x7FC00000, -0.0, 0.1]]> : tensor<2x4xf32>
  %y = lq.linear %x, %w : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// CHECK-LABEL: func.func @head
// CHECK: tensor<2x4xbf16, #lq.scheme<format = bf16>>
func.func @head(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %y = lq.linear %x, %w : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
