// Bad --gptq options: an error naming the option and a non-zero exit.
// RUN: not quant-opt %s --gptq="damp=0" 2>&1 | FileCheck %s --check-prefix=DAMP
// RUN: not quant-opt %s --gptq="block=0" 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not quant-opt %s --gptq="precision=f16" 2>&1 | FileCheck %s --check-prefix=PREC
// DAMP: error: 'damp' must be in (0, 1), got 0
// BLOCK: error: 'block' must be positive, got 0
// PREC: error: 'precision' must be f32 or f64, got 'f16'
func.func @f(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x8xf32>
  %y = lq.linear %x, %w : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}
