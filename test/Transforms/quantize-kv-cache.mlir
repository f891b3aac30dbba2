// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4" | FileCheck %s --check-prefix=INT4
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 group=2" | FileCheck %s --check-prefix=INT8
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=fp8-e4m3" | FileCheck %s --check-prefix=FP8
// The lowered module calls the fused kernel, one entry point per code type.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4" --lower-to-cpu | FileCheck %s --check-prefix=CALL4
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=fp8-e5m2" --lower-to-cpu | FileCheck %s --check-prefix=CALL8
// f16 scales (scale-type=f16) have entry points of their own, which take the
// (unit) tensor scales too.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scale-type=f16" --lower-to-cpu | FileCheck %s --check-prefix=CALLH8
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=fp8-e4m3 scale-type=f16" --lower-to-cpu | FileCheck %s --check-prefix=CALLHF8
// CALLH8: llvm.func @_mlir_ciface_lq_rt_attention_at_q_i8_f16(
// CALLHF8: llvm.func @_mlir_ciface_lq_rt_attention_at_q_f8E4M3FN_f16(

// A runtime-managed cache (after --static-kv-cache): each cache becomes
// packed codes plus scales, both written at `position`; lq.kv_cache follows
// the results they feed back from.

// INT4-LABEL: func.func @step
// INT4-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x16x2xi8> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// INT4-SAME: %[[PKS:[a-z0-9]+]]: tensor<1x1x16x1xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.scales"}
// INT4-SAME: tensor<1x1x16x2xi8> {lq.kv_cache = 3 : i64, onnx.name = "past_value.0"}
// INT4-SAME: tensor<1x1x16x1xf32> {lq.kv_cache = 4 : i64, onnx.name = "past_value.0.scales"}
// INT4-SAME: -> (tensor<1x2x1x4xf32> {onnx.name = "out"}, tensor<1x1x16x2xi8> {onnx.name = "present_key.0"}, tensor<1x1x16x1xf32> {onnx.name = "present_key.0.scales"}
// INT4: %[[S:.*]] = lq.compute_scales %{{.*}} for <format = int, bits = 4, axis = 3, group = 4> : (tensor<1x1x1x4xf32>) -> tensor<1x1x1x1xf32>
// INT4: %[[Q:.*]] = lq.quantize %{{.*}}, %[[S]] : {{.*}} -> tensor<1x1x1x4xi4, #lq.scheme<format = int, bits = 4, axis = 3, group = 4>>
// INT4: %[[P:.*]] = lq.pack_codes %[[Q]] : {{.*}} -> tensor<1x1x1x2xi8>
// INT4: %[[KC:.*]] = tensor.insert_slice %[[P]] into %[[PK]][0, 0, %{{.*}}, 0] [1, 1, 1, 2] [1, 1, 1, 1]
// INT4: %[[KS:.*]] = tensor.insert_slice %[[S]] into %[[PKS]][0, 0, %{{.*}}, 0] [1, 1, 1, 1] [1, 1, 1, 1]
// INT4: %[[U:.*]] = lq.unpack_codes %[[KC]] : tensor<1x1x16x2xi8> -> tensor<1x1x16x4xi4
// INT4: %[[K:.*]] = lq.dequantize %[[U]], %[[KS]]
// INT4: lq.attention %{{.*}}, %[[K]], %{{.*}} position
// INT4: return %{{.*}}, %[[KC]], %[[KS]], %{{.*}}, %{{.*}} :

// INT8-LABEL: func.func @step
// INT8-SAME: tensor<1x1x16x4xi8, #lq.scheme<format = int, bits = 8, axis = 3, group = 2>> {lq.kv_cache = 1 : i64
// INT8-SAME: tensor<1x1x16x2xf32> {lq.kv_cache = 2 : i64
// FP8-LABEL: func.func @step
// FP8-SAME: tensor<1x1x16x4xf8E4M3FN, #lq.scheme<format = fp8_e4m3, axis = 3, group = 4>>

