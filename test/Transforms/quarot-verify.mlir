// --quarot / --spinquant verify=true JIT-run the model before and after the
// rotation (no quantization) on ids 1..T and compare the logits: a remark
// with the relative error when they agree within verify-tol, an error naming
// it when they do not. The rotation files are also read as .npz and
// .safetensors (tools/spinquant/rotations_io.py converts the directory).
// RUN: rm -rf %t && mkdir -p %t/ok %t/bad
// RUN: %python -c "import numpy as np; r = np.random.default_rng(0); q = lambda n: np.linalg.qr(r.standard_normal((n, n)))[0]; np.save('%t/ok/R1.npy', q(4)); np.save('%t/ok/R2.npy', q(2)[None]); e = q(4); e[0, 1] += 1e-2; np.save('%t/bad/R1.npy', e); np.save('%t/bad/R2.npy', q(2))"
// RUN: %python %lq_src_root/tools/spinquant/rotations_io.py %t/ok %t/ok.npz
// RUN: %python %lq_src_root/tools/spinquant/rotations_io.py %t/ok %t/ok.safetensors
// RUN: quant-opt %s --quarot="verify=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=QUAROT
// RUN: quant-opt %s --spinquant="rotations=%t/ok verify=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SPIN
// RUN: quant-opt %s --spinquant="rotations=%t/ok.npz verify=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SPIN
// RUN: quant-opt %s --spinquant="rotations=%t/ok.safetensors verify=true verify-tol=1e-5" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SPIN
// A rotation 1% off orthogonal, let through by a loose orth-tol, does not
// cancel: verify catches it.
// RUN: not quant-opt %s --spinquant="rotations=%t/bad orth-tol=0.1 verify=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD
// Without verify the same rotation is fused silently.
// RUN: quant-opt %s --spinquant="rotations=%t/bad orth-tol=0.1" -o /dev/null 2>&1 | count 0

// QUAROT: remark: quarot verify: the rotated float logits equal the original within a relative error of {{[0-9.]+e-(0[6-9]|[1-9][0-9])|0.000000e\+00}} (tolerance 0.0001, ids 1..3)
// SPIN: remark: spinquant verify: the rotated float logits equal the original within a relative error of {{[0-9.]+e-(0[6-9]|[1-9][0-9])|0.000000e\+00}} (tolerance {{0.0001|1e-05}}, ids 1..3)
// BAD: error: spinquant verify: the rotated float logits differ from the original by a relative error of {{[0-9.]+e-0[1-3]}} (max |dlogit| / max |logit| over ids 1..3), above the tolerance 0.0001 (verify-tol): the rotations do not cancel in this model
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
