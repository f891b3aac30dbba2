// lq.compute_scales: round trip and verifier errors.
// RUN: quant-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @ok
// CHECK: lq.compute_scales %{{.+}} for <format = int, bits = 8, axis = 1, group = 64> : (tensor<4x64xf32>) -> tensor<4x1xf32>
// CHECK: lq.compute_scales %{{.+}} for <format = mxfp4, axis = 1, group = 32> : (tensor<4x64xf32>) -> tensor<4x2xf8E8M0FNU>
// CHECK: %[[G:.+]] = lq.compute_scales %{{.+}} for <format = nvfp4, axis = 1, group = 16> : (tensor<4x64xf32>) -> tensor<f32>
// CHECK: lq.compute_scales %{{.+}} global_scale %[[G]] for <format = nvfp4, axis = 1, group = 16> : (tensor<4x64xf32>, tensor<f32>) -> tensor<4x4xf8E4M3FN>
// CHECK: lq.compute_scales %{{.+}} for <format = fp8_e4m3> : (tensor<4x64xf32>) -> tensor<f32>
func.func @ok(%x: tensor<4x64xf32>) {
  %0 = lq.compute_scales %x for <format = int, bits = 8, axis = 1, group = 64> : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %1 = lq.compute_scales %x for <format = mxfp4, axis = 1, group = 32> : (tensor<4x64xf32>) -> tensor<4x2xf8E8M0FNU>
  %g = lq.compute_scales %x for <format = nvfp4, axis = 1, group = 16> : (tensor<4x64xf32>) -> tensor<f32>
  %2 = lq.compute_scales %x global_scale %g for <format = nvfp4, axis = 1, group = 16> : (tensor<4x64xf32>, tensor<f32>) -> tensor<4x4xf8E4M3FN>
  %3 = lq.compute_scales %x for <format = fp8_e4m3> : (tensor<4x64xf32>) -> tensor<f32>
  return
}

// -----

func.func @bad_shape(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{'lq.compute_scales' op result must have shape [4, 2], got [4, 1]}}
  %0 = lq.compute_scales %x for <format = mxfp4, axis = 1, group = 32> : (tensor<4x64xf32>) -> tensor<4x1xf8E8M0FNU>
  return
}

// -----

func.func @bad_mx_type(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{'lq.compute_scales' op scales of format 'mxfp4' must be f8E8M0FNU, got 'f32'}}
  %0 = lq.compute_scales %x for <format = mxfp4, axis = 1, group = 32> : (tensor<4x64xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @nvfp4_no_global(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{'lq.compute_scales' op nvfp4 block scales need a 'global_scale'}}
  %0 = lq.compute_scales %x for <format = nvfp4, axis = 1, group = 16> : (tensor<4x64xf32>) -> tensor<4x4xf8E4M3FN>
  return
}

// -----

func.func @asymmetric(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{'lq.compute_scales' op asymmetric schemes need a zero point: compute_scales supports symmetric ones only}}
  %0 = lq.compute_scales %x for <format = int, bits = 8, axis = 1, group = 64, symmetric = false> : (tensor<4x64xf32>) -> tensor<4x1xf32>
  return
}

// -----

func.func @bad_group(%x: tensor<4x48xf32>) {
  // expected-error @+1 {{'lq.compute_scales' op scheme does not fit the input}}
  %0 = lq.compute_scales %x for <format = mxfp4, axis = 1, group = 32> : (tensor<4x48xf32>) -> tensor<4x1xf8E8M0FNU>
  return
}
