// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 residual=8" | FileCheck %s
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 scales=static key-granularity=per-channel residual=8" | FileCheck %s --check-prefix=STATIC
// The window lowers to linalg (generic path) and, on the CPU, into the
// fused quantized-cache attention kernel.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 residual=8" --convert-lq-to-linalg | FileCheck %s --check-prefix=LINALG
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 residual=8" --convert-lq-to-runtime | FileCheck %s --check-prefix=FUSED
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 residual=8" --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=CUDA

// residual=R (KIVI's float window): beside each quantized cache, a float
// ring [B, H, R, D] (`<name>.window`, fed back through lq.kv_cache) gets the
// new rows at `position`; attention reads the dequantized cache with the
// positions [position + T - R, position + T) from the ring.
// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x16x2xi8> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// CHECK-SAME: %[[PKS:[a-z0-9]+]]: tensor<1x1x16x1xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.scales"}
// CHECK-SAME: %[[PKW:[a-z0-9]+]]: tensor<1x1x8x4xf32> {lq.kv_cache = 3 : i64, onnx.name = "past_key.0.window"}
// CHECK-SAME: tensor<1x1x16x2xi8> {lq.kv_cache = 4 : i64, onnx.name = "past_value.0"}
// CHECK-SAME: tensor<1x1x16x1xf32> {lq.kv_cache = 5 : i64, onnx.name = "past_value.0.scales"}
// CHECK-SAME: tensor<1x1x8x4xf32> {lq.kv_cache = 6 : i64, onnx.name = "past_value.0.window"}
// CHECK-SAME: -> (tensor<1x2x1x4xf32> {onnx.name = "out"}, tensor<1x1x16x2xi8> {onnx.name = "present_key.0"}, tensor<1x1x16x1xf32> {onnx.name = "present_key.0.scales"}, tensor<1x1x8x4xf32> {onnx.name = "present_key.0.window"}
// CHECK: %[[P:.+]] = tensor.extract
// CHECK: %[[I:.+]] = arith.index_cast %[[P]] : i64 to index
// CHECK: %[[KC:.*]] = tensor.insert_slice %{{.+}} into %[[PK]][0, 0, %[[I]], 0]
// CHECK: %[[K:.*]] = lq.dequantize
// CHECK: %[[POS:.+]] = arith.index_cast %[[I]] : index to i64
// CHECK: %[[KW:.+]] = lq.kv_window_append %[[PKW]], %[[KROWS:.+]], %[[POS]] : tensor<1x1x8x4xf32>, tensor<1x1x1x4xf32>
// CHECK: %[[END:.+]] = arith.addi %[[POS]], %{{.+}} : i64
// CHECK: %[[KV:.+]] = lq.kv_window_read %[[K]], %[[KW]], %[[END]] : tensor<1x1x16x4xf32>, tensor<1x1x8x4xf32>
// CHECK: lq.attention %{{.*}}, %[[KV]], %{{.*}} position
// CHECK: return %{{.*}}, %[[KC]], %{{.+}}, %[[KW]], %{{.+}}, %{{.+}}, %{{.+}} :

// Static per-channel keys store no scales: codes, then the window.
// STATIC-LABEL: func.func @step
// STATIC-SAME: tensor<1x1x16x4xi8, #lq.scheme<format = int, bits = 8, block = [0, 1, 0, 1]>> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// STATIC-SAME: tensor<1x1x8x4xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.window"}
// STATIC: lq.kv_window_append
// STATIC: lq.kv_window_read

// On the CPU the window is read inside the fused kernel: the rings and
// `end` follow the usual arguments, and no float view of the cache is built.
// FUSED-LABEL: func.func @step
// FUSED-NOT: lq.kv_window_read
// FUSED: %[[END:.+]] = arith.addi
// FUSED: call @lq_rt_attention_at_q_i8_window({{.*}}, %[[END]]) : ({{.*}}, i64) -> ()
// lq_rt_cuda's kernel has no window: the view stays for the generic lowering.
// CUDA-LABEL: func.func @step
// CUDA: lq.kv_window_read
// CUDA-NOT: lq_rt_cuda_attention_at_q

