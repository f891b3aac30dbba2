// The quantized KV cache, run on the CPU: two decode steps through
// --quantize-kv-cache's int4 cache (packed codes + per-token scales, written
// at `position`) must give exactly what a prefill over both tokens gives with
// keys and values quantized in place: the same codes, read back by the
// fused kernel (lq_rt_attention_at_q) or by the generic lowering
// (lq.unpack_codes + lq.dequantize in linalg). The functions are
// --quantize-kv-cache="format=int4 group=4" applied to a float step and a
// float prefill (see test/Transforms/quantize-kv-cache.mlir); inputs are
// random, with an outlier key channel.

// RUN: quant-opt %s --lower-to-cpu | %mlir_runner -e main -entry-point-result=void %lq_runner_libs | FileCheck %s
// RUN: quant-opt %s --lower-to-cpu="runtime-kernels=false" | %mlir_runner -e main -entry-point-result=void %runner_libs | FileCheck %s

// CHECK: sizes = [2] strides = [1] data =
// CHECK-NEXT: [{{[^,]+}}, 1]
// CHECK: sizes = [2] strides = [1] data =
// CHECK-NEXT: [{{[^,]+}}, 1]
// The cache is not the float cache: int4 moves the output (> 1e-3).
// CHECK: sizes = [2] strides = [1] data =
// CHECK-NEXT: [{{[^,]+}}, 0]

func.func private @printMemrefF32(tensor<*xf32>)

