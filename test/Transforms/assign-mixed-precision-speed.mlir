// RUN: quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=38 candidates=int3-g8,int4-g8,int8 metric=mse objective=speed" --verify-diagnostics | FileCheck %s
// Within 30 bytes only int3 fits one linear: objective=quality takes it,
// objective=speed finds the budget infeasible.
// RUN: quant-opt %s --assign-mixed-precision="budget-bytes=30 candidates=int3-g8,int4-g8,int8 metric=mse" 2>&1 | FileCheck %s --check-prefix=QUALITY
// RUN: not quant-opt %s --assign-mixed-precision="budget-bytes=30 candidates=int3-g8,int4-g8,int8 metric=mse objective=speed" 2>&1 | FileCheck %s --check-prefix=INFEASIBLE
// QUALITY: -> int3-g8, sensitivity
// INFEASIBLE: error: budget of 7.5 bpw (30 bytes) is infeasible: the smallest feasible is 8 bpw (32 bytes
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=60 objective=fast" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not quant-opt %s --split-input-file --assign-mixed-precision="budget-bytes=60 candidates=int3-g8,int2-g8 objective=speed" 2>&1 | FileCheck %s --check-prefix=NONE
// BAD: error: 'objective' must be quality or speed, got 'fast'
// NONE: error: objective=speed leaves no candidate: none of 'int3-g8,int2-g8' has a fused CPU kernel (int4, int8, nf4, fp8, fp8-e5m2, mxfp4, nvfp4, bf16, float)

// objective=speed searches only formats --lower-to-cpu runs through a fused
// kernel: int3 (dequantized to f32 on every call) is dropped; of int4-g8
// (16 bytes for [2, 8]) and int8 (24), 38 bytes allow int4-g8 twice.
// CHECK-COUNT-2: tensor<2x8xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 8>>
// CHECK-NOT: xi3
// expected-remark @+2 {{mixed precision: objective=speed drops int3-g8 (no fused CPU kernel: dequantized to an f32 weight per call)}}
// expected-remark @+1 {{mixed precision: 2 linears, 8 bpw (32 bytes) over the budgeted linears for a budget of 9.5 bpw}}
func.func @speed(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.11, -0.52, 0.93, 0.27, -0.71, 0.35, 0.64, -0.18], [0.05, 0.4, -0.33, 0.82, -0.9, 0.21, -0.47, 0.6]]> : tensor<2x8xf32>
  %v = arith.constant dense<[[0.71, -0.12, 0.33, 0.97, -0.41, 0.05, 0.24, -0.88], [0.65, 0.1, -0.63, 0.22, -0.3, 0.91, -0.17, 0.06]]> : tensor<2x8xf32>
  // expected-remark @+1 {{mixed precision: linear 0 (2x8) -> int4-g8, sensitivity 0.0221204, 16 bytes}}
  %a = lq.linear %x, %w : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  // expected-remark @+1 {{mixed precision: linear 1 (2x8) -> int4-g8, sensitivity 0.0194041, 16 bytes}}
  %b = lq.linear %x, %v : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %s = arith.addf %a, %b : tensor<3x2xf32>
  return %s : tensor<3x2xf32>
}
