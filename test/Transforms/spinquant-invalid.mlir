// Bad rotation files give an error naming the file (and what is wrong), never a crash.
// RUN: rm -rf %t && mkdir -p %t/notorth %t/size %t/layers %t/rank %t/r2size %t/int
// RUN: %python -c "import numpy as np; e = np.eye(4); e[0, 1] = 1e-3; np.save('%t/notorth/R1.npy', e)"
// RUN: %python -c "import numpy as np; np.save('%t/size/R1.npy', np.eye(3))"
// RUN: %python -c "import numpy as np; np.save('%t/layers/R1.npy', np.eye(4)); np.save('%t/layers/R2.npy', np.stack([np.eye(2)] * 3))"
// RUN: %python -c "import numpy as np; np.save('%t/rank/R1.npy', np.ones(4))"
// RUN: %python -c "import numpy as np; np.save('%t/r2size/R1.npy', np.eye(4)); np.save('%t/r2size/R2.npy', np.eye(4))"
// RUN: %python -c "import numpy as np; np.save('%t/int/R1.npy', np.eye(4, dtype=np.int64))"
// RUN: not quant-opt %s --spinquant 2>&1 | FileCheck %s --check-prefix=NODIR
// RUN: not quant-opt %s --spinquant="rotations=%t/missing" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not quant-opt %s --spinquant="rotations=%t/notorth" 2>&1 | FileCheck %s --check-prefix=NOTORTH
// RUN: not quant-opt %s --spinquant="rotations=%t/layers" 2>&1 | FileCheck %s --check-prefix=LAYERS
// RUN: not quant-opt %s --spinquant="rotations=%t/rank" 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not quant-opt %s --spinquant="rotations=%t/r2size" 2>&1 | FileCheck %s --check-prefix=R2SIZE
// RUN: not quant-opt %s --spinquant="rotations=%t/int" 2>&1 | FileCheck %s --check-prefix=INT
// (No R2.npy there: none is read with r2=false.)
// RUN: not quant-opt %s --spinquant="rotations=%t/size r2=false" 2>&1 | FileCheck %s --check-prefix=SIZE
// A looser orth-tol lets notorth/R1.npy through (verify=true then tells
// whether the model stays invariant: quarot-verify.mlir).
// RUN: quant-opt %s --spinquant="rotations=%t/notorth orth-tol=1e-2 r2=false" -o /dev/null

// .npz (np.savez) and .safetensors files: the tensors must be named R1/R2,
// npz members stored (not deflated), safetensors headers well formed.
// RUN: %python -c "import numpy as np; np.savez('%t/noR2.npz', R1=np.eye(4), X=np.eye(2)); np.savez_compressed('%t/deflated.npz', R1=np.eye(4), R2=np.eye(2)); np.savez('%t/f32.npz', R1=np.eye(4, dtype=np.float32), R2=np.eye(2, dtype=np.float32)); open('%t/notzip.npz', 'w').write('hello')"
// RUN: %python -c "import sys, numpy as np; sys.path.insert(0, '%lq_src_root/tools/spinquant'); import rotations_io as io; io.save_safetensors('%t/rank.safetensors', {'R1': np.ones(4), 'R2': np.eye(2)}); io.save_safetensors('%t/names.safetensors', {'r1': np.eye(4), 'r2': np.eye(2)}); io.save_safetensors('%t/ok.safetensors', {'R1': np.eye(4), 'R2': np.eye(2, dtype=np.float32)})"
// RUN: %python -c "import struct, json; h = json.dumps({'R1': {'dtype': 'I64', 'shape': [4, 4], 'data_offsets': [0, 128]}}).encode(); open('%t/int.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + bytes(128)); h = json.dumps({'R1': {'dtype': 'F64', 'shape': [4, 4], 'data_offsets': [0, 128]}}).encode(); open('%t/short.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + bytes(64)); open('%t/json.safetensors', 'wb').write(struct.pack('<Q', 9) + b'{not json')"
// RUN: quant-opt %s --spinquant="rotations=%t/f32.npz" -o /dev/null
// RUN: quant-opt %s --spinquant="rotations=%t/ok.safetensors" -o /dev/null
// RUN: not quant-opt %s --spinquant="rotations=%t/noR2.npz" 2>&1 | FileCheck %s --check-prefix=NPZNAME
// RUN: not quant-opt %s --spinquant="rotations=%t/deflated.npz" 2>&1 | FileCheck %s --check-prefix=DEFLATED
// RUN: not quant-opt %s --spinquant="rotations=%t/notzip.npz" 2>&1 | FileCheck %s --check-prefix=NOTZIP
// RUN: not quant-opt %s --spinquant="rotations=%t/missing.npz" 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not quant-opt %s --spinquant="rotations=%t/rank.safetensors" 2>&1 | FileCheck %s --check-prefix=STRANK
// RUN: not quant-opt %s --spinquant="rotations=%t/names.safetensors" 2>&1 | FileCheck %s --check-prefix=STNAME
// RUN: not quant-opt %s --spinquant="rotations=%t/int.safetensors" 2>&1 | FileCheck %s --check-prefix=STINT
// RUN: not quant-opt %s --spinquant="rotations=%t/short.safetensors" 2>&1 | FileCheck %s --check-prefix=STSHORT
// RUN: not quant-opt %s --spinquant="rotations=%t/json.safetensors" 2>&1 | FileCheck %s --check-prefix=STJSON

// NODIR: error: spinquant: give rotations=DIR (a directory with R1.npy and R2.npy
// MISSING: error: spinquant: cannot read {{.*}}missing/R1.npy
// NOTORTH: error: spinquant: {{.*}}notorth/R1.npy is not orthogonal: max |R^T R - I| = 1.000000e-03 (> orth-tol 0.0001)
// SIZE: error: spinquant: {{.*}}size/R1.npy is [3, 3], the hidden size is 4
// LAYERS: error: spinquant: {{.*}}layers/R2.npy holds 3 matrices, the model has 1 attentions
// RANK: error: spinquant: {{.*}}rank/R1.npy must hold an [n, n] f32/f64 matrix, not f64 [4]
// R2SIZE: error: spinquant: {{.*}}r2size/R2.npy holds [4, 4] matrices, the head size is 2
// INT: error: spinquant: {{.*}}int/R1.npy must hold an [n, n] f32/f64 matrix, not i64 [4, 4]
// NPZNAME: error: spinquant: {{.*}}noR2.npz has no tensor 'R2' (it holds: R1, X; name the rotations R1 [D, D] and R2 [layers, d, d] or [d, d])
// DEFLATED: error: spinquant: {{.*}}deflated.npz (tensor 'R1') is deflate-compressed (np.savez_compressed); lq reads stored members only: write the file with np.savez
// NOTZIP: error: spinquant: {{.*}}notzip.npz is not a readable .npz (zip) archive: too short
// NOFILE: error: spinquant: cannot read {{.*}}missing.npz: No such file or directory
// STRANK: error: spinquant: {{.*}}rank.safetensors (tensor 'R1') must hold an [n, n] f32/f64 matrix, not f64 [4]
// STNAME: error: spinquant: {{.*}}names.safetensors has no tensor 'R1' (it holds: r1, r2;
// STINT: error: spinquant: {{.*}}int.safetensors (tensor 'R1') must hold an [n, n] f32/f64 matrix, not i64 [4, 4]
// STSHORT: error: spinquant: {{.*}}short.safetensors (tensor 'R1'): data_offsets lie outside the file's 64 data bytes
// STJSON: error: spinquant: {{.*}}json.safetensors: bad safetensors JSON header: {{.+}}

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
