// --spinquant fuses R1/R2 read from DIR/R1.npy, DIR/R2.npy where --quarot
// fuses its Hadamards; R3/R4 stay online lq.hadamard.
// RUN: rm -rf %t && mkdir -p %t/layer %t/shared
// Random orthogonal R1 [4, 4] and R2 [1, 2, 2] (f64), or one shared R2 [2, 2].
// RUN: %python -c "import numpy as np; r = np.random.default_rng(0); q = lambda n: np.linalg.qr(r.standard_normal((n, n)))[0]; np.save('%t/layer/R1.npy', q(4)); np.save('%t/layer/R2.npy', q(2)[None]); np.save('%t/shared/R1.npy', q(4)); np.save('%t/shared/R2.npy', q(2))"
// RUN: quant-opt %s --spinquant="rotations=%t/layer" | FileCheck %s
// RUN: quant-opt %s --spinquant="rotations=%t/shared" | FileCheck %s
// RUN: quant-opt %s --spinquant="rotations=%t/layer r3=false r4=false" | FileCheck %s --check-prefix=NOHAD

// CHECK-LABEL: func.func @layer
// CHECK:         %[[E:.*]] = arith.constant dense_resource<lq_quarot{{.*}}> : tensor<8x4xf32>
// CHECK:         %[[X:.*]] = lq.embedding %[[E]]
// CHECK:         %[[Q:.*]] = arith.constant dense_resource<lq_quarot{{.*}}> : tensor<4x4xf32>
// CHECK:         lq.linear %{{.*}}, %[[Q]]
// CHECK:         %[[QH:.*]] = lq.hadamard %{{.*}} : tensor<1x2x3x2xf32>
// CHECK:         %[[KH:.*]] = lq.hadamard %{{.*}} : tensor<1x2x3x2xf32>
// CHECK:         lq.attention %[[QH]], %[[KH]], %{{.*}} {causal}
// CHECK:         %[[DH:.*]] = lq.hadamard %{{.*}} : tensor<1x3x8xf32>
// CHECK:         lq.linear %[[DH]], %{{.*}} : (tensor<1x3x8xf32>, tensor<4x8xf32>)
// CHECK-NOT:     lq.hadamard

// NOHAD-LABEL: func.func @layer
// NOHAD:         dense_resource<lq_quarot
// NOHAD-NOT:     lq.hadamard

#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>

