// RUN: printf '0 1 2 3\n' > %t.ids.txt
// RUN: quant-opt %s --calibrate="tokens=%t.ids.txt samples=1 progress=false" | FileCheck %s
// RUN: quant-opt %s --calibrate="tokens=%t.ids.txt samples=1 progress=false" --quantize-kv-cache="format=int4 scales=static key-granularity=per-channel value-granularity=per-channel" | FileCheck %s --check-prefix=STATIC

// --calibrate records max |K| and |V| per (KV head, channel) on every
// lq.attention, [H, D]: the static scales of --quantize-kv-cache
// scales=static. The ids 0 1 2 3 select the rows (1,-2) (3,4) (0.5,0.5)
// (-1,1); K is them as [1, H=2, S=2, D=2] (head 0: tokens 0-1, head 1:
// tokens 2-3) and V = [x0 + x1, x0] of them: (-1,1) (7,3) (1,0.5) (0,-1).
// CHECK: lq.attention
// CHECK-SAME: lq.k_absmax = dense<{{\[\[}}3.000000e+00, 4.000000e+00], [1.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK-SAME: lq.v_absmax = dense<{{\[\[}}7.000000e+00, 3.000000e+00], [1.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>

// Calibrated scales absmax / 7 ([1, H, 1, D]) quantize keys and values:
// STATIC-DAG: arith.constant dense<{{\[\[\[\[}}0.428571433, 0.571428597]], {{\[\[}}0.142857149, 0.142857149]]]]> : tensor<1x2x1x2xf32>
// STATIC-DAG: arith.constant dense<{{\[\[\[\[}}1.000000e+00, 0.428571433]], {{\[\[}}0.142857149, 0.142857149]]]]> : tensor<1x2x1x2xf32>
// STATIC-NOT: lq.compute_scales
func.func @main(%ids: tensor<1x4xi64>) -> tensor<1x2x2x2xf32> {
  %t = arith.constant dense<[[1.0, -2.0], [3.0, 4.0], [0.5, 0.5], [-1.0, 1.0], [2.0, 2.0]]> : tensor<5x2xf32>
  %e = lq.embedding %t, %ids : (tensor<5x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %w = arith.constant dense<[[1.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %y = lq.linear %e, %w : (tensor<1x4x2xf32>, tensor<2x2xf32>) -> tensor<1x4x2xf32>
  %k = tensor.expand_shape %e [[0], [1, 2], [3]] output_shape [1, 2, 2, 2] : tensor<1x4x2xf32> into tensor<1x2x2x2xf32>
  %v = tensor.expand_shape %y [[0], [1, 2], [3]] output_shape [1, 2, 2, 2] : tensor<1x4x2xf32> into tensor<1x2x2x2xf32>
  %o = lq.attention %k, %k, %v {causal} : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %o : tensor<1x2x2x2xf32>
}
