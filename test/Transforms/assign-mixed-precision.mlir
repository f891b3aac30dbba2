// RUN: quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=52 candidates=int2-g8,int4-g8,int8 metric=hessian" --verify-diagnostics | FileCheck %s
// The default metric=hessian-rel divides by the output energy tr(W H Wᵀ):
// the three copies become equally sensitive and int4 everywhere (48 bytes)
// beats one of each (numpy: 3 x 0.00473904 vs 0.249729).
// RUN: quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=52 candidates=int2-g8,int4-g8,int8" 2>&1 | FileCheck %s --check-prefix=REL
// lm-head=search puts the output projection in the search and the budget.
// RUN: quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=52 candidates=int2-g8,int4-g8,int8 metric=hessian lm-head=search" 2>&1 | FileCheck %s --check-prefix=SEARCH
// Without calibration, metric=mse ranks by ‖ΔW‖² (H = I for every linear).
// RUN: quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=52 candidates=int2-g8,int4-g8,int8 metric=mse" 2>&1 | FileCheck %s --check-prefix=MSE

// Three copies of one weight, seen by inputs of very different energy
// (H = 100·I, I, 0.01·I). Sizes for [2, 8]: int2-g8 12 bytes (4 of codes +
// 2 f32 scales), int4-g8 16, int8 per channel 24; 52 bytes fit exactly one
// of each, and the optimum gives the sensitive linear int8. Sensitivities
// tr(ΔW H ΔWᵀ) were checked against numpy (float64): 0.00624214,
// 0.0221204, 0.011373.
// CHECK-LABEL: func.func @budget
// CHECK: tensor<2x8xi8, #lq.scheme<format = int, bits = 8, axis = 0>>
// CHECK: tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 8>>
// CHECK: tensor<2x8xi2, #lq.scheme<format = int, bits = 2, axis = 1, group = 8>>
// CHECK-NOT: lq.hessian
// REL-COUNT-3: -> int4-g8, sensitivity 0.00473904, 16 bytes
// REL: 3 linears, 8 bpw (48 bytes) over the budgeted linears for a budget of 8.66667 bpw
// MSE: (52 bytes) over the budgeted linears
// MSE-NOT: lq.hessian
// expected-remark @+1 {{mixed precision: 3 linears, 8.66667 bpw (52 bytes) over the budgeted linears for a budget of 8.66667 bpw; model 48 params, 52 weight bytes (8.66667 bpw as quant-eval counts); sensitivity 0.0397355 (searched 0.0397355, dual bound 0.0397355, gap <= 0,}}
func.func @budget(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.11, -0.52, 0.93, 0.27, -0.71, 0.35, 0.64, -0.18], [0.05, 0.4, -0.33, 0.82, -0.9, 0.21, -0.47, 0.6]]> : tensor<2x8xf32>
  // expected-remark @+1 {{mixed precision: linear 0 (2x8) -> int8, sensitivity 0.00624214, 24 bytes}}
  %a = lq.linear %x, %w {lq.hessian = dense<[[100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  // expected-remark @+1 {{mixed precision: linear 1 (2x8) -> int4-g8, sensitivity 0.0221204, 16 bytes}}
  %b = lq.linear %x, %w {lq.hessian = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  // expected-remark @+1 {{mixed precision: linear 2 (2x8) -> int2-g8, sensitivity 0.011373, 12 bytes}}
  %c = lq.linear %x, %w {lq.hessian = dense<[[0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %s = arith.addf %a, %b : tensor<3x2xf32>
  %t = arith.addf %s, %c : tensor<3x2xf32>
  return %t : tensor<3x2xf32>
}

// -----

// The output projection (its result is returned) is int8 per channel
// outside the budget, as --quantize-weights' lm-head default: the budget
// of 52 bytes covers the other linear only, which gets int8. Both end up
// with identical codes and scales, which the model count (quant-compile's)
// takes once: 16 params, 24 bytes.
// SEARCH: linear 1 (2x8) -> int8, sensitivity 0.00624214, 24 bytes{{$}}
// SEARCH: 2 linears, 12 bpw (48 bytes) over the budgeted linears for a budget of 13 bpw
// CHECK-LABEL: func.func @head
// expected-remark @+1 {{mixed precision: 2 linears, 12 bpw (24 bytes) over the budgeted linears for a budget of 26 bpw; model 16 params, 24 weight bytes (12 bpw as quant-eval counts)}}
func.func @head(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.11, -0.52, 0.93, 0.27, -0.71, 0.35, 0.64, -0.18], [0.05, 0.4, -0.33, 0.82, -0.9, 0.21, -0.47, 0.6]]> : tensor<2x8xf32>
  // expected-remark @+1 {{mixed precision: linear 0 (2x8) -> int8, sensitivity 0.00624214, 24 bytes}}
  %a = lq.linear %x, %w {lq.hessian = dense<[[100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  // expected-remark @+1 {{mixed precision: linear 1 (2x8) -> int8, sensitivity 0.00624214, 24 bytes (output projection, lm-head; outside the budget)}}
  %h = lq.linear %x, %w {lq.hessian = dense<[[100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  return %h : tensor<3x2xf32>
}

// -----

// A correlated Hessian (x0 = x1 always: ones on the top-left 2x2 block, I
// elsewhere) is used as a full matrix: tr(ΔW H ΔWᵀ) counts (Δw0 + Δw1)².
// Checked against numpy: int4-g8 0.0230265 (0.0221204 with H = I).
// CHECK-LABEL: func.func @correlated
// expected-remark @+1 {{mixed precision: 3 linears, 8.66667 bpw (52 bytes)}}
func.func @correlated(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.11, -0.52, 0.93, 0.27, -0.71, 0.35, 0.64, -0.18], [0.05, 0.4, -0.33, 0.82, -0.9, 0.21, -0.47, 0.6]]> : tensor<2x8xf32>
  // expected-remark @+1 {{linear 0 (2x8) -> int8}}
  %a = lq.linear %x, %w {lq.hessian = dense<[[100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  // expected-remark @+1 {{mixed precision: linear 1 (2x8) -> int4-g8, sensitivity 0.0230265, 16 bytes}}
  %b = lq.linear %x, %w {lq.hessian = dense<[[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  // expected-remark @+1 {{linear 2 (2x8) -> int2-g8}}
  %c = lq.linear %x, %w {lq.hessian = dense<[[0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %s = arith.addf %a, %b : tensor<3x2xf32>
  %t = arith.addf %s, %c : tensor<3x2xf32>
  return %t : tensor<3x2xf32>
}