func.func @layer(%ids: tensor<1x3xi64>) -> tensor<1x3x8xf32> {
  %E = arith.constant dense<[[0.1, -0.2, 0.3, 0.4], [0.5, 0.6, -0.7, 0.8], [0.9, 1.0, 1.1, -1.2], [0.3, 0.1, 0.2, 0.4], [-0.5, 0.2, 0.1, 0.3], [0.2, 0.2, -0.4, 0.1], [0.7, -0.3, 0.5, 0.6], [0.1, 0.9, 0.8, -0.2]]> : tensor<8x4xf32>
  %ones = arith.constant dense<1.0> : tensor<4xf32>
  %Wq = arith.constant dense<[[0.1, 0.2, 0.3, 0.4], [0.2, -0.1, 0.4, 0.3], [-0.3, 0.4, 0.1, 0.2], [0.4, 0.3, -0.2, 0.1]]> : tensor<4x4xf32>
  %Wk = arith.constant dense<[[0.3, 0.1, -0.4, 0.2], [0.1, 0.3, 0.2, -0.4], [0.4, -0.2, 0.3, 0.1], [0.2, 0.4, 0.1, 0.3]]> : tensor<4x4xf32>
  %Wv = arith.constant dense<[[0.5, -0.1, 0.2, 0.3], [0.1, 0.5, -0.3, 0.2], [0.2, 0.3, 0.5, -0.1], [-0.3, 0.2, 0.1, 0.5]]> : tensor<4x4xf32>
  %Wo = arith.constant dense<[[0.2, 0.1, 0.4, -0.3], [0.1, -0.2, 0.3, 0.4], [0.4, 0.3, -0.2, 0.1], [0.3, 0.4, 0.1, 0.2]]> : tensor<4x4xf32>
  %Wg = arith.constant dense<[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [-0.1, 0.2, -0.3, 0.4], [0.4, -0.3, 0.2, -0.1], [0.2, 0.2, 0.2, 0.2], [0.3, -0.3, 0.3, -0.3], [0.1, 0.4, 0.1, 0.4], [0.5, 0.1, -0.5, 0.1]]> : tensor<8x4xf32>
  %Wd = arith.constant dense<[[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0.8, -0.7, 0.6, -0.5, 0.4, -0.3, 0.2, -0.1], [0.2, 0.2, -0.2, -0.2, 0.3, 0.3, -0.3, -0.3], [0.1, -0.1, 0.1, -0.1, 0.4, -0.4, 0.4, -0.4]]> : tensor<4x8xf32>
  %Wlm = arith.constant dense<[[0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.4, 0.3], [0.3, 0.4, 0.1, 0.2], [0.4, 0.3, 0.2, 0.1], [-0.1, 0.2, -0.3, 0.4], [0.2, -0.1, 0.4, -0.3], [-0.3, 0.4, -0.1, 0.2], [0.4, -0.3, 0.2, -0.1]]> : tensor<8x4xf32>
  %x = lq.embedding %E, %ids : (tensor<8x4xf32>, tensor<1x3xi64>) -> tensor<1x3x4xf32>
  %n = lq.rms_norm %x, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %q = lq.linear %n, %Wq : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %k = lq.linear %n, %Wk : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %v = lq.linear %n, %Wv : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %e = tensor.empty() : tensor<1x2x3x2xf32>
  %q4 = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 3, 2, 2] : tensor<1x3x4xf32> into tensor<1x3x2x2xf32>
  %qt = linalg.transpose ins(%q4 : tensor<1x3x2x2xf32>) outs(%e : tensor<1x2x3x2xf32>) permutation = [0, 2, 1, 3]
  %k4 = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 3, 2, 2] : tensor<1x3x4xf32> into tensor<1x3x2x2xf32>
  %kt = linalg.transpose ins(%k4 : tensor<1x3x2x2xf32>) outs(%e : tensor<1x2x3x2xf32>) permutation = [0, 2, 1, 3]
  %v4 = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 3, 2, 2] : tensor<1x3x4xf32> into tensor<1x3x2x2xf32>
  %vt = linalg.transpose ins(%v4 : tensor<1x3x2x2xf32>) outs(%e : tensor<1x2x3x2xf32>) permutation = [0, 2, 1, 3]
  %a = lq.attention %qt, %kt, %vt {causal} : (tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x3x2xf32>
  %e2 = tensor.empty() : tensor<1x3x2x2xf32>
  %at = linalg.transpose ins(%a : tensor<1x2x3x2xf32>) outs(%e2 : tensor<1x3x2x2xf32>) permutation = [0, 2, 1, 3]
  %a3 = tensor.collapse_shape %at [[0], [1], [2, 3]] : tensor<1x3x2x2xf32> into tensor<1x3x4xf32>
  %o = lq.linear %a3, %Wo : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %e3 = tensor.empty() : tensor<1x3x4xf32>
  %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %o : tensor<1x3x4xf32>, tensor<1x3x4xf32>) outs(%e3 : tensor<1x3x4xf32>) {
  ^bb0(%i0: f32, %i1: f32, %out: f32):
    %s = arith.addf %i0, %i1 : f32
    linalg.yield %s : f32
  } -> tensor<1x3x4xf32>
  %n2 = lq.rms_norm %r, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %g = lq.linear %n2, %Wg : (tensor<1x3x4xf32>, tensor<8x4xf32>) -> tensor<1x3x8xf32>
  %dn = lq.linear %g, %Wd : (tensor<1x3x8xf32>, tensor<4x8xf32>) -> tensor<1x3x4xf32>
  %r2 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%r, %dn : tensor<1x3x4xf32>, tensor<1x3x4xf32>) outs(%e3 : tensor<1x3x4xf32>) {
  ^bb0(%i0: f32, %i1: f32, %out: f32):
    %s = arith.addf %i0, %i1 : f32
    linalg.yield %s : f32
  } -> tensor<1x3x4xf32>
  %n3 = lq.rms_norm %r2, %ones {epsilon = 1.0e-05 : f32} : tensor<1x3x4xf32>, tensor<4xf32>
  %logits = lq.linear %n3, %Wlm : (tensor<1x3x4xf32>, tensor<8x4xf32>) -> tensor<1x3x8xf32>
  return %logits : tensor<1x3x8xf32>
}
