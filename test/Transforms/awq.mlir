// RUN: quant-opt %s --split-input-file --verify-diagnostics --awq="bits=3 group=4 grid=3 clip=false quantize=false" | FileCheck %s --check-prefix=FOLD
// RUN: quant-opt %s --split-input-file --verify-diagnostics --awq="bits=3 group=4 grid=3 clip=false" | FileCheck %s --check-prefix=AWQ
// RUN: quant-opt %s --split-input-file --verify-diagnostics --awq="bits=3 group=4 grid=1 clip=false" | FileCheck %s --check-prefix=RTN
// RUN: quant-opt %s --split-input-file --verify-diagnostics --awq="bits=3 group=4 grid=3" | FileCheck %s --check-prefix=CLIP
// RUN: not quant-opt %s --awq="grid=0" 2>&1 | FileCheck %s --check-prefix=GRID
// RUN: not quant-opt %s --awq="bits=9" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not quant-opt %s --awq="group=0" 2>&1 | FileCheck %s --check-prefix=GROUP

// GRID: error: 'grid' must be at least 1, got 0
// BITS: error: 'bits' must be in [2, 8], got 9
// GROUP: error: 'group' must be positive or -1, got 0

// One input channel with 100x the others' E[x²]: rms(x) = (10, 1, 1, 1).
// grid=3 tries α = 0, 0.5, 1; with α = 1, s = (10, 1, 1, 1) / sqrt(10 · 1)
// = (3.1623, 0.31623, 0.31623, 0.31623). The proxy errors
// Σ_j E[x_j²]/s_j² Σ_n (W s - Q(W s))² are 1.487 (α = 0, RTN), 0.1316
// (α = 0.5) and 0.0565 (α = 1), so α = 1.
//
// (a) Folding alone keeps the float function: γ / s and W diag(s), whose
// product is γ_j W_nj (0.31623 · 0.94868 = 0.3, 3.1623 · 0.31623 = 1.0,
// ...); the statistics now describe x / s (E[x²] = 10 everywhere).
// FOLD-LABEL: func.func @salient
// FOLD: %[[G:.+]] = arith.constant dense<[0.316227764, 3.1622777, 3.1622777, 3.1622777]> : tensor<4xf32>
// FOLD: %[[N:.+]] = lq.rms_norm %{{.+}}, %[[G]]
// FOLD: %[[W:.+]] = arith.constant dense<{{\[}}[0.948683321, 0.316227764, -0.158113882, 0.252982229], [0.316227764, -0.221359432, 0.189736664, 0.0632455572]]> : tensor<2x4xf32>
// FOLD: lq.linear %[[N]], %[[W]] {lq.act_absmax = dense<6.32455{{[0-9]*}}> : tensor<4xf32>, lq.act_meansq = dense<1.000000e+01> : tensor<4xf32>, lq.act_range = array<f32: -6.32455{{[0-9]*}}, 6.32455{{[0-9]*}}>, lq.awq_alpha = 1.000000e+00 : f32}
// FOLD-NOT: lq.dequantize
//
// (b) Quantized (int3 asymmetric, one group of 4 per row). RTN on W (what
// grid=1, i.e. only α = 0 and s = 1, gives; --quantize-weights="bits=3
// group=4 sym=false" prints the same constants): scales
// 1.5/7 = 0.21429 and 1.3/7 = 0.18571, zero points 2 and 4, codes
// (3 7 0 6) and (5 0 7 5): the salient column 0 becomes 0.21429 and 0.18571
// for 0.3 and 0.1 (errors -0.0857, +0.0857).
// RTN-LABEL: func.func @salient
// RTN: arith.constant dense<{{\[}}[3, -1, 0, -2], [-3, 0, -1, -3]]> : tensor<2x4xi3, {{.+}}>
// RTN: arith.constant dense<{{\[}}[0.214285716], [0.185714275]]> : tensor<2x1xf32>
// RTN: arith.constant dense<{{\[}}[2], [4]]> : tensor<2x1xi32>
// AWQ on W diag(s): scales 0.15811 and 0.07680, zero points 1 and 3, codes
// (7 3 0 3) and (7 0 5 4) (i3 prints 7 as -1, 5 as -3, 4 as -4). Column 0's
// effective weights are (7 - 1) · 0.15811 / 3.1623 = 0.3 (exact) and
// (7 - 3) · 0.07680 / 3.1623 = 0.09714 (error -0.0029): 30x more precise,
// paid for by the channels whose inputs are 10x smaller.
// AWQ-LABEL: func.func @salient
// AWQ: %[[G:.+]] = arith.constant dense<[0.316227764, 3.1622777, 3.1622777, 3.1622777]>
// AWQ: %[[N:.+]] = lq.rms_norm %{{.+}}, %[[G]]
// AWQ: %[[Q:.+]] = arith.constant dense<{{\[}}[-1, 3, 0, 3], [-1, 0, -3, -4]]> : tensor<2x4xi3, #lq.scheme<format = int, bits = 3, axis = 1, group = 4, symmetric = false>>
// AWQ: %[[S:.+]] = arith.constant dense<{{\[}}[0.158113882], [0.0767981634]]> : tensor<2x1xf32>
// AWQ: %[[Z:.+]] = arith.constant dense<{{\[}}[1], [3]]> : tensor<2x1xi32>
// AWQ: %[[W:.+]] = lq.dequantize %[[Q]], %[[S]] zero_point %[[Z]]
// AWQ: lq.linear %[[N]], %[[W]] {{.+}}lq.awq_alpha = 1.000000e+00 : f32
func.func @salient(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %g = arith.constant dense<1.0> : tensor<4xf32>
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x4xf32>, tensor<4xf32>
  %w = arith.constant dense<[[0.3, 1.0, -0.5, 0.8], [0.1, -0.7, 0.6, 0.2]]> : tensor<2x4xf32>
  %y = lq.linear %n, %w {lq.act_meansq = dense<[100.0, 1.0, 1.0, 1.0]> : tensor<4xf32>, lq.act_absmax = dense<[20.0, 2.0, 2.0, 2.0]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// A Hessian equal to diag(E[x²]) makes the full quadratic form the diagonal
// one: the same α and codes as @salient.
// AWQ-LABEL: func.func @hessian
// AWQ: arith.constant dense<{{\[}}[-1, 3, 0, 3], [-1, 0, -3, -4]]>
// AWQ: lq.linear
// AWQ-NOT: lq.hessian
// AWQ-SAME: lq.awq_alpha = 1.000000e+00 : f32
func.func @hessian(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %g = arith.constant dense<1.0> : tensor<4xf32>
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x4xf32>, tensor<4xf32>
  %w = arith.constant dense<[[0.3, 1.0, -0.5, 0.8], [0.1, -0.7, 0.6, 0.2]]> : tensor<2x4xf32>
  %y = lq.linear %n, %w {lq.act_meansq = dense<[100.0, 1.0, 1.0, 1.0]> : tensor<4xf32>, lq.hessian = dense<[[100.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// Two linears share a LayerNorm's output through a reshape (q/k/v style):
// one s for both (their errors summed), folded into γ and β. Channel 1 is
// the salient one; grid=3 picks α = 0.5: s = (10^-0.25, 10^0.25, 10^-0.25,
// 10^-0.25) = (0.56234, 1.7783, 0.56234, 0.56234), β = 0.5 / s.
// FOLD-LABEL: func.func @shared
// FOLD: %[[G:.+]] = arith.constant dense<[1.77827942, 0.562341332, 1.77827942, 1.77827942]>
// FOLD: %[[B:.+]] = arith.constant dense<[0.889139711, 0.281170666, 0.889139711, 0.889139711]>
// FOLD: lq.layer_norm %{{.+}}, %[[G]] bias %[[B]]
// FOLD: tensor.collapse_shape
// FOLD: arith.constant dense<{{\[}}[0.562341332, 0.533483863, 0.562341332, 0.562341332]]>
// FOLD: lq.linear {{.+}}lq.awq_alpha = 5.000000e-01 : f32
// FOLD: arith.constant dense<{{\[}}[0.281170666, -0.889139711, 0.281170666, 0.281170666]]>
// FOLD: lq.linear {{.+}}lq.awq_alpha = 5.000000e-01 : f32
func.func @shared(%x: tensor<1x3x4xf32>) -> tensor<3x2xf32> {
  %g = arith.constant dense<1.0> : tensor<4xf32>
  %b = arith.constant dense<0.5> : tensor<4xf32>
  %n = lq.layer_norm %x, %g bias %b {epsilon = 1.0e-5 : f32} : tensor<1x3x4xf32>, tensor<4xf32>, tensor<4xf32>
  %c = tensor.collapse_shape %n [[0, 1], [2]] : tensor<1x3x4xf32> into tensor<3x4xf32>
  %w1 = arith.constant dense<[[1.0, 0.3, 1.0, 1.0]]> : tensor<1x4xf32>
  %w2 = arith.constant dense<[[0.5, -0.5, 0.5, 0.5]]> : tensor<1x4xf32>
  %y1 = lq.linear %c, %w1 {lq.act_meansq = dense<[1.0, 100.0, 1.0, 1.0]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  %y2 = lq.linear %c, %w2 {lq.act_meansq = dense<[1.0, 100.0, 1.0, 1.0]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  %z = tensor.concat dim(1) %y1, %y2 : (tensor<3x1xf32>, tensor<3x1xf32>) -> tensor<3x2xf32>
  %r = arith.addf %z, %z : tensor<3x2xf32>
  return %r : tensor<3x2xf32>
}

// -----

// Not fed by a norm (an o_proj/down_proj): no scales, clipping only. Row 0
// has one large weight (1.0) on a channel with 1/100 of the others' E[x²]:
// shrinking the group's range to 0.7 · [0, 1.0] gives a step of
// (0.7 + 0.105) / 7 = 0.115 instead of 1.15 / 7 = 0.16429, so the three
// salient weights are exact (0.115, 0.23, -0.115) and only 1.0 is clipped
// (to 0.69). Row 1 keeps its full range.
// CLIP-LABEL: func.func @clip_only
// CLIP: arith.constant dense<{{\[}}[2, 3, 0, -1], [-1, 0, -4, -2]]> : tensor<2x4xi3, {{.+}}>
// CLIP: arith.constant dense<{{\[}}[1.150000e-01], [0.0714285{{[0-9]*}}]]> : tensor<2x1xf32>
// CLIP: arith.constant dense<{{\[}}[1], [3]]> : tensor<2x1xi32>
// CLIP-NOT: lq.awq_alpha
// Without clipping: RTN's codes (2 2 0 7), step 0.16429.
// AWQ-LABEL: func.func @clip_only
// AWQ: arith.constant dense<{{\[}}[2, 2, 0, -1], [-1, 0, -4, -2]]> : tensor<2x4xi3, {{.+}}>
// AWQ: arith.constant dense<{{\[}}[0.164285{{[0-9]*}}], [0.0714285{{[0-9]*}}]]> : tensor<2x1xf32>
func.func @clip_only(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.1, 0.2, -0.15, 1.0], [0.3, -0.2, 0.1, 0.25]]> : tensor<2x4xf32>
  %y = lq.linear %x, %w {lq.act_meansq = dense<[1.0, 1.0, 1.0, 0.01]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// The output projection is left for --quantize-weights.
// AWQ-LABEL: func.func @head
// AWQ-NOT: lq.dequantize
// AWQ: return
// expected-warning @+1 {{awq found no constant f32 linear weight to quantize}}
func.func @head(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %g = arith.constant dense<1.0> : tensor<4xf32>
  %n = lq.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<3x4xf32>, tensor<4xf32>
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  %y = lq.linear %n, %w : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

func.func @uncalibrated(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  // expected-error @+1 {{awq needs 'lq.act_meansq' on every linear: run --calibrate first}}
  %y = lq.linear %x, %w : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

func.func @bad_stats(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  // expected-error @+1 {{'lq.hessian' must be a [4, 4] f32 tensor}}
  %y = lq.linear %x, %w {lq.act_meansq = dense<1.0> : tensor<4xf32>, lq.hessian = dense<1.0> : tensor<2x2xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

func.func @bad_group(%x: tensor<3x6xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x6xf32>
  // expected-error @+1 {{group 4 does not divide the weight's K (6)}}
  %y = lq.linear %x, %w {lq.act_meansq = dense<1.0> : tensor<6xf32>} : (tensor<3x6xf32>, tensor<2x6xf32>) -> tensor<3x2xf32>
  %z = arith.addf %y, %y : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}
