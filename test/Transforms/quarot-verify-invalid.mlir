// verify=true runs the whole model: a module it cannot run is an error
// naming why, before anything is rotated.
// RUN: quant-opt %s --split-input-file --quarot="verify=true r2=false r3=false r4=false" --verify-diagnostics

// Another function with a body: the JIT'd copy could not hold both.
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
// expected-error @+1 {{quarot verify: JIT-runs the module, which must have no function with a body besides the entry (found '@helper')}}
func.func @model(%ids: tensor<1x3xi64>) -> tensor<1x3x8xf32> {
  %E = arith.constant dense<0.5> : tensor<8x4xf32>
  %ones = arith.constant dense<1.0> : tensor<4xf32>
  %W = arith.constant dense<0.1> : tensor<8x4xf32>
  %x = lq.embedding %E, %ids : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %n = lq.rms_norm %x, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %y = lq.linear %n, %W : (tensor<1x3x4xf32>, tensor<8x4xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

// -----

// A second non-empty input: verify feeds token ids only.
// expected-error @+1 {{quarot verify: the model must take [1, T] int64 token ids as its only non-empty input}}
func.func @model(%ids: tensor<1x3xi64>, %bias: tensor<8xf32>) -> tensor<1x3x8xf32> {
  %E = arith.constant dense<0.5> : tensor<8x4xf32>
  %ones = arith.constant dense<1.0> : tensor<4xf32>
  %W = arith.constant dense<0.1> : tensor<8x4xf32>
  %x = lq.embedding %E, %ids : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %n = lq.rms_norm %x, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %y = lq.linear %n, %W bias %bias : (tensor<1x3x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}

// -----

// Logits must be the first result, static f32.
// expected-error @+1 {{quarot verify: needs static f32 logits as the entry's first result}}
func.func @model(%ids: tensor<1x3xi64>) -> tensor<1x3xi64> {
  %E = arith.constant dense<0.5> : tensor<8x4xf32>
  %ones = arith.constant dense<1.0> : tensor<4xf32>
  %W = arith.constant dense<0.1> : tensor<8x4xf32>
  %x = lq.embedding %E, %ids : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %n = lq.rms_norm %x, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %y = lq.linear %n, %W : (tensor<1x3x4xf32>, tensor<8x4xf32>) -> tensor<1x3x8xf32>
  return %ids : tensor<1x3xi64>
}
