// RUN: quant-opt %s --split-input-file --smoothquant="alpha=0.5" --verify-diagnostics | FileCheck %s
// RUN: not quant-opt %s --smoothquant="alpha=2" 2>&1 | FileCheck %s --check-prefix=ALPHA
// RUN: quant-opt %s --split-input-file --smoothquant="layer-alphas=1" --verify-diagnostics | FileCheck %s --check-prefix=LAYER
// alpha 1 for the only group: s = max|x| = (4, 1), gamma / s = (0.25, 1).
// LAYER-LABEL: func.func @smooth
// LAYER: arith.constant dense<[2.500000e-01, 1.000000e+00]> : tensor<2xf32>
// LAYER: lq.smoothed = 1.000000e+00 : f32
// RUN: not quant-opt %s --smoothquant="layer-alphas=0.5,0.5" 2>&1 | FileCheck %s --check-prefix=COUNT
// COUNT: error: 'layer-alphas' has 2 values but the function has 1 norm groups to smooth
// RUN: not quant-opt %s --smoothquant="alpha=auto" 2>&1 | FileCheck %s --check-prefix=AUTO
// AUTO: error: smoothquant alpha=auto needs 'lq.act_meansq' with 2 elements (run --calibrate first)
// RUN: not quant-opt %s --smoothquant="alpha=fast" 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: 'alpha' must be in [0, 1] or 'auto', got fast

// max|x| = (4, 1), max|W_:,j| over both linears = (1, 4): alpha 0.5 gives
// s = (sqrt(4/1), sqrt(1/4)) = (2, 0.5). gamma / s = (0.5, 2); W * s.
// CHECK-LABEL: func.func @smooth
// CHECK: %[[G:.+]] = arith.constant dense<[5.000000e-01, 2.000000e+00]> : tensor<2xf32>
// CHECK: %[[N:.+]] = lq.rms_norm %{{.+}}, %[[G]]
// CHECK: %[[W1:.+]] = arith.constant dense<2.000000e+00> : tensor<1x2xf32>
// CHECK: lq.linear %[[N]], %[[W1]] {lq.act_absmax = dense<2.000000e+00> : tensor<2xf32>, lq.act_range = array<f32: -2.000000e+00, 2.000000e+00>, lq.smoothed = 5.000000e-01 : f32}
// CHECK: %[[W2:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 5.000000e-01]]> : tensor<1x2xf32>
// CHECK: lq.linear %[[N]], %[[W2]]
func.func @smooth(%x: tensor<3x2xf32>) -> (tensor<3x1xf32>, tensor<3x1xf32>) {
  %g = arith.constant dense<1.0> : tensor<2xf32>
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x2xf32>, tensor<2xf32>
  %w1 = arith.constant dense<[[1.0, 4.0]]> : tensor<1x2xf32>
  %w2 = arith.constant dense<[[0.5, 1.0]]> : tensor<1x2xf32>
  %y1 = lq.linear %n, %w1 {lq.act_absmax = dense<[4.0, 1.0]> : tensor<2xf32>} : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  %y2 = lq.linear %n, %w2 {lq.act_absmax = dense<[4.0, 1.0]> : tensor<2xf32>} : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  return %y1, %y2 : tensor<3x1xf32>, tensor<3x1xf32>
}

// -----

func.func @uncalibrated(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %g = arith.constant dense<1.0> : tensor<2xf32>
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x2xf32>, tensor<2xf32>
  %w1 = arith.constant dense<[[1.0, 4.0]]> : tensor<1x2xf32>
  // expected-error @+1 {{smoothquant needs 'lq.act_absmax' (run --calibrate first)}}
  %y1 = lq.linear %n, %w1 : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  return %y1 : tensor<3x1xf32>
}

// ALPHA: error: 'alpha' must be in [0, 1] or 'auto', got 2

