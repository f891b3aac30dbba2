// RUN: quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=8 candidates=int4-g8,int8 metric=kl progress=false" --verify-diagnostics
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=8 candidates=int4-g8,int8 metric=kl kl-samples=0" 2>&1 | FileCheck %s --check-prefix=SAMPLES
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bpw=8 candidates=int4-g8,int8 metric=kl sens-in=%t.missing.json" 2>&1 | FileCheck %s --check-prefix=SENSIN
// SAMPLES: error: 'kl-samples' must be positive, got 0
// SENSIN: error: cannot read 'sens-in' plan '{{.*}}missing.json'

// metric=kl runs the model: it needs token data ...
// expected-error @+1 {{assign-mixed-precision metric=kl: give 'tokens=FILE.npy' or 'tokenizer=FILE text=FILE'}}
func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x2xf32> {
  %t = arith.constant dense<0.5> : tensor<5x8xf32>
  %e = lq.embedding %t, %ids : (tensor<5x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8xf32>
  %w = arith.constant dense<0.25> : tensor<2x8xf32>
  %y = lq.linear %e, %w : (tensor<1x4x8xf32>, tensor<2x8xf32>) -> tensor<1x4x2xf32>
  return %y : tensor<1x4x2xf32>
}

// -----

// ... a module whose only function with a body is the entry ...
// expected-error @+1 {{metric=kl JIT-runs the module, which must have no function with a body besides the entry (found '@helper')}}
func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x4x2xf32> {
  %t = arith.constant dense<0.5> : tensor<5x8xf32>
  %e = lq.embedding %t, %ids : (tensor<5x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8xf32>
  %w = arith.constant dense<0.25> : tensor<2x8xf32>
  %y = lq.linear %e, %w : (tensor<1x4x8xf32>, tensor<2x8xf32>) -> tensor<1x4x2xf32>
  return %y : tensor<1x4x2xf32>
}
func.func private @helper(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}

// -----

// ... and f32 logits as the entry's first result.
// expected-error @+1 {{metric=kl needs static f32 logits as the entry's first result, got 'tensor<1x4xi64>'}}
func.func @main(%ids: tensor<1x4xi64>) -> (tensor<1x4xi64>, tensor<1x4x2xf32>) {
  %t = arith.constant dense<0.5> : tensor<5x8xf32>
  %e = lq.embedding %t, %ids : (tensor<5x8xf32>, tensor<1x4xi64>) -> tensor<1x4x8xf32>
  %w = arith.constant dense<0.25> : tensor<2x8xf32>
  %y = lq.linear %e, %w : (tensor<1x4x8xf32>, tensor<2x8xf32>) -> tensor<1x4x2xf32>
  return %ids, %y : tensor<1x4xi64>, tensor<1x4x2xf32>
}
