// The plan round trip: write it, edit it, apply it; and keep pins.
// RUN: quant-opt %s --assign-mixed-precision="budget-bytes=52 candidates=int2-g8,int4-g8,int8 metric=hessian plan=%t.json" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REM
// RUN: FileCheck %s --check-prefix=JSON < %t.json
// RUN: sed 's/"format": "int2-g8"/"format": "int8"/' %t.json > %t.edited.json
// RUN: quant-opt %s --assign-mixed-precision="plan-in=%t.edited.json metric=hessian" 2>&1 | FileCheck %s --check-prefix=EDIT
// RUN: sed 's/"name": "c_proj"/"name": "x_proj"/' %t.json > %t.renamed.json
// RUN: not quant-opt %s --assign-mixed-precision="plan-in=%t.renamed.json" 2>&1 | FileCheck %s --check-prefix=RENAMED
// Pins count in the budget: b_proj in float costs 64 bytes of the 100.
// RUN: quant-opt %s --assign-mixed-precision="budget-bytes=100 candidates=int2-g8,int4-g8,int8 metric=hessian keep=b_pr.*:float" 2>&1 | FileCheck %s --check-prefix=KEEP

// REM: remark: {{.*}}mixed precision: linear 0 'a_proj' (2x8) -> int8, sensitivity 0.00624214, 24 bytes
// REM: remark: {{.*}}mixed precision: linear 1 'b_proj' (2x8) -> int4-g8, sensitivity 0.0221204, 16 bytes
// REM: remark: {{.*}}mixed precision: linear 2 'c_proj' (2x8) -> int2-g8, sensitivity 0.011373, 12 bytes

// JSON: "bpw": 8.66
// JSON: "layers": [
// JSON: "bytes": 24,
// JSON: "int2-g8": {
// JSON-NEXT: "bytes": 12,
// JSON-NEXT: "sensitivity": 113.73
// JSON: "format": "int8",
// JSON-NEXT: "index": 0,
// JSON-NEXT: "name": "a_proj",
// JSON: "format": "int4-g8",
// JSON-NEXT: "index": 1,
// JSON: "format": "int2-g8",
// JSON-NEXT: "index": 2,
// JSON-NEXT: "name": "c_proj",
// JSON: "model_bpw": 8.66
// JSON: "model_weight_bytes": 52,

// EDIT: remark: {{.*}}mixed precision: linear 0 'a_proj' (2x8) -> int8, sensitivity 0.00624214, 24 bytes (from plan-in)
// EDIT: remark: {{.*}}mixed precision: linear 2 'c_proj' (2x8) -> int8, sensitivity 6.24214e-07, 24 bytes (from plan-in)
// EDIT: remark: mixed precision: 3 linears, 10.6667 bpw (64 bytes) over the budgeted linears; model 32 params, 40 weight bytes
// EDIT: tensor<2x8xi8
// EDIT: tensor<2x8xi4
// EDIT: tensor<2x8xi8

// RENAMED: error: {{.*}}plan '{{.*}}renamed.json' names linear 2 'x_proj', the model 'c_proj'

// KEEP: remark: {{.*}}mixed precision: linear 0 'a_proj' (2x8) -> int8, sensitivity 0.00624214, 24 bytes
// KEEP: remark: {{.*}}mixed precision: linear 1 'b_proj' (2x8) -> float, sensitivity 0, 64 bytes (pinned by keep)
// KEEP: remark: {{.*}}mixed precision: linear 2 'c_proj' (2x8) -> int2-g8, sensitivity 0.011373, 12 bytes
// KEEP: remark: mixed precision: 3 linears, 16.6667 bpw (100 bytes) over the budgeted linears for a budget of 16.6667 bpw; model 48 params, 100 weight bytes

func.func @named(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.11, -0.52, 0.93, 0.27, -0.71, 0.35, 0.64, -0.18], [0.05, 0.4, -0.33, 0.82, -0.9, 0.21, -0.47, 0.6]]> : tensor<2x8xf32>
  %a = lq.linear %x, %w {lq.hessian = dense<[[100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32> loc("a_proj")
  %b = lq.linear %x, %w {lq.hessian = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32> loc("b_proj")
  %c = lq.linear %x, %w {lq.hessian = dense<[[0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01]]> : tensor<8x8xf32>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32> loc("c_proj")
  %s = arith.addf %a, %b : tensor<3x2xf32>
  %t = arith.addf %s, %c : tensor<3x2xf32>
  return %t : tensor<3x2xf32>
}
