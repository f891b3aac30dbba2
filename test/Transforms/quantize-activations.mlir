// RUN: quant-opt %s --split-input-file --quantize-activations --verify-diagnostics | FileCheck %s
// RUN: quant-opt %s --split-input-file --quantize-activations="format=fp8-e4m3" --verify-diagnostics | FileCheck %s --check-prefix=FP8

// Range [-2, 6.35]: scale 6.35 / 127 = 0.05; the last linear (the output
// projection) keeps a float input.
// CHECK-LABEL: func.func @w8a8
// CHECK: %[[S:.+]] = arith.constant dense<5.000000e-02> : tensor<f32>
// CHECK: %[[Q:.+]] = lq.quantize %{{.+}}, %[[S]] : (tensor<3x2xf32>, tensor<f32>) -> tensor<3x2xi8, #lq.scheme<format = int, bits = 8>>
// CHECK: %[[D:.+]] = lq.dequantize %[[Q]], %[[S]]
// CHECK: %[[Y:.+]] = lq.linear %[[D]]
// CHECK-NOT: lq.quantize
// CHECK: lq.linear %[[Y]]
// FP8-LABEL: func.func @w8a8
// FP8: lq.quantize %{{.+}} : (tensor<3x2xf32>, tensor<f32>) -> tensor<3x2xf8E4M3FN, #lq.scheme<format = fp8_e4m3>>
func.func @w8a8(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %y = lq.linear %x, %w {lq.act_range = array<f32: -2.0, 6.35>} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %z = lq.linear %y, %w {lq.act_range = array<f32: -2.0, 6.35>} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

func.func @uncalibrated(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  // expected-error @+1 {{quantize-activations needs 'lq.act_range' (run --calibrate first)}}
  %y = lq.linear %x, %w : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}
