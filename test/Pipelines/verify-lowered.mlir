// RUN: quant-opt %s --lq-verify-lowered --split-input-file --verify-diagnostics

func.func @leftover_op(%x: tensor<2x4xf32>, %w: tensor<3x4xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{'lq.linear' was not lowered by the pipeline}}
  %y = lq.linear %x, %w : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

func.func @leftover_encoding() -> tensor<4xi8, #lq.scheme<format = int, bits = 8>> {
  // expected-error @+1 {{still carries a #lq.scheme encoding after lowering}}
  %q = arith.constant dense<1> : tensor<4xi8, #lq.scheme<format = int, bits = 8>>
  // expected-error @+1 {{still carries a #lq.scheme encoding after lowering}}
  return %q : tensor<4xi8, #lq.scheme<format = int, bits = 8>>
}