// LINALG-LABEL: func.func @step
// LINALG-NOT: lq.kv_window
// LINALG: linalg.generic
// LINALG: arith.remsi
// LINALG: tensor.extract
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
  %o = lq.attention %q, %kc, %vc position %pos {causal, lq.k_absmax = dense<1.0> : tensor<1x4xf32>} : (tensor<1x2x1x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>, tensor<i64>) -> tensor<1x2x1x4xf32>
  return %o, %kc, %vc : tensor<1x2x1x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>
}

// -----

// A graph-level cache (concat of past and new rows): the window is one more
// input/output pair, its position the past length.
// CHECK-LABEL: func.func @graph
// CHECK-SAME: %{{.+}}: tensor<1x1x5x1xf32> {onnx.name = "past_key.scales"}, %[[W:[a-z0-9]+]]: tensor<1x1x8x4xf32> {onnx.name = "past_key.window"}
// CHECK-SAME: tensor<1x1x8x4xf32> {onnx.name = "present_key.window"}
// CHECK: %[[C5:.+]] = arith.constant 5 : i64
// CHECK: lq.kv_window_append %[[W]], %{{.+}}, %[[C5]] : tensor<1x1x8x4xf32>, tensor<1x1x2x4xf32>
// CHECK: lq.kv_window_read %{{.+}}, %{{.+}}, %{{.+}} : tensor<1x1x7x4xf32>, tensor<1x1x8x4xf32>
func.func @graph(%q: tensor<1x1x2x4xf32>, %k: tensor<1x1x2x4xf32>, %v: tensor<1x1x7x4xf32>,
                 %pk: tensor<1x1x5x4xf32> {onnx.name = "past_key"})
    -> (tensor<1x1x2x4xf32>, tensor<1x1x7x4xf32> {onnx.name = "present_key"}) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x5x4xf32>, tensor<1x1x2x4xf32>) -> tensor<1x1x7x4xf32>
  %o = lq.attention %q, %kc, %v {causal, lq.k_absmax = dense<1.0> : tensor<1x4xf32>} : (tensor<1x1x2x4xf32>, tensor<1x1x7x4xf32>, tensor<1x1x7x4xf32>) -> tensor<1x1x2x4xf32>
  return %o, %kc : tensor<1x1x2x4xf32>, tensor<1x1x7x4xf32>
}

// -----

// Keys and values computed in the call: the last R positions in float, from
// a ring filled with all S rows from position 0.
// CHECK-LABEL: func.func @in_place
// CHECK: %[[Z:.+]] = arith.constant dense<0.000000e+00> : tensor<1x1x8x4xf32>
// CHECK: %[[C0:.+]] = arith.constant 0 : i64
// CHECK: %[[W:.+]] = lq.kv_window_append %[[Z]], %{{.+}}, %[[C0]] : tensor<1x1x8x4xf32>, tensor<1x1x12x4xf32>
// CHECK: lq.kv_window_read %{{.+}}, %[[W]], %{{.+}} : tensor<1x1x12x4xf32>, tensor<1x1x8x4xf32>
func.func @in_place(%q: tensor<1x1x12x4xf32>, %k: tensor<1x1x12x4xf32>, %v: tensor<1x1x12x4xf32>) -> tensor<1x1x12x4xf32> {
  %o = lq.attention %q, %k, %v {causal, lq.k_absmax = dense<1.0> : tensor<1x4xf32>} : (tensor<1x1x12x4xf32>, tensor<1x1x12x4xf32>, tensor<1x1x12x4xf32>) -> tensor<1x1x12x4xf32>
  return %o : tensor<1x1x12x4xf32>
}
