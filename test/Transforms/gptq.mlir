// RUN: quant-opt %s --split-input-file --gptq="bits=4 group=4" --verify-diagnostics | FileCheck %s
// The lazy-batch (GEMM) update and the blocked factorizations must not change
// the result: the same checks with blocks of 3 columns (tails included).
// RUN: quant-opt %s --split-input-file --gptq="bits=4 group=4 block=3" --verify-diagnostics | FileCheck %s
// float64 arithmetic (precision=f64) gives the same codes on these cases.
// RUN: quant-opt %s --split-input-file --gptq="bits=4 group=4 block=3 precision=f64" --verify-diagnostics | FileCheck %s

// With an identity Hessian the inputs are uncorrelated: GPTQ has nothing to
// compensate and must give RTN's codes (see quantize-weights.mlir).
// CHECK-LABEL: func.func @identity_hessian
// CHECK: arith.constant dense<{{\[}}[1, 2, 3, 7, -7, 0, 0, 4], [7, 7, 7, 7, 7, 7, 7, 7]]> : tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 4>>
// CHECK: lq.dequantize
// CHECK-NOT: lq.hessian
func.func @identity_hessian(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 7.0, -14.0, 0.0, 0.0, 7.0], [0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571, 0.1428571]]> : tensor<2x8xf32>
  %y = lq.linear %x, %w {lq.hessian = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// Correlated inputs (x0 == x1 always, so only w0 + w1 = 2.8 matters): RTN
// rounds each 1.4 to 1 (sum 2); GPTQ pushes column 0's error (+0.4) onto
// column 1, which rounds 1.8 to 2 (sum 3, closer to 2.8).
// CHECK-LABEL: func.func @correlated
// CHECK: arith.constant dense<{{\[}}[1, 2, 7, 7, 7, 7, 7, 7]]>
func.func @correlated(%x: tensor<3x8xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[1.4, 1.4, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0]]> : tensor<1x8xf32>
  %y = lq.linear %x, %w {lq.hessian = dense<[[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<1x8xf32>) -> tensor<3x1xf32>
  %z = arith.addf %y, %y : tensor<3x1xf32>
  return %z : tensor<3x1xf32>
}

// -----

func.func @no_hessian(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x8xf32>
  // expected-error @+1 {{gptq needs 'lq.hessian' on every linear: run --calibrate="... hessian=true" first}}
  %y = lq.linear %x, %w : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}
