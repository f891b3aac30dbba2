// --quantize-activations with run-time scales (lq.compute_scales): dynamic
// int8/FP8 per tensor or per token, and MXFP4 / NVFP4 block scales.
// RUN: quant-opt %s --quantize-activations="granularity=per-token" | FileCheck %s --check-prefix=TOKEN
// RUN: quant-opt %s --quantize-activations="format=fp8-e4m3 mode=dynamic" | FileCheck %s --check-prefix=DYN
// RUN: quant-opt %s --quantize-activations="format=int4 granularity=per-token mode=dynamic" | FileCheck %s --check-prefix=INT4
// RUN: quant-opt %s --quantize-activations="format=int4" | FileCheck %s --check-prefix=INT4
// RUN: quant-opt %s --quantize-activations="format=mxfp4" | FileCheck %s --check-prefix=MX
// RUN: quant-opt %s --quantize-activations="format=nvfp4" | FileCheck %s --check-prefix=NV
// RUN: quant-opt %s --quantize-activations="format=nvfp4 mode=dynamic" | FileCheck %s --check-prefix=NVDYN

// Dynamic int8 per token: one scale per row of K, computed at run time; the
// output projection (last linear) keeps a float input.
// TOKEN-LABEL: func.func @fp4
// TOKEN: %[[S:.+]] = lq.compute_scales %[[X:[^ ]+]] for <format = int, bits = 8, axis = 2, group = 64> : (tensor<1x3x64xf32>) -> tensor<1x3x1xf32>
// TOKEN: %[[Q:.+]] = lq.quantize %[[X]], %[[S]] : (tensor<1x3x64xf32>, tensor<1x3x1xf32>) -> tensor<1x3x64xi8, #lq.scheme<format = int, bits = 8, axis = 2, group = 64>>
// TOKEN: %[[D:.+]] = lq.dequantize %[[Q]], %[[S]]
// TOKEN: %[[Y:.+]] = lq.linear %[[D]]
// TOKEN-NOT: lq.quantize
// TOKEN: lq.linear %[[Y]]
// Dynamic int4 per token (W4A4's activations; per token is int4's default):
// symmetric codes, one scale amax / 7 per row of K.
// INT4-LABEL: func.func @fp4
// INT4: %[[S:.+]] = lq.compute_scales %[[X:[^ ]+]] for <format = int, bits = 4, axis = 2, group = 64> : (tensor<1x3x64xf32>) -> tensor<1x3x1xf32>
// INT4: %[[Q:.+]] = lq.quantize %[[X]], %[[S]] : (tensor<1x3x64xf32>, tensor<1x3x1xf32>) -> tensor<1x3x64xi4, #lq.scheme<format = int, bits = 4, axis = 2, group = 64>>
// INT4: %[[D:.+]] = lq.dequantize %[[Q]], %[[S]]
// INT4: %[[Y:.+]] = lq.linear %[[D]]
// INT4-NOT: lq.quantize
// INT4: lq.linear %[[Y]]
// DYN-LABEL: func.func @fp4
// DYN: lq.compute_scales %{{.+}} for <format = fp8_e4m3> : (tensor<1x3x64xf32>) -> tensor<f32>

// FP4: block scales per 32 (MX, E8M0) / 16 (NVFP4, E4M3) along K, computed
// at run time; NVFP4's tensor scale 6.72 / (448 * 6) = 0.0025 comes from
// calibration (NV) or is computed too (NVDYN).
// MX-LABEL: func.func @fp4
// MX: %[[S:.+]] = lq.compute_scales %{{.+}} for <format = mxfp4, axis = 2, group = 32> : (tensor<1x3x64xf32>) -> tensor<1x3x2xf8E8M0FNU>
// MX: %[[Q:.+]] = lq.quantize %{{.+}}, %[[S]] : (tensor<1x3x64xf32>, tensor<1x3x2xf8E8M0FNU>) -> tensor<1x3x64xf4E2M1FN, #lq.scheme<format = mxfp4, axis = 2, group = 32>>
// MX: lq.dequantize %[[Q]], %[[S]]
// NV-LABEL: func.func @fp4
// NV: %[[G:.+]] = arith.constant dense<2.500000e-03> : tensor<f32>
// NV: %[[S:.+]] = lq.compute_scales %{{.+}} global_scale %[[G]] for <format = nvfp4, axis = 2, group = 16> : (tensor<1x3x64xf32>, tensor<f32>) -> tensor<1x3x4xf8E4M3FN>
// NV: %[[Q:.+]] = lq.quantize %{{.+}}, %[[S]] global_scale %[[G]]
// NV: lq.dequantize %[[Q]], %[[S]] global_scale %[[G]]
// NVDYN-LABEL: func.func @fp4
// NVDYN: %[[G:.+]] = lq.compute_scales %[[X:[^ ]+]] for <format = nvfp4, axis = 2, group = 16> : (tensor<1x3x64xf32>) -> tensor<f32>
// NVDYN: %[[S:.+]] = lq.compute_scales %[[X]] global_scale %[[G]] for <format = nvfp4, axis = 2, group = 16>
// NVDYN: lq.quantize %[[X]], %[[S]] global_scale %[[G]]
func.func @fp4(%x: tensor<1x3x64xf32>) -> tensor<1x3x64xf32> {
  %w = arith.constant dense<1.0> : tensor<64x64xf32>
  %y = lq.linear %x, %w {lq.act_range = array<f32: -6.72, 1.0>} : (tensor<1x3x64xf32>, tensor<64x64xf32>) -> tensor<1x3x64xf32>
  %z = lq.linear %y, %w : (tensor<1x3x64xf32>, tensor<64x64xf32>) -> tensor<1x3x64xf32>
  return %z : tensor<1x3x64xf32>
}
