// RUN: quant-opt %s --quarot | FileCheck %s
// RUN: quant-opt %s --quarot="r1=false r2=false r3=false r4=false" | FileCheck %s --check-prefix=OFF
// RUN: quant-opt %s --quarot="r1=false r2=false r3=true r4=false" | FileCheck %s --check-prefix=R3
// RUN: quant-opt %s --quarot="r1=false r2=false r3=false r4=true" | FileCheck %s --check-prefix=R4
// Two functions through one pass instance (no threading): each gets its own
// three lq.hadamard, none left over from the other.
// RUN: sed -e '/^#map/d' -e 's/@layer/@layer2/' %s > %t.second.mlir
// RUN: cat %s %t.second.mlir | quant-opt --quarot --mlir-disable-threading | FileCheck %s --check-prefix=TWO

// One pre-norm layer with folded (unit) norms: embedding, attention
// (2 heads of 2), an MLP (gate -> down), the final norm and the head.
// R1 rewrites the embedding, q/k/v, gate, lm_head (input side) and o/down
// (output side); R2 v_proj and o_proj; R3 puts lq.hadamard on Q and K at the
// attention; R4 on the down_proj input.

#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>

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

// TWO-LABEL: func.func @layer(
// TWO-COUNT-3: lq.hadamard
// TWO-NOT:     lq.hadamard
// TWO-LABEL: func.func @layer2(
// TWO-COUNT-3: lq.hadamard
// TWO-NOT:     lq.hadamard

// OFF-LABEL: func.func @layer
// OFF-NOT:     lq.hadamard
// OFF-NOT:     lq_quarot

// R3-LABEL: func.func @layer
// R3-COUNT-2:  lq.hadamard %{{.*}} : tensor<1x2x3x2xf32>
// R3-NOT:      lq.hadamard
// R3-NOT:      lq_quarot

// R4-LABEL: func.func @layer
// R4-DAG:      %[[DW:.*]] = arith.constant dense_resource<lq_quarot{{.*}}> : tensor<4x8xf32>
// R4-DAG:      %[[DH:.*]] = lq.hadamard %{{.*}} : tensor<1x3x8xf32>
// R4:          lq.linear %[[DH]], %[[DW]]
// R4-NOT:      lq.hadamard
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
