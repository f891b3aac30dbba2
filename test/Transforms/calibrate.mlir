// RUN: %python %S/Inputs/calibrate-ids.py %t.ids.npy %t.short.npy
// RUN: quant-opt %s --calibrate="tokens=%t.ids.npy samples=2 hessian=true progress=false" | FileCheck %s
// RUN: printf '0 1 2 3\n4,4,1,0\n' > %t.ids.txt
// RUN: quant-opt %s --calibrate="tokens=%t.ids.txt samples=1 progress=false" | FileCheck %s --check-prefix=TEXT
// RUN: not quant-opt %s --calibrate="tokens=%t.short.npy samples=2" 2>&1 | FileCheck %s --check-prefix=SHORT
// RUN: not quant-opt %s --calibrate="samples=2" 2>&1 | FileCheck %s --check-prefix=NODATA
// RUN: not quant-opt %s --calibrate="tokens=%t.ids.npy seq-len=8" 2>&1 | FileCheck %s --check-prefix=SEQ
// Ids the embedding does not have are an error, not an out-of-bounds read.
// RUN: printf '0 1 7 3\n' > %t.bad.txt
// RUN: not quant-opt %s --calibrate="tokens=%t.bad.txt samples=1" 2>&1 | FileCheck %s --check-prefix=RANGE
// RANGE: error: calibrate: token id 7 (position 2 of '{{.*}}bad.txt') is out of range for the model's vocabulary of 5

// The two rows of ids select embeddings
//   (1,-2) (3,4) (0.5,0.5) (-1,1)   and   (2,2) (2,2) (3,4) (1,-2)
// so over the 8 tokens: max|x| = (3, 4), mean x^2 = (29.25/8, 49.25/8),
// range [-2, 4], and X^T X / 8 = [[3.65625, 3.40625], [3.40625, 6.15625]]
// (f32 0x406A0000, 0x405A0000, 0x40C50000, little endian in the blob).
// CHECK: lq.linear
// CHECK-SAME: lq.act_absmax = dense<[3.000000e+00, 4.000000e+00]> : tensor<2xf32>
// CHECK-SAME: lq.act_clip = array<f32: {{[^,]+}}, {{[^,]+}}, {{[^>]+}}>
// CHECK-SAME: lq.act_meansq = dense<[3.656250e+00, 6.156250e+00]> : tensor<2xf32>
// CHECK-SAME: lq.act_range = array<f32: -2.000000e+00, 4.000000e+00>
// CHECK-SAME: lq.calib_rows = 8 : i64
// CHECK-SAME: lq.hessian = dense_resource<[[H:.+]]> : tensor<2x2xf32>
// CHECK: [[H]]: "0x0800000000006A4000005A4000005A400000C540"

// A text file of ids works too (one random window of 4 from the 8 ids).
// TEXT: lq.calib_rows = 4 : i64
// SHORT: error: calibrate: the data has 3 tokens, fewer than one window of 4
// NODATA: error: calibrate: give 'tokens=FILE.npy' or 'tokenizer=FILE text=FILE'
// SEQ: error: calibrate: 'seq-len' 8 differs from the model's input length 4 (import with --dim seq=8)
func.func @main(%ids: tensor<1x4xi64>) -> tensor<4x3xf32> {
  %t = arith.constant dense<[[1.0, -2.0], [3.0, 4.0], [0.5, 0.5], [-1.0, 1.0], [2.0, 2.0]]> : tensor<5x2xf32>
  %e = lq.embedding %t, %ids : (tensor<5x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %y = lq.linear %e, %w : (tensor<1x4x2xf32>, tensor<3x2xf32>) -> tensor<1x4x3xf32>
  %c = tensor.collapse_shape %y [[0, 1], [2]] : tensor<1x4x3xf32> into tensor<4x3xf32>
  return %c : tensor<4x3xf32>
}
