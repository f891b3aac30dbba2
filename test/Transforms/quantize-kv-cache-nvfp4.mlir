// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4" | FileCheck %s
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4 group=16" | FileCheck %s
// The lowered module calls the fused kernel's entry point for packed codes
// with E4M3 scales, passing the tensor scales.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4" --lower-to-cpu | FileCheck %s --check-prefix=CALL
// CALL: llvm.func @_mlir_ciface_lq_rt_attention_at_q_i8_f8E4M3FN(
// The generic lowering needs no runtime kernel.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=nvfp4" --lower-to-cpu="runtime-kernels=false" | FileCheck %s --check-prefix=GENERIC
// GENERIC-NOT: attention_at_q

// format=nvfp4: E2M1 codes packed two per byte (D/2 bytes per row), one
// E4M3 block scale per 16 channels (D/16 bytes per row), tensor scale 1.

// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x16x16xi8> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// CHECK-SAME: %[[PKS:[a-z0-9]+]]: tensor<1x1x16x2xf8E4M3FN> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.scales"}
// CHECK-SAME: tensor<1x1x16x16xi8> {lq.kv_cache = 3 : i64, onnx.name = "past_value.0"}
// CHECK-SAME: tensor<1x1x16x2xf8E4M3FN> {lq.kv_cache = 4 : i64, onnx.name = "past_value.0.scales"}
// CHECK: %[[G:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[S:.*]] = lq.compute_scales %{{.*}} global_scale %[[G]] for <format = nvfp4, axis = 3, group = 16> : (tensor<1x1x1x32xf32>, tensor<f32>) -> tensor<1x1x1x2xf8E4M3FN>
// CHECK: %[[Q:.*]] = lq.quantize %{{.*}}, %[[S]] global_scale %[[G]] : {{.*}} -> tensor<1x1x1x32xf4E2M1FN, #lq.scheme<format = nvfp4, axis = 3, group = 16>>
// CHECK: %[[P:.*]] = lq.pack_codes %[[Q]] : {{.*}} -> tensor<1x1x1x16xi8>
// CHECK: %[[KC:.*]] = tensor.insert_slice %[[P]] into %[[PK]][0, 0, %{{.*}}, 0] [1, 1, 1, 16] [1, 1, 1, 1]
// CHECK: %[[KS:.*]] = tensor.insert_slice %[[S]] into %[[PKS]][0, 0, %{{.*}}, 0] [1, 1, 1, 2] [1, 1, 1, 1]
// CHECK: %[[U:.*]] = lq.unpack_codes %[[KC]] : tensor<1x1x16x16xi8> -> tensor<1x1x16x32xf4E2M1FN
// CHECK: %[[K:.*]] = lq.dequantize %[[U]], %[[KS]] global_scale %{{.*}} : {{.*}} -> tensor<1x1x16x32xf32>
// CHECK: lq.attention %{{.*}}, %[[K]], %{{.*}} position
// CHECK: return %{{.*}}, %[[KC]], %[[KS]], %{{.*}}, %{{.*}} :
func.func @step(%q: tensor<1x2x1x32xf32>, %k: tensor<1x1x1x32xf32>,
                %v: tensor<1x1x1x32xf32>,
                %pk: tensor<1x1x16x32xf32> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"},
                %pv: tensor<1x1x16x32xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_value.0"},
                %pos: tensor<i64> {onnx.name = "position"})
    -> (tensor<1x2x1x32xf32> {onnx.name = "out"}, tensor<1x1x16x32xf32> {onnx.name = "present_key.0"},
        tensor<1x1x16x32xf32> {onnx.name = "present_value.0"}) {
  %p = tensor.extract %pos[] : tensor<i64>
  %i = arith.index_cast %p : i64 to index
  %kc = tensor.insert_slice %k into %pk[0, 0, %i, 0] [1, 1, 1, 32] [1, 1, 1, 1] : tensor<1x1x1x32xf32> into tensor<1x1x16x32xf32>
  %vc = tensor.insert_slice %v into %pv[0, 0, %i, 0] [1, 1, 1, 32] [1, 1, 1, 1] : tensor<1x1x1x32xf32> into tensor<1x1x16x32xf32>
  %o = lq.attention %q, %kc, %vc position %pos {causal} : (tensor<1x2x1x32xf32>, tensor<1x1x16x32xf32>, tensor<1x1x16x32xf32>, tensor<i64>) -> tensor<1x2x1x32xf32>
  return %o, %kc, %vc : tensor<1x2x1x32xf32>, tensor<1x1x16x32xf32>, tensor<1x1x16x32xf32>
}

// -----

// A graph-level cache (model_kv.onnx): codes and E4M3 scales concatenated.

// CHECK-LABEL: func.func @graph
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x3x8xi8> {onnx.name = "past_key"}
// CHECK-SAME: %[[PKS:[a-z0-9]+]]: tensor<1x1x3x1xf8E4M3FN> {onnx.name = "past_key.scales"}
// CHECK: %[[C:.*]] = tensor.concat dim(2) %[[PK]], %{{.*}} : (tensor<1x1x3x8xi8>, tensor<1x1x1x8xi8>) -> tensor<1x1x4x8xi8>
// CHECK: %[[CS:.*]] = tensor.concat dim(2) %[[PKS]], %{{.*}} : (tensor<1x1x3x1xf8E4M3FN>, tensor<1x1x1x1xf8E4M3FN>) -> tensor<1x1x4x1xf8E4M3FN>
// CHECK: return %{{.*}}, %[[C]], %[[CS]] :
func.func @graph(%q: tensor<1x1x1x16xf32>, %k: tensor<1x1x1x16xf32>,
                 %pk: tensor<1x1x3x16xf32> {onnx.name = "past_key"})
    -> (tensor<1x1x1x16xf32>, tensor<1x1x4x16xf32> {onnx.name = "present_key"}) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x3x16xf32>, tensor<1x1x1x16xf32>) -> tensor<1x1x4x16xf32>
  %o = lq.attention %q, %kc, %kc {causal} : (tensor<1x1x1x16xf32>, tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x1x1x16xf32>
  return %o, %kc : tensor<1x1x1x16xf32>, tensor<1x1x4x16xf32>
}

// -----

// Without a cache (a prefill), keys and values are quantized in place.

// CHECK-LABEL: func.func @prefill
// CHECK: %[[S:.*]] = lq.compute_scales %arg1 global_scale %{{.*}} for <format = nvfp4, axis = 3, group = 16> : (tensor<1x2x5x32xf32>, tensor<f32>) -> tensor<1x2x5x2xf8E4M3FN>
// CHECK: %[[Q:.*]] = lq.quantize %arg1, %[[S]] global_scale
// CHECK: %[[K:.*]] = lq.dequantize %{{.*}}, %[[S]] global_scale
// CHECK: lq.attention %arg0, %[[K]], %{{.*}} {causal}
func.func @prefill(%q: tensor<1x4x5x32xf32>, %k: tensor<1x2x5x32xf32>, %v: tensor<1x2x5x32xf32>) -> tensor<1x4x5x32xf32> {
  %o = lq.attention %q, %k, %v {causal} : (tensor<1x4x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x2x5x32xf32>) -> tensor<1x4x5x32xf32>
  return %o : tensor<1x4x5x32xf32>
}
