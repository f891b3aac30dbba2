// RUN: quant-opt %s --split-input-file --quarot --verify-diagnostics

// Norms must be folded first.
func.func @unfolded(%ids: tensor<1x3xi64>, %E: tensor<8x4xf32>) -> tensor<1x3x8xf32> {
  %Et = arith.constant dense<0.5> : tensor<8x4xf32>
  %g = arith.constant dense<2.0> : tensor<4xf32>
  %W = arith.constant dense<0.1> : tensor<8x4xf32>
  %x = lq.embedding %Et, %ids : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  // expected-error @+1 {{quarot: lq.rms_norm with a scale other than ones: run --fold-norms first}}
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %y = lq.linear %n, %W : (tensor<1x3x4xf32>, tensor<8x4xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

// -----

// The residual stream feeds an op the pass cannot push a rotation through.
func.func @stream_reader(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
  %Et = arith.constant dense<0.5> : tensor<8x4xf32>
  %W = arith.constant dense<0.1> : tensor<4x4xf32>
  %x = lq.embedding %Et, %ids : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %e = tensor.empty() : tensor<1x3x4xf32>
  // expected-error @+1 {{quarot: the residual stream is read by 'linalg.generic', which cannot be rotated}}
  %s = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<1x3x4xf32>) outs(%e : tensor<1x3x4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %t = math.tanh %i : f32
    linalg.yield %t : f32
  } -> tensor<1x3x4xf32>
  %y = lq.linear %s, %W : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// A hidden size without a Hadamard matrix.
func.func @size(%ids: tensor<1x3xi64>) -> tensor<1x3x4xf32> {
  %Et = arith.constant dense<0.5> : tensor<8x44xf32>
  %W = arith.constant dense<0.1> : tensor<4x44xf32>
  // expected-error @+1 {{quarot: hidden size 44 has no Hadamard matrix}}
  %x = lq.embedding %Et, %ids : (tensor<8x44xf32>, tensor<1x3xi64>) -> tensor<1x3x44xf32>
  %y = lq.linear %x, %W : (tensor<1x3x44xf32>, tensor<4x44xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}

// -----

// Weights already quantized.
func.func @quantized(%ids: tensor<1x3xi64>, %W: tensor<4x4xf32>) -> tensor<1x3x4xf32> {
  %Et = arith.constant dense<0.5> : tensor<8x4xf32>
  %ones = arith.constant dense<1.0> : tensor<4xf32>
  %x = lq.embedding %Et, %ids : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %n = lq.rms_norm %x, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  // expected-error @+1 {{quarot: the weight of a norm reader is not a constant f32 tensor (run --quarot before quantizing the weights)}}
  %y = lq.linear %n, %W : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  return %y : tensor<1x3x4xf32>
}