// CALL4: call @lq_rt_attention_at_q_i8(
// CALL8: call @lq_rt_attention_at_q_f8E5M2(
func.func @step(%q: tensor<1x2x1x4xf32>, %k: tensor<1x1x1x4xf32>,
                %v: tensor<1x1x1x4xf32>,
                %pk: tensor<1x1x16x4xf32> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"},
                %pv: tensor<1x1x16x4xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_value.0"},
                %pos: tensor<i64> {onnx.name = "position"})
    -> (tensor<1x2x1x4xf32> {onnx.name = "out"}, tensor<1x1x16x4xf32> {onnx.name = "present_key.0"},
        tensor<1x1x16x4xf32> {onnx.name = "present_value.0"}) {
  %p = tensor.extract %pos[] : tensor<i64>
  %i = arith.index_cast %p : i64 to index
  %kc = tensor.insert_slice %k into %pk[0, 0, %i, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x1x1x4xf32> into tensor<1x1x16x4xf32>
  %vc = tensor.insert_slice %v into %pv[0, 0, %i, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x1x1x4xf32> into tensor<1x1x16x4xf32>
  %o = lq.attention %q, %kc, %vc position %pos {causal} : (tensor<1x2x1x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>, tensor<i64>) -> tensor<1x2x1x4xf32>
  return %o, %kc, %vc : tensor<1x2x1x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>
}

// -----

// A graph-level cache (model_kv.onnx): past and present stay inputs and
// outputs, now as codes and scales concatenated along the tokens.

// INT8-LABEL: func.func @graph
// INT8-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x3x4xi8, #lq.scheme<format = int, bits = 8, axis = 3, group = 2>> {onnx.name = "past_key"}
// INT8-SAME: %[[PKS:[a-z0-9]+]]: tensor<1x1x3x2xf32> {onnx.name = "past_key.scales"}
// INT8: %[[C:.*]] = tensor.concat dim(2) %[[PK]], %{{.*}} : (tensor<1x1x3x4xi8, {{.*}}>, tensor<1x1x1x4xi8, {{.*}}>) -> tensor<1x1x4x4xi8
// INT8: %[[CS:.*]] = tensor.concat dim(2) %[[PKS]], %{{.*}} : (tensor<1x1x3x2xf32>, tensor<1x1x1x2xf32>) -> tensor<1x1x4x2xf32>
// INT8: %[[K:.*]] = lq.dequantize %[[C]], %[[CS]]
// INT8: lq.attention %{{.*}}, %[[K]], %[[K]]
// INT8: return %{{.*}}, %[[C]], %[[CS]] :
func.func @graph(%q: tensor<1x1x1x4xf32>, %k: tensor<1x1x1x4xf32>,
                 %pk: tensor<1x1x3x4xf32> {onnx.name = "past_key"})
    -> (tensor<1x1x1x4xf32>, tensor<1x1x4x4xf32> {onnx.name = "present_key"}) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x3x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x4x4xf32>
  %o = lq.attention %q, %kc, %kc {causal} : (tensor<1x1x1x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x1x1x4xf32>
  return %o, %kc : tensor<1x1x1x4xf32>, tensor<1x1x4x4xf32>
}

// -----

// Without a cache (a prefill), keys and values are quantized in place.

// INT8-LABEL: func.func @prefill
// INT8: %[[S:.*]] = lq.compute_scales %arg1 for <format = int, bits = 8, axis = 3, group = 2> : (tensor<1x2x5x4xf32>) -> tensor<1x2x5x2xf32>
// INT8: %[[Q:.*]] = lq.quantize %arg1, %[[S]]
// INT8: %[[K:.*]] = lq.dequantize %[[Q]], %[[S]]
// INT8: lq.attention %arg0, %[[K]], %{{.*}} {causal}
// INT8-SAME: (tensor<1x4x5x4xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x4x5x4xf32>
// INT8: return
func.func @prefill(%q: tensor<1x4x5x4xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x4xf32>) -> tensor<1x4x5x4xf32> {
  %o = lq.attention %q, %k, %v {causal} : (tensor<1x4x5x4xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x4x5x4xf32>
  return %o : tensor<1x4x5x4xf32>
}
