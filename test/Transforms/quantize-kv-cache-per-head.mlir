// key-granularity=per-head / value-granularity=per-head: one scale per
// (batch, head, token) over the whole head dimension, i.e. group = head
// dim for that side. With both sides per head it is exactly the default
// (group=0) and group=<head dim>:
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 key-granularity=per-head value-granularity=per-head" -o %t.head
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8" -o %t.default
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 group=8" -o %t.group
// RUN: diff %t.head %t.default
// RUN: diff %t.head %t.group
// Per head on one side only: that side ignores `group`, the other keeps it.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 group=2 key-granularity=per-head" | FileCheck %s --check-prefix=KEYS
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 group=4 value-granularity=per-head scale-type=f16" | FileCheck %s --check-prefix=VALUES
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 group=2 key-granularity=per-head" --lower-to-cpu | FileCheck %s --check-prefix=CALL
// CALL: llvm.func @_mlir_ciface_lq_rt_attention_at_q_i8(

// KEYS-LABEL: func.func @step
// KEYS-SAME: tensor<1x1x16x4xi8> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// KEYS-SAME: tensor<1x1x16x1xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.scales"}
// KEYS-SAME: tensor<1x1x16x4xi8> {lq.kv_cache = 3 : i64, onnx.name = "past_value.0"}
// KEYS-SAME: tensor<1x1x16x4xf32> {lq.kv_cache = 4 : i64, onnx.name = "past_value.0.scales"}
// KEYS: lq.compute_scales %{{.*}} for <format = int, bits = 4, axis = 3, group = 8> : (tensor<1x1x1x8xf32>) -> tensor<1x1x1x1xf32>
// KEYS: lq.compute_scales %{{.*}} for <format = int, bits = 4, axis = 3, group = 2> : (tensor<1x1x1x8xf32>) -> tensor<1x1x1x4xf32>

// scale-type=f16: the per-token scales are stored as f16.
// VALUES-LABEL: func.func @step
// VALUES-SAME: tensor<1x1x16x2xf16> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.scales"}
// VALUES-SAME: tensor<1x1x16x1xf16> {lq.kv_cache = 4 : i64, onnx.name = "past_value.0.scales"}
// VALUES: lq.compute_scales %{{.*}} for <format = int, bits = 4, axis = 3, group = 4> : (tensor<1x1x1x8xf32>) -> tensor<1x1x1x2xf16>
// VALUES: lq.compute_scales %{{.*}} for <format = int, bits = 4, axis = 3, group = 8> : (tensor<1x1x1x8xf32>) -> tensor<1x1x1x1xf16>
func.func @step(%q: tensor<1x2x1x8xf32>, %k: tensor<1x1x1x8xf32>,
                %v: tensor<1x1x1x8xf32>,
                %pk: tensor<1x1x16x8xf32> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"},
                %pv: tensor<1x1x16x8xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_value.0"},
                %pos: tensor<i64> {onnx.name = "position"})
    -> (tensor<1x2x1x8xf32> {onnx.name = "out"}, tensor<1x1x16x8xf32> {onnx.name = "present_key.0"},
        tensor<1x1x16x8xf32> {onnx.name = "present_value.0"}) {
  %p = tensor.extract %pos[] : tensor<i64>
  %i = arith.index_cast %p : i64 to index
  %kc = tensor.insert_slice %k into %pk[0, 0, %i, 0] [1, 1, 1, 8] [1, 1, 1, 1] : tensor<1x1x1x8xf32> into tensor<1x1x16x8xf32>
  %vc = tensor.insert_slice %v into %pv[0, 0, %i, 0] [1, 1, 1, 8] [1, 1, 1, 1] : tensor<1x1x1x8xf32> into tensor<1x1x16x8xf32>
  %o = lq.attention %q, %kc, %vc position %pos {causal} : (tensor<1x2x1x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<i64>) -> tensor<1x2x1x8xf32>
  return %o, %kc, %vc : tensor<1x2x1x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>
}

// -----

// A prefill: keys and values quantized in place, each with its own group.
// KEYS-LABEL: func.func @prefill
// KEYS: lq.compute_scales %arg1 for <format = int, bits = 4, axis = 3, group = 8> : (tensor<1x2x5x8xf32>) -> tensor<1x2x5x1xf32>
// KEYS: lq.compute_scales %arg2 for <format = int, bits = 4, axis = 3, group = 2> : (tensor<1x2x5x8xf32>) -> tensor<1x2x5x4xf32>
func.func @prefill(%q: tensor<1x4x5x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>) -> tensor<1x4x5x8xf32> {
  %o = lq.attention %q, %k, %v {causal} : (tensor<1x4x5x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>) -> tensor<1x4x5x8xf32>
  return %o : tensor<1x4x5x8xf32>
}
