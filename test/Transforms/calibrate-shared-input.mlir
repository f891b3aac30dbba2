// Linears that read the same value (q/k/v after one norm, gate/up) share one
// observer in --calibrate: XᵀX and the per-channel statistics are computed
// once and attached to each of them, the same as if each had been observed.
// RUN: %python %S/Inputs/calibrate-ids.py %t.ids.npy %t.short.npy
// RUN: quant-opt %s --calibrate="tokens=%t.ids.npy samples=2 hessian=true progress=false" | FileCheck %s

// Same data as calibrate.mlir: X^T X / 8 = [[3.65625, 3.40625], [3.40625, 6.15625]].
// The third linear reads the second's output (2 x0, 3 x1): its own statistics.
// CHECK: lq.linear
// CHECK-SAME: lq.act_absmax = dense<[3.000000e+00, 4.000000e+00]> : tensor<2xf32>
// CHECK-SAME: lq.act_meansq = dense<[3.656250e+00, 6.156250e+00]> : tensor<2xf32>
// CHECK-SAME: lq.calib_rows = 8 : i64
// CHECK-SAME: lq.hessian = dense_resource<[[H1:.+]]> : tensor<2x2xf32>
// CHECK: lq.linear
// CHECK-SAME: lq.act_absmax = dense<[3.000000e+00, 4.000000e+00]> : tensor<2xf32>
// CHECK-SAME: lq.act_meansq = dense<[3.656250e+00, 6.156250e+00]> : tensor<2xf32>
// CHECK-SAME: lq.calib_rows = 8 : i64
// CHECK-SAME: lq.hessian = dense_resource<[[H2:.+]]> : tensor<2x2xf32>
// CHECK: lq.linear
// CHECK-SAME: lq.act_absmax = dense<[6.000000e+00, 1.200000e+01]> : tensor<2xf32>
// CHECK-SAME: lq.calib_rows = 8 : i64
// CHECK-DAG: [[H1]]: "0x0800000000006A4000005A4000005A400000C540"
// CHECK-DAG: [[H2]]: "0x0800000000006A4000005A4000005A400000C540"
func.func @main(%ids: tensor<1x4xi64>) -> (tensor<1x4x3xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>) {
  %t = arith.constant dense<[[1.0, -2.0], [3.0, 4.0], [0.5, 0.5], [-1.0, 1.0], [2.0, 2.0]]> : tensor<5x2xf32>
  %e = lq.embedding %t, %ids : (tensor<5x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %w2 = arith.constant dense<[[2.0, 0.0], [0.0, 3.0]]> : tensor<2x2xf32>
  %y = lq.linear %e, %w : (tensor<1x4x2xf32>, tensor<3x2xf32>) -> tensor<1x4x3xf32>
  %y2 = lq.linear %e, %w2 : (tensor<1x4x2xf32>, tensor<2x2xf32>) -> tensor<1x4x2xf32>
  %y3 = lq.linear %y2, %w2 : (tensor<1x4x2xf32>, tensor<2x2xf32>) -> tensor<1x4x2xf32>
  return %y, %y2, %y3 : tensor<1x4x3xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>
}
