// RUN: quant-opt %s --convert-lq-to-linalg --split-input-file --verify-diagnostics

// Head counts pick the GQA mapping h -> h / (Hq / Hkv); they must be static.
func.func @attention_dynamic_heads(%q: tensor<1x?x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x?x4x8xf32> {
  // expected-error @+1 {{'lq.attention' op head counts must be static to lower}}
  %o = lq.attention %q, %k, %v : (tensor<1x?x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x?x4x8xf32>
  return %o : tensor<1x?x4x8xf32>
}

// -----

// Graph ops compute on f16, bf16, f32 or f64 tensors only.
func.func @linear_fp8(%x: tensor<2x4xf8E4M3FN>, %w: tensor<3x4xf8E4M3FN>) -> tensor<2x3xf8E4M3FN> {
  // expected-error @+1 {{'lq.linear' op element type 'f8E4M3FN' is not supported by the CPU lowering (expected f16, bf16, f32 or f64)}}
  %y = lq.linear %x, %w : (tensor<2x4xf8E4M3FN>, tensor<3x4xf8E4M3FN>) -> tensor<2x3xf8E4M3FN>
  return %y : tensor<2x3xf8E4M3FN>
}

// -----

func.func @rms_norm_fp8(%x: tensor<2x4xf8E5M2>, %g: tensor<4xf8E5M2>) -> tensor<2x4xf8E5M2> {
  // expected-error @+1 {{'lq.rms_norm' op element type 'f8E5M2' is not supported by the CPU lowering}}
  %y = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<2x4xf8E5M2>, tensor<4xf8E5M2>
  return %y : tensor<2x4xf8E5M2>
}

// -----

func.func @dequantize_to_fp8(%q: tensor<4xi8, #lq.scheme<format = int, bits = 8>>, %s: tensor<f32>) -> tensor<4xf8E4M3FN> {
  // expected-error @+1 {{'lq.dequantize' op element type 'f8E4M3FN' is not supported by the CPU lowering}}
  %d = lq.dequantize %q, %s : (tensor<4xi8, #lq.scheme<format = int, bits = 8>>, tensor<f32>) -> tensor<4xf8E4M3FN>
  return %d : tensor<4xf8E4M3FN>
}

// -----

// Ops outside lq with regions that carry quantized types have no lowering
// (region-free ones, e.g. tensor.insert_slice into a quantized KV cache, are
// recreated with the storage type: quantized-tensor-ops.mlir).
func.func @if_of_quantized(%c: i1, %q: tensor<4xi8, #lq.scheme<format = int, bits = 8>>) -> tensor<4xi8, #lq.scheme<format = int, bits = 8>> {
  // expected-error @+1 {{failed to legalize operation 'scf.if'}}
  %r = scf.if %c -> tensor<4xi8, #lq.scheme<format = int, bits = 8>> {
    scf.yield %q : tensor<4xi8, #lq.scheme<format = int, bits = 8>>
  } else {
    scf.yield %q : tensor<4xi8, #lq.scheme<format = int, bits = 8>>
  }
  return %r : tensor<4xi8, #lq.scheme<format = int, bits = 8>>
}
