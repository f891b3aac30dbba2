// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 scales=static key-granularity=per-channel" | FileCheck %s --check-prefix=INT4
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=static key-granularity=per-channel value-granularity=per-channel" | FileCheck %s --check-prefix=BOTH
// The lowered module still calls the fused kernel (static per-channel key
// scales [1, H, 1, D] with per-token value scales, and both static).
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 scales=static key-granularity=per-channel" --lower-to-cpu | FileCheck %s --check-prefix=CALL4
// scale-type=f16: the static key scales become f16 constants too (one scale
// type for keys and values), so the fused kernel's f16 entry point applies.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 scales=static key-granularity=per-channel scale-type=f16" | FileCheck %s --check-prefix=F16
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 scales=static key-granularity=per-channel scale-type=f16" --lower-to-cpu | FileCheck %s --check-prefix=CALLF16
// F16-LABEL: func.func @step
// F16-SAME: tensor<1x1x16x1xf16> {lq.kv_cache = 3 : i64, onnx.name = "past_value.0.scales"}
// F16: arith.constant dense<{{.*}}> : tensor<1x1x1x4xf16>
// CALLF16: llvm.func @_mlir_ciface_lq_rt_attention_at_q_i8_f16(
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=static key-granularity=per-channel value-granularity=per-channel" --lower-to-cpu | FileCheck %s --check-prefix=CALL8
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=fp8-e4m3 scales=static key-granularity=per-channel" --lower-to-cpu | FileCheck %s --check-prefix=CALLF8

// Static per-channel keys (scale = lq.k_absmax / qmax, a constant
// [1, H, 1, D] in the scheme block = [0, 1, 0, 1]): the key cache holds
// codes only (no key scales argument or result); values stay per token
// unless value-granularity=per-channel.

// INT4-LABEL: func.func @step
// INT4-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x16x2xi8> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// INT4-SAME: tensor<1x1x16x2xi8> {lq.kv_cache = 2 : i64, onnx.name = "past_value.0"}
// INT4-SAME: tensor<1x1x16x1xf32> {lq.kv_cache = 3 : i64, onnx.name = "past_value.0.scales"}
// INT4-SAME: -> (tensor<1x2x1x4xf32> {onnx.name = "out"}, tensor<1x1x16x2xi8> {onnx.name = "present_key.0"}, tensor<1x1x16x2xi8> {onnx.name = "present_value.0"}, tensor<1x1x16x1xf32> {onnx.name = "present_value.0.scales"})
// 7 / 7, 14 / 7, 0.7 / 7, 70 / 7:
// INT4: %[[C:.*]] = arith.constant dense<{{\[\[\[\[}}1.000000e+00, 2.000000e+00, 1.000000e-01, 1.000000e+01]]]]> : tensor<1x1x1x4xf32>
// INT4: %[[Q:.*]] = lq.quantize %{{.*}}, %[[C]] : {{.*}} -> tensor<1x1x1x4xi4, #lq.scheme<format = int, bits = 4, block = [0, 1, 0, 1]>>
// INT4: %[[P:.*]] = lq.pack_codes %[[Q]]
// INT4: %[[KC:.*]] = tensor.insert_slice %[[P]] into %[[PK]][0, 0, %{{.*}}, 0] [1, 1, 1, 2]
// INT4: %[[U:.*]] = lq.unpack_codes %[[KC]] : tensor<1x1x16x2xi8> -> tensor<1x1x16x4xi4, #lq.scheme<format = int, bits = 4, block = [0, 1, 0, 1]>>
// INT4: %[[K:.*]] = lq.dequantize %[[U]], %[[C]]
// INT4: lq.compute_scales %{{.*}} for <format = int, bits = 4, axis = 3, group = 4>
// INT4: lq.attention %{{.*}}, %[[K]], %{{.*}} position
// INT4: return %{{.*}}, %[[KC]], %{{.*}}, %{{.*}} :

// BOTH-LABEL: func.func @step
// BOTH-SAME: tensor<1x1x16x4xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// BOTH-SAME: tensor<1x1x16x4xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>> {lq.kv_cache = 2 : i64, onnx.name = "past_value.0"}
// BOTH-SAME: %{{[a-z0-9]+}}: tensor<i64> {onnx.name = "position"})
// A channel never seen nonzero takes the tensor's range (127 / 127):
// BOTH: arith.constant dense<{{\[\[\[\[}}0.00999999977, 2.000000e-02, 1.000000e+00, 1.000000e+00]]]]>
// BOTH-NOT: lq.compute_scales
// BOTH: lq.attention

