// --spinquant applies R1 exactly as x -> x R1 (row vectors): with R1 the
// permutation P swapping channels 0 and 1, the embedding becomes E P and a
// norm reader's weight W P, bit for bit.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; np.save('%t/R1.npy', np.eye(4, dtype=np.float32)[[1, 0, 2, 3]])"
// RUN: quant-opt %s --spinquant="rotations=%t r2=false r3=false r4=false" | FileCheck %s

// CHECK-LABEL: func.func @tiny
// CHECK:         %[[E:.*]] = arith.constant dense_resource<[[EK:lq_quarot[_0-9]*]]> : tensor<2x4xf32>
// CHECK:         lq.embedding %[[E]]
// CHECK:         %[[W:.*]] = arith.constant dense_resource<[[WK:lq_quarot[_0-9]*]]> : tensor<3x4xf32>
// CHECK:         lq.linear %{{.*}}, %[[W]]
// E P: rows [1 2 3 4], [5 6 7 8] -> [2 1 3 4], [6 5 7 8];
// W P: rows e0, e1, e2 -> e1, e0, e2.
// CHECK-DAG:     [[EK]]: "0x04000000000000400000803F00004040000080400000C0400000A0400000E04000000041"
// CHECK-DAG:     [[WK]]: "0x04000000000000000000803F00000000000000000000803F00000000000000000000000000000000000000000000803F00000000"

func.func @tiny(%ids: tensor<1x3xi64>) -> tensor<1x3x3xf32> {
  %E = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %ones = arith.constant dense<1.0> : tensor<4xf32>
  %W = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]> : tensor<3x4xf32>
  %x = lq.embedding %E, %ids : (tensor<2x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %n = lq.rms_norm %x, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %y = lq.linear %n, %W : (tensor<1x3x4xf32>, tensor<3x4xf32>) -> tensor<1x3x3xf32>
  return %y : tensor<1x3x3xf32>
}
