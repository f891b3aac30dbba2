// RUN: quant-opt %s --split-input-file --static-kv-cache="capacity=16" -verify-diagnostics
// RUN: not quant-opt %s --split-input-file --static-kv-cache="capacity=0" 2>&1 | FileCheck %s --check-prefix=CAP
// CAP: 'capacity' must be a positive number of tokens, got 0

// expected-error @+1 {{found no KV cache}}
func.func @no_cache(%x: tensor<1x1x2x4xf32>) -> tensor<1x1x2x4xf32> {
  return %x : tensor<1x1x2x4xf32>
}

// -----

func.func @read_elsewhere(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x1x4xf32>,
                          %pk: tensor<1x1x1x4xf32>) -> (tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x2x4xf32>
  // expected-error @+1 {{a cache is read by 'arith.addf'}}
  %s = arith.addf %kc, %kc : tensor<1x1x2x4xf32>
  return %s, %kc : tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>
}

// -----

func.func @not_returned(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x1x4xf32>,
                        %pk: tensor<1x1x1x4xf32>) -> tensor<1x1x1x4xf32> {
  // expected-error @+1 {{the updated cache is not returned}}
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x1x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x2x4xf32>
  %o = lq.attention %q, %kc, %kc : (tensor<1x1x1x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x1x4xf32>
  return %o : tensor<1x1x1x4xf32>
}

// -----

// Rows of positions 1 and 2 where the second is not cos/sin(2θ).
func.func @not_rope(%q: tensor<1x1x2x4xf32>, %k: tensor<1x1x2x4xf32>,
                    %pk: tensor<1x1x1x4xf32>) -> (tensor<1x1x2x4xf32>, tensor<1x1x3x4xf32>) {
  %cos = arith.constant dense<[[0.540302306, 0.99995], [0.3, 0.9998]]> : tensor<2x2xf32>
  %sin = arith.constant dense<[[0.841470957, 0.00999983307], [0.9, 0.02]]> : tensor<2x2xf32>
  // expected-error @+1 {{not cos/sin(p * theta) (row of position 2, column 0)}}
  %kr = lq.rotary %k, %cos, %sin : tensor<1x1x2x4xf32>, tensor<2x2xf32>
  %kc = tensor.concat dim(2) %pk, %kr : (tensor<1x1x1x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x3x4xf32>
  %o = lq.attention %q, %kc, %kc {causal} : (tensor<1x1x2x4xf32>, tensor<1x1x3x4xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x2x4xf32>
  return %o, %kc : tensor<1x1x2x4xf32>, tensor<1x1x3x4xf32>
}

// -----

// One row at position 3: 3θ mod 2π does not determine θ.
func.func @ambiguous(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x1x4xf32>,
                     %pk: tensor<1x1x3x4xf32>) -> (tensor<1x1x1x4xf32>, tensor<1x1x4x4xf32>) {
  %cos = arith.constant dense<[[-0.989992499, 0.99955]]> : tensor<1x2xf32>
  %sin = arith.constant dense<[[0.141120002, 0.0299955]]> : tensor<1x2xf32>
  // expected-error @+1 {{does not determine the frequencies}}
  %kr = lq.rotary %k, %cos, %sin : tensor<1x1x1x4xf32>, tensor<1x2xf32>
  %kc = tensor.concat dim(2) %pk, %kr : (tensor<1x1x3x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x4x4xf32>
  %o = lq.attention %q, %kc, %kc : (tensor<1x1x1x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x1x1x4xf32>
  return %o, %kc : tensor<1x1x1x4xf32>, tensor<1x1x4x4xf32>
}

// -----

// expected-error @+1 {{'capacity' (16) is smaller than the step's 32 new tokens}}
func.func @too_small(%q: tensor<1x1x32x4xf32>, %k: tensor<1x1x32x4xf32>,
                     %pk: tensor<1x1x1x4xf32>) -> (tensor<1x1x32x4xf32>, tensor<1x1x33x4xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x1x4xf32>, tensor<1x1x32x4xf32>) -> tensor<1x1x33x4xf32>
  %o = lq.attention %q, %kc, %kc {causal} : (tensor<1x1x32x4xf32>, tensor<1x1x33x4xf32>, tensor<1x1x33x4xf32>) -> tensor<1x1x32x4xf32>
  return %o, %kc : tensor<1x1x32x4xf32>, tensor<1x1x33x4xf32>
}