// Prints [max |got - want|, 1 if that is <= tol else 0]; NaN gives 0.
func.func @check(%got: tensor<?xf32>, %want: tensor<?xf32>, %tol: f32) {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %max = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                         iterator_types = ["reduction"]}
      ins(%got, %want : tensor<?xf32>, tensor<?xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%g: f32, %w: f32, %m: f32):
    %d = arith.subf %g, %w : f32
    %a = math.absf %d : f32
    %r = arith.maximumf %m, %a : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %err = tensor.extract %max[] : tensor<f32>
  %ok = arith.cmpf ole, %err, %tol : f32
  %okf = arith.uitofp %ok : i1 to f32
  %out = tensor.from_elements %err, %okf : tensor<2xf32>
  %u = tensor.cast %out : tensor<2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @step(%arg0: tensor<1x4x1x8xf32>, %arg1: tensor<1x2x1x8xf32>, %arg2: tensor<1x2x1x8xf32>, %arg3: tensor<1x2x4x4xi8> {lq.kv_cache = 1 : i64}, %arg4: tensor<1x2x4x2xf32> {lq.kv_cache = 2 : i64, onnx.name = "arg3.scales"}, %arg5: tensor<1x2x4x4xi8> {lq.kv_cache = 3 : i64}, %arg6: tensor<1x2x4x2xf32> {lq.kv_cache = 4 : i64, onnx.name = "arg5.scales"}, %arg7: tensor<i64>) -> (tensor<1x4x1x8xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32> {onnx.name = "result1.scales"}, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32> {onnx.name = "result2.scales"}) {
  %extracted = tensor.extract %arg7[] : tensor<i64>
  %0 = arith.index_cast %extracted : i64 to index
  %1 = lq.compute_scales %arg1 for <format = int, bits = 4, axis = 3, group = 4> : (tensor<1x2x1x8xf32>) -> tensor<1x2x1x2xf32>
  %2 = lq.quantize %arg1, %1 : (tensor<1x2x1x8xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x1x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %3 = lq.pack_codes %2 : tensor<1x2x1x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>> -> tensor<1x2x1x4xi8>
  %inserted_slice = tensor.insert_slice %3 into %arg3[0, 0, %0, 0] [1, 2, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xi8> into tensor<1x2x4x4xi8>
  %inserted_slice_0 = tensor.insert_slice %1 into %arg4[0, 0, %0, 0] [1, 2, 1, 2] [1, 1, 1, 1] : tensor<1x2x1x2xf32> into tensor<1x2x4x2xf32>
  %4 = lq.unpack_codes %inserted_slice : tensor<1x2x4x4xi8> -> tensor<1x2x4x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %5 = lq.dequantize %4, %inserted_slice_0 : (tensor<1x2x4x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>, tensor<1x2x4x2xf32>) -> tensor<1x2x4x8xf32>
  %6 = lq.compute_scales %arg2 for <format = int, bits = 4, axis = 3, group = 4> : (tensor<1x2x1x8xf32>) -> tensor<1x2x1x2xf32>
  %7 = lq.quantize %arg2, %6 : (tensor<1x2x1x8xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x1x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %8 = lq.pack_codes %7 : tensor<1x2x1x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>> -> tensor<1x2x1x4xi8>
  %inserted_slice_1 = tensor.insert_slice %8 into %arg5[0, 0, %0, 0] [1, 2, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xi8> into tensor<1x2x4x4xi8>
  %inserted_slice_2 = tensor.insert_slice %6 into %arg6[0, 0, %0, 0] [1, 2, 1, 2] [1, 1, 1, 1] : tensor<1x2x1x2xf32> into tensor<1x2x4x2xf32>
  %9 = lq.unpack_codes %inserted_slice_1 : tensor<1x2x4x4xi8> -> tensor<1x2x4x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %10 = lq.dequantize %9, %inserted_slice_2 : (tensor<1x2x4x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>, tensor<1x2x4x2xf32>) -> tensor<1x2x4x8xf32>
  %11 = lq.attention %arg0, %5, %10 position %arg7 {causal} : (tensor<1x4x1x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<i64>) -> tensor<1x4x1x8xf32>
  return %11, %inserted_slice, %inserted_slice_0, %inserted_slice_1, %inserted_slice_2 : tensor<1x4x1x8xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>
}
func.func @ref(%arg0: tensor<1x4x2x8xf32>, %arg1: tensor<1x2x2x8xf32>, %arg2: tensor<1x2x2x8xf32>) -> tensor<1x4x2x8xf32> {
  %0 = lq.compute_scales %arg1 for <format = int, bits = 4, axis = 3, group = 4> : (tensor<1x2x2x8xf32>) -> tensor<1x2x2x2xf32>
  %1 = lq.quantize %arg1, %0 : (tensor<1x2x2x8xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %2 = lq.pack_codes %1 : tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>> -> tensor<1x2x2x4xi8>
  %3 = lq.unpack_codes %2 : tensor<1x2x2x4xi8> -> tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %4 = lq.dequantize %3, %0 : (tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x8xf32>
  %5 = lq.compute_scales %arg2 for <format = int, bits = 4, axis = 3, group = 4> : (tensor<1x2x2x8xf32>) -> tensor<1x2x2x2xf32>
  %6 = lq.quantize %arg2, %5 : (tensor<1x2x2x8xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %7 = lq.pack_codes %6 : tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>> -> tensor<1x2x2x4xi8>
  %8 = lq.unpack_codes %7 : tensor<1x2x2x4xi8> -> tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
  %9 = lq.dequantize %8, %5 : (tensor<1x2x2x8xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x8xf32>
  %10 = lq.attention %arg0, %4, %9 {causal} : (tensor<1x4x2x8xf32>, tensor<1x2x2x8xf32>, tensor<1x2x2x8xf32>) -> tensor<1x4x2x8xf32>
  return %10 : tensor<1x4x2x8xf32>
}

func.func @flat(%x: tensor<1x4x1x8xf32>) -> tensor<?xf32> {
  %f = tensor.collapse_shape %x [[0, 1, 2, 3]] : tensor<1x4x1x8xf32> into tensor<32xf32>
  %d = tensor.cast %f : tensor<32xf32> to tensor<?xf32>
  return %d : tensor<?xf32>
}

func.func @main() {
  %q = arith.constant dense<[[[[-0.80193144, -1.3243589 , -0.24836162,  0.42044523,  1.1360465 ,     0.1097064 , -0.5526473 , -0.7847804 ],   [ 0.7487458 ,  1.634783  ,  0.27276877, -1.2333287 , -0.9582652 ,     1.6000191 ,  0.20288244, -1.7321348 ]],  [[-0.08369619, -1.163226  , -0.6292881 , -0.48800582, -0.7133134 ,     0.55337846, -0.06308597, -0.5894313 ],   [ 0.40963784,  0.8298553 , -1.6430234 , -0.25673014, -0.98074734,    -0.17315522, -1.2894187 ,  0.02069039]],  [[-0.03788574, -0.30433774, -1.0479265 , -0.39619035, -1.0913289 ,    -1.3552088 ,  0.22478573, -1.10935   ],   [ 1.1702961 ,  0.71658766, -1.9978167 ,  0.27212888, -1.1017166 ,     0.03305722,  0.04363199, -1.9884298 ]],  [[-0.23342252, -0.25579002,  0.96200055, -1.1814468 ,  0.7380419 ,    -1.0989728 , -0.3312909 , -0.8404732 ],   [ 1.4487313 ,  0.5682131 ,  2.4317324 ,  0.6419164 ,  0.84499276,     0.84068286, -0.60661155, -0.07002845]]]]> : tensor<1x4x2x8xf32>
  %k = arith.constant dense<[[[[ 2.7007778e+00, -7.9310155e-01,  3.7759906e-01, -3.3957538e-01,     1.2184330e+00, -7.2981751e-01, -3.0472377e-01,  4.8476285e-01],   [ 2.0604628e-01, -1.7299455e+00,  1.7915661e+00, -2.0775700e+01,    -2.4022312e+00, -2.5649836e+00,  1.9339446e+00, -7.2121674e-01]],  [[-1.9420727e+00, -2.2720428e+00,  8.4226227e-01, -2.1096814e+00,    -2.5441563e+00,  1.2279861e+00, -2.3934155e+00, -6.4487630e-01],   [-1.3523080e-02, -8.9067072e-01, -1.0818792e-01,  2.6775470e+00,    -1.0337883e+00, -2.5186143e+00, -3.6734915e+00, -4.0953222e-01]]]]> : tensor<1x2x2x8xf32>
  %v = arith.constant dense<[[[[-0.352257  ,  0.2650909 , -0.4642446 , -0.47863847, -0.72131574,    -0.5197598 ,  0.1602267 , -0.38035274],   [ 0.10044185,  1.9011872 ,  0.47911814, -1.5760899 ,  1.7335296 ,     0.34781036, -0.9414133 ,  0.90704894]],  [[ 0.01765561, -0.6152185 , -0.6335089 , -0.9934318 ,  0.04811898,     1.0688167 , -0.3250521 ,  0.4208241 ],   [ 1.875646  , -1.2145907 ,  0.2575223 , -0.30643693, -1.0592561 ,    -1.0258472 , -0.01528514,  0.4338634 ]]]]> : tensor<1x2x2x8xf32>
  %codes = arith.constant dense<0> : tensor<1x2x4x4xi8>
  %scales = arith.constant dense<0.0> : tensor<1x2x4x2xf32>
  %p0 = arith.constant dense<0> : tensor<i64>
  %p1 = arith.constant dense<1> : tensor<i64>
  %q0 = tensor.extract_slice %q[0, 0, 0, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<1x4x2x8xf32> to tensor<1x4x1x8xf32>
  %q1 = tensor.extract_slice %q[0, 0, 1, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<1x4x2x8xf32> to tensor<1x4x1x8xf32>
  %k0 = tensor.extract_slice %k[0, 0, 0, 0] [1, 2, 1, 8] [1, 1, 1, 1] : tensor<1x2x2x8xf32> to tensor<1x2x1x8xf32>
  %k1 = tensor.extract_slice %k[0, 0, 1, 0] [1, 2, 1, 8] [1, 1, 1, 1] : tensor<1x2x2x8xf32> to tensor<1x2x1x8xf32>
  %v0 = tensor.extract_slice %v[0, 0, 0, 0] [1, 2, 1, 8] [1, 1, 1, 1] : tensor<1x2x2x8xf32> to tensor<1x2x1x8xf32>
  %v1 = tensor.extract_slice %v[0, 0, 1, 0] [1, 2, 1, 8] [1, 1, 1, 1] : tensor<1x2x2x8xf32> to tensor<1x2x1x8xf32>
  %o0:5 = call @step(%q0, %k0, %v0, %codes, %scales, %codes, %scales, %p0)
      : (tensor<1x4x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>, tensor<i64>)
      -> (tensor<1x4x1x8xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>)
  %o1:5 = call @step(%q1, %k1, %v1, %o0#1, %o0#2, %o0#3, %o0#4, %p1)
      : (tensor<1x4x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>, tensor<i64>)
      -> (tensor<1x4x1x8xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>, tensor<1x2x4x4xi8>, tensor<1x2x4x2xf32>)
  %r = call @ref(%q, %k, %v) : (tensor<1x4x2x8xf32>, tensor<1x2x2x8xf32>, tensor<1x2x2x8xf32>) -> tensor<1x4x2x8xf32>
  %r0 = tensor.extract_slice %r[0, 0, 0, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<1x4x2x8xf32> to tensor<1x4x1x8xf32>
  %r1 = tensor.extract_slice %r[0, 0, 1, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<1x4x2x8xf32> to tensor<1x4x1x8xf32>
  %tol = arith.constant 1.0e-5 : f32
  %g0 = call @flat(%o0#0) : (tensor<1x4x1x8xf32>) -> tensor<?xf32>
  %w0 = call @flat(%r0) : (tensor<1x4x1x8xf32>) -> tensor<?xf32>
  call @check(%g0, %w0, %tol) : (tensor<?xf32>, tensor<?xf32>, f32) -> ()
  %g1 = call @flat(%o1#0) : (tensor<1x4x1x8xf32>) -> tensor<?xf32>
  %w1 = call @flat(%r1) : (tensor<1x4x1x8xf32>) -> tensor<?xf32>
  call @check(%g1, %w1, %tol) : (tensor<?xf32>, tensor<?xf32>, f32) -> ()
  // Against float attention over the same rows.
  %f = lq.attention %q, %k, %v {causal} : (tensor<1x4x2x8xf32>, tensor<1x2x2x8xf32>, tensor<1x2x2x8xf32>) -> tensor<1x4x2x8xf32>
  %f1 = tensor.extract_slice %f[0, 0, 1, 0] [1, 4, 1, 8] [1, 1, 1, 1] : tensor<1x4x2x8xf32> to tensor<1x4x1x8xf32>
  %wf = call @flat(%f1) : (tensor<1x4x1x8xf32>) -> tensor<?xf32>
  %tolf = arith.constant 1.0e-3 : f32
  call @check(%g1, %wf, %tolf) : (tensor<?xf32>, tensor<?xf32>, f32) -> ()
  return
}
