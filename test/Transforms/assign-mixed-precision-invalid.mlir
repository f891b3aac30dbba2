// RUN: quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=30 candidates=int2-g8,int4-g8,int8 metric=hessian" --verify-diagnostics
// Bad options name what is wrong.
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=4 metric=fisher" 2>&1 | FileCheck %s --check-prefix=METRIC
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=4 lm-head=int4" 2>&1 | FileCheck %s --check-prefix=HEAD
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="candidates=int4-g8" 2>&1 | FileCheck %s --check-prefix=NOBUDGET
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=4 candidates=int9-g8" 2>&1 | FileCheck %s --check-prefix=CAND
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=4 candidates=mxfp4-g64" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=4 keep=a_proj" 2>&1 | FileCheck %s --check-prefix=KEEP
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=4 keep=(:int8" 2>&1 | FileCheck %s --check-prefix=BADRE
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="plan-in=%t.missing.json" 2>&1 | FileCheck %s --check-prefix=PLANIN
// METRIC: error: 'metric' must be hessian, hessian-rel, mse or kl, got 'fisher'
// HEAD: error: 'lm-head' must be int8, float or search, got 'int4'
// NOBUDGET: error: give exactly one of 'budget-bpw' and 'budget-bytes' (> 0)
// CAND: error: bad format 'int9-g8'
// GROUP: error: format 'mxfp4' uses groups of 32, got group=64
// KEEP: error: bad 'keep' entry 'a_proj': expected REGEX:FORMAT
// BADRE: error: bad 'keep' regex '('
// PLANIN: error: cannot read plan '{{.*}}missing.json'

// The smallest plan is 12 bytes per linear (int2-g8): 36 bytes = 6 bpw.
// expected-error @+1 {{budget of 5 bpw (30 bytes) is infeasible: the smallest feasible is 6 bpw (36 bytes: every searched linear at its smallest candidate, pins as given)}}
func.func @infeasible(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.11, -0.52, 0.93, 0.27, -0.71, 0.35, 0.64, -0.18], [0.05, 0.4, -0.33, 0.82, -0.9, 0.21, -0.47, 0.6]]> : tensor<2x8xf32>
  %a = lq.linear %x, %w {lq.hessian = dense<[[100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %b = lq.linear %x, %w {lq.hessian = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %c = lq.linear %x, %w {lq.hessian = dense<[[0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %s = arith.addf %a, %b : tensor<3x2xf32>
  %t = arith.addf %s, %c : tensor<3x2xf32>
  return %t : tensor<3x2xf32>
}

// -----

func.func @no_hessian(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.11, -0.52, 0.93, 0.27, -0.71, 0.35, 0.64, -0.18], [0.05, 0.4, -0.33, 0.82, -0.9, 0.21, -0.47, 0.6]]> : tensor<2x8xf32>
  // expected-error @+1 {{metric=hessian needs 'lq.hessian' on every linear: run --calibrate="... hessian=true" first (or metric=mse)}}
  %a = lq.linear %x, %w : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %z = arith.addf %a, %a : tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}
