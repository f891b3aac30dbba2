// RUN: quant-opt %s --convert-lq-to-linalg --verify-diagnostics

// Blocks over 1024 are left to the runtime kernel, with an error naming why.
func.func @large(%x: tensor<1x2048xf32>) -> tensor<1x2048xf32> {
  // expected-error @+1 {{Hadamard block 2048 is over 1024: the dense linalg lowering would need a B x B constant; use the runtime kernel (--convert-lq-to-runtime)}}
  %y = lq.hadamard %x : tensor<1x2048xf32>
  return %y : tensor<1x2048xf32>
}