// CALL4-LABEL: llvm.func @step(
// CALL4: call @lq_rt_attention_at_q_i8(
// CALL8: call @lq_rt_attention_at_q_i8(
// CALLF8: call @lq_rt_attention_at_q_f8E4M3FN(
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
  %o = lq.attention %q, %kc, %vc position %pos {causal,
         lq.k_absmax = dense<[[7.0, 14.0, 0.7, 70.0]]> : tensor<1x4xf32>,
         lq.v_absmax = dense<[[1.27, 2.54, 0.0, 127.0]]> : tensor<1x4xf32>}
       : (tensor<1x2x1x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>, tensor<i64>) -> tensor<1x2x1x4xf32>
  return %o, %kc, %vc : tensor<1x2x1x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>
}

// -----

// A graph-level cache (concat) with two KV heads, and a prefill whose keys
// are quantized in place with the same per-(head, channel) scales.

// INT4-LABEL: func.func @graph
// INT4-SAME: %[[PK:[a-z0-9]+]]: tensor<1x2x3x2xi8> {onnx.name = "past_key"}
// INT4-SAME: %{{[a-z0-9]+}}: tensor<1x2x3x2xi8> {onnx.name = "past_value"}
// INT4-SAME: %{{[a-z0-9]+}}: tensor<1x2x3x1xf32> {onnx.name = "past_value.scales"}
// INT4-SAME: -> (tensor<1x2x1x4xf32>, tensor<1x2x4x2xi8> {onnx.name = "present_key"}, tensor<1x2x4x2xi8> {onnx.name = "present_value"}, tensor<1x2x4x1xf32> {onnx.name = "present_value.scales"})
// INT4: %[[C:.*]] = arith.constant dense<{{\[\[\[\[}}1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00]], {{\[\[}}2.000000e+00, 2.000000e+00, 2.000000e+00, 1.000000e+01]]]]> : tensor<1x2x1x4xf32>
// INT4: lq.quantize %{{.*}}, %[[C]] : {{.*}} -> tensor<1x2x1x4xi4, #lq.scheme<format = int, bits = 4, block = [0, 1, 0, 1]>>
// INT4: %[[KC:.*]] = tensor.concat dim(2) %[[PK]], %{{.*}} : (tensor<1x2x3x2xi8>, tensor<1x2x1x2xi8>) -> tensor<1x2x4x2xi8>

// INT4-LABEL: func.func @prefill
// INT4: %[[C:.*]] = arith.constant dense<{{\[\[\[\[}}1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00]], {{\[\[}}2.000000e+00, 2.000000e+00, 2.000000e+00, 1.000000e+01]]]]> : tensor<1x2x1x4xf32>
// INT4: %[[Q:.*]] = lq.quantize %{{.*}}, %[[C]] : (tensor<1x2x5x4xf32>, tensor<1x2x1x4xf32>) -> tensor<1x2x5x4xi4, #lq.scheme<format = int, bits = 4, block = [0, 1, 0, 1]>>
// INT4: lq.dequantize %{{.*}}, %[[C]]

// CALL4-LABEL: llvm.func @graph(
// CALL4: call @lq_rt_attention_at_q_i8(
// CALL4-LABEL: llvm.func @prefill(
// CALL4: call @lq_rt_attention_at_q_i8(
func.func @graph(%q: tensor<1x2x1x4xf32>, %k: tensor<1x2x1x4xf32>, %v: tensor<1x2x1x4xf32>,
                 %pk: tensor<1x2x3x4xf32> {onnx.name = "past_key"},
                 %pv: tensor<1x2x3x4xf32> {onnx.name = "past_value"})
    -> (tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32> {onnx.name = "present_key"},
        tensor<1x2x4x4xf32> {onnx.name = "present_value"}) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x3x4xf32>, tensor<1x2x1x4xf32>) -> tensor<1x2x4x4xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x3x4xf32>, tensor<1x2x1x4xf32>) -> tensor<1x2x4x4xf32>
  %o = lq.attention %q, %kc, %vc {causal,
         lq.k_absmax = dense<[[7.0, 7.0, 7.0, 7.0], [14.0, 14.0, 14.0, 70.0]]> : tensor<2x4xf32>,
         lq.v_absmax = dense<1.0> : tensor<2x4xf32>}
       : (tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x1x4xf32>
  return %o, %kc, %vc : tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}

func.func @prefill(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x4xf32>)
    -> tensor<1x2x5x4xf32> {
  %o = lq.attention %q, %k, %v {causal,
         lq.k_absmax = dense<[[7.0, 7.0, 7.0, 7.0], [14.0, 14.0, 14.0, 70.0]]> : tensor<2x4xf32>,
         lq.v_absmax = dense<1.0> : tensor<2x4xf32>}
       : (tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x5x4xf32>
  return %o : tensor<1x2x5x4xf32>
}
