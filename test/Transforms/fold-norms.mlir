// RUN: quant-opt %s --split-input-file --fold-norms --verify-diagnostics | FileCheck %s
// RUN: quant-opt %s --split-input-file --fold-norms="layer-norm-to-rms=false" 2>/dev/null | FileCheck %s --check-prefix=NOLN

// γ = (2, 0.5) goes into column k of both readers' weights; the norm keeps
// ones. Statistics describe x·γ before and x after: absmax / |γ|,
// meansq / γ², hessian / γγᵀ; the range is dropped.
// CHECK-LABEL: func.func @rms
// CHECK: %[[ONES:.+]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK: %[[N:.+]] = lq.rms_norm %{{.+}}, %[[ONES]]
// CHECK: %[[W1:.+]] = arith.constant dense<{{\[}}[2.000000e+00, 2.000000e+00], [6.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK: lq.linear %[[N]], %[[W1]] {lq.act_absmax = dense<[1.000000e+00, 4.000000e+00]> : tensor<2xf32>, lq.act_meansq = dense<[2.500000e-01, 1.600000e+01]> : tensor<2xf32>, lq.hessian = dense<{{\[}}[2.500000e-01, 4.000000e+00], [4.000000e+00, 1.600000e+01]]> : tensor<2x2xf32>}
// CHECK: %[[W2:.+]] = arith.constant dense<{{\[}}[-2.000000e+00, 5.000000e-01]]> : tensor<1x2xf32>
// CHECK: lq.linear %[[N]], %[[W2]] :
func.func @rms(%x: tensor<3x2xf32>) -> (tensor<3x2xf32>, tensor<3x1xf32>) {
  %g = arith.constant dense<[2.0, 0.5]> : tensor<2xf32>
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x2xf32>, tensor<2xf32>
  %w1 = arith.constant dense<[[1.0, 4.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[-1.0, 1.0]]> : tensor<1x2xf32>
  %y1 = lq.linear %n, %w1 {lq.act_absmax = dense<[2.0, 2.0]> : tensor<2xf32>, lq.act_meansq = dense<[1.0, 4.0]> : tensor<2xf32>, lq.hessian = dense<[[1.0, 4.0], [4.0, 4.0]]> : tensor<2x2xf32>, lq.act_range = array<f32: -2.0, 2.0>} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %y2 = lq.linear %n, %w2 : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  return %y1, %y2 : tensor<3x2xf32>, tensor<3x1xf32>
}

// -----

// LayerNorm: β goes into the bias, b' = b + W β (here W β = (1·1 + 2·(-1)) =
// -1, and a new bias where there was none); the norm loses β. Reached
// through a reshape.
// CHECK-LABEL: func.func @layer_norm_beta
// CHECK: lq.layer_norm %{{.+}}, %{{.+}} {epsilon
// CHECK-SAME: : tensor<1x3x2xf32>, tensor<2xf32>{{$}}
// CHECK: tensor.collapse_shape
// CHECK: %[[W:.+]] = arith.constant dense<{{\[}}[3.000000e+00, 8.000000e+00]]> : tensor<1x2xf32>
// CHECK: %[[B:.+]] = arith.constant dense<-1.000000e+00> : tensor<1xf32>
// CHECK: lq.linear %{{.+}}, %[[W]] bias %[[B]]
func.func @layer_norm_beta(%x: tensor<1x3x2xf32>) -> tensor<3x1xf32> {
  %g = arith.constant dense<[3.0, 4.0]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, -1.0]> : tensor<2xf32>
  // expected-warning @+1 {{fold-norms: layer_norm kept: its residual stream is a function argument of 'func.func', so the mean cannot be absorbed}}
  %n = lq.layer_norm %x, %g bias %b {epsilon = 1.0e-5 : f32} : tensor<1x3x2xf32>, tensor<2xf32>, tensor<2xf32>
  %c = tensor.collapse_shape %n [[0, 1], [2]] : tensor<1x3x2xf32> into tensor<3x2xf32>
  %w = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %y = lq.linear %c, %w : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// Tied embedding / lm_head: the head gets γ, the embedding keeps the table.
// CHECK-LABEL: func.func @tied
// CHECK: %[[T:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK: lq.embedding %[[T]]
// CHECK: %[[H:.+]] = arith.constant dense<{{\[}}[1.000000e+01, 2.000000e+00], [3.000000e+01, 4.000000e+00], [5.000000e+01, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK: lq.linear %{{.+}}, %[[H]]
func.func @tied(%ids: tensor<1x4xi64>) -> tensor<1x4x3xf32> {
  %t = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %g = arith.constant dense<[10.0, 1.0]> : tensor<2xf32>
  %h = lq.embedding %t, %ids : (tensor<3x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %n = lq.rms_norm %h, %g {epsilon = 1.0e-5 : f32} : tensor<1x4x2xf32>, tensor<2xf32>
  // expected-remark @+1 {{fold-norms: untied the weight from its 1 other user(s), which keep the unfolded values}}
  %y = lq.linear %n, %t : (tensor<1x4x2xf32>, tensor<3x2xf32>) -> tensor<1x4x3xf32>
  return %y : tensor<1x4x3xf32>
}

// -----

// A norm also read by something other than a linear keeps its γ.
// CHECK-LABEL: func.func @other_reader
// CHECK: %[[G:.+]] = arith.constant dense<[2.000000e+00, 3.000000e+00]>
// CHECK: lq.rms_norm %{{.+}}, %[[G]]
func.func @other_reader(%x: tensor<3x2xf32>) -> (tensor<3x1xf32>, tensor<3x2xf32>) {
  %g = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  // expected-warning @+1 {{fold-norms: not folded: the output is also read by 'func.return', which cannot absorb the scale}}
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x2xf32>, tensor<2xf32>
  %w = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %y = lq.linear %n, %w : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  // expected-note @+1 {{this reader}}
  return %y, %n : tensor<3x1xf32>, tensor<3x2xf32>
}

// -----

// A norm read by a linear with a non-constant (or quantized) weight.
func.func @dynamic_weight(%x: tensor<3x2xf32>, %w: tensor<1x2xf32>) -> tensor<3x1xf32> {
  %g = arith.constant dense<[2.0, 3.0]> : tensor<2xf32>
  // expected-warning @+1 {{fold-norms: not folded: a reader's weight is not a constant f32 [N, 2] tensor (quantized already?)}}
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x2xf32>, tensor<2xf32>
  // expected-note @+1 {{this linear}}
  %y = lq.linear %n, %w : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// LayerNorm → RMSNorm: the stream (embedding + output projection) is
// centered: table rows minus their mean, the projection's rows minus the
// mean over its output rows (columns of [N, K] centered), bias likewise.
// CHECK-LABEL: func.func @ln_to_rms
// CHECK: %[[T:.+]] = arith.constant dense<{{\[}}[-1.000000e+00, 1.000000e+00], [-2.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[E:.+]] = lq.embedding %[[T]]
// CHECK: %[[N1:.+]] = lq.rms_norm %[[E]]
// CHECK: lq.linear %[[N1]], %{{.+}} :
// CHECK: %[[O:.+]] = arith.constant dense<{{\[}}[-1.000000e+00, 5.000000e-01], [1.000000e+00, -5.000000e-01]]> : tensor<2x2xf32>
// CHECK: %[[OB:.+]] = arith.constant dense<[-5.000000e-01, 5.000000e-01]> : tensor<2xf32>
// CHECK: lq.linear %{{.+}}, %[[O]] bias %[[OB]]
// CHECK: lq.rms_norm
// CHECK-NOT: lq.layer_norm
// NOLN-LABEL: func.func @ln_to_rms
// NOLN-COUNT-2: lq.layer_norm
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @ln_to_rms(%ids: tensor<1x3xi64>) -> tensor<1x3x2xf32> {
  %t = arith.constant dense<[[0.0, 2.0], [1.0, 5.0]]> : tensor<2x2xf32>
  %g = arith.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %wi = arith.constant dense<[[1.0, 1.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %wo = arith.constant dense<[[1.0, 2.0], [3.0, 1.0]]> : tensor<2x2xf32>
  %bo = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %wh = arith.constant dense<[[1.0, 1.0], [1.0, -1.0]]> : tensor<2x2xf32>
  %h = lq.embedding %t, %ids : (tensor<2x2xf32>, tensor<1x3xi64>) -> tensor<1x3x2xf32>
  %n1 = lq.layer_norm %h, %g {epsilon = 1.0e-5 : f32} : tensor<1x3x2xf32>, tensor<2xf32>
  %a = lq.linear %n1, %wi : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %o = lq.linear %a, %wo bias %bo : (tensor<1x3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x3x2xf32>
  %e = tensor.empty() : tensor<1x3x2xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%h, %o : tensor<1x3x2xf32>, tensor<1x3x2xf32>) outs(%e : tensor<1x3x2xf32>) {
  ^bb0(%p: f32, %q: f32, %s: f32):
    %v = arith.addf %p, %q : f32
    linalg.yield %v : f32
  } -> tensor<1x3x2xf32>
  %n2 = lq.layer_norm %r, %g {epsilon = 1.0e-5 : f32} : tensor<1x3x2xf32>, tensor<2xf32>
  %y = lq.linear %n2, %wh : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  return %y : tensor<1x3x2xf32>
}

// -----

// The residual stream is also returned: the mean cannot be removed.
// CHECK-LABEL: func.func @ln_stream_escapes
// CHECK: lq.layer_norm
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @ln_stream_escapes(%ids: tensor<3xi64>) -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %t = arith.constant dense<[[0.0, 2.0], [1.0, 5.0]]> : tensor<2x2xf32>
  %g = arith.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %wh = arith.constant dense<[[1.0, 1.0], [1.0, -1.0]]> : tensor<2x2xf32>
  %h = lq.embedding %t, %ids : (tensor<2x2xf32>, tensor<3xi64>) -> tensor<3x2xf32>
  // expected-warning @+1 {{fold-norms: layer_norm kept: its residual stream is read by 'func.return', so the mean cannot be absorbed}}
  %n = lq.layer_norm %h, %g {epsilon = 1.0e-5 : f32} : tensor<3x2xf32>, tensor<2xf32>
  %y = lq.linear %n, %wh : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  // expected-note @+1 {{here}}
  return %y, %h : tensor<3x2xf32>, tensor<3x2xf32>
}
