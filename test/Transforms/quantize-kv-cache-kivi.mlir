// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 key-granularity=per-channel residual=4" | FileCheck %s
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int8 key-granularity=per-channel residual=4 scale-type=f16" | FileCheck %s --check-prefix=F16
// The fused CPU kernel reads the key scales [B, H, C / R, D] and both rings;
// the linalg lowering (the generic and CUDA path) gathers the groups too.
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 key-granularity=per-channel residual=4" --convert-lq-to-runtime | FileCheck %s --check-prefix=FUSED
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 key-granularity=per-channel residual=4" --convert-lq-to-linalg | FileCheck %s --check-prefix=LINALG
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 key-granularity=per-channel residual=4" --kv-cache-in-place | FileCheck %s --check-prefix=INPLACE
// lq_rt_cuda's attention has no window: the view stays generic (linalg).
// RUN: quant-opt %s --split-input-file --quantize-kv-cache="format=int4 key-granularity=per-channel residual=4" --convert-lq-to-runtime="prefix=lq_rt_cuda_" --convert-lq-to-linalg | FileCheck %s --check-prefix=CUDA

// key-granularity=per-channel scales=dynamic residual=R (KIVI): key codes
// [B, H, C, D] with a scale per (batch, head, group of R positions,
// channel), [B, H, C / R, D]; the key ring has R + T - 1 slots; values stay
// per token with an R-slot ring.
// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x16x2xi8> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// CHECK-SAME: %[[PKS:[a-z0-9]+]]: tensor<1x1x4x4xf32> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.scales"}
// CHECK-SAME: %[[PKW:[a-z0-9]+]]: tensor<1x1x4x4xf32> {lq.kv_cache = 3 : i64, onnx.name = "past_key.0.window"}
// CHECK-SAME: tensor<1x1x16x2xi8> {lq.kv_cache = 4 : i64, onnx.name = "past_value.0"}
// CHECK-SAME: tensor<1x1x16x1xf32> {lq.kv_cache = 5 : i64, onnx.name = "past_value.0.scales"}
// CHECK-SAME: tensor<1x1x4x4xf32> {lq.kv_cache = 6 : i64, onnx.name = "past_value.0.window"}
// CHECK: %[[P:.+]] = tensor.extract
// CHECK: %[[I:.+]] = arith.index_cast %[[P]] : i64 to index
// CHECK: %[[POS:.+]] = arith.index_cast %[[I]] : index to i64
// CHECK: %[[W:.+]] = lq.kv_window_append %[[PKW]], %{{.+}}, %[[POS]] : tensor<1x1x4x4xf32>, tensor<1x1x1x4xf32>
// CHECK: %[[END:.+]] = arith.addi %[[POS]], %{{.+}} : i64
// Only a step that completes a group (floor(end / R) > floor(p / R))
// quantizes it; the others keep codes and scales.
// CHECK: %[[C4:.+]] = arith.constant 4 : i64
// CHECK: %[[EG:.+]] = arith.divsi %[[END]], %[[C4]] : i64
// CHECK: %[[PG:.+]] = arith.divsi %[[POS]], %[[C4]] : i64
// CHECK: %[[DONE:.+]] = arith.cmpi sgt, %[[EG]], %[[PG]] : i64
// CHECK: %[[IF:.+]]:2 = scf.if %[[DONE]] -> (tensor<1x1x16x2xi8>, tensor<1x1x4x4xf32>) {
// CHECK: %[[G:.+]] = lq.kv_window_groups %[[W]], %[[POS]], %[[END]] group 4 : tensor<1x1x4x4xf32> -> tensor<1x1x4x4xf32>
// CHECK: %[[S:.+]] = lq.compute_scales %[[G]] for <format = int, bits = 4, block = [1, 1, 4, 1]> : (tensor<1x1x4x4xf32>) -> tensor<1x1x1x4xf32>
// CHECK: %[[Q:.+]] = lq.quantize %[[G]], %[[S]]
// CHECK: %[[PQ:.+]] = lq.pack_codes %[[Q]]
// CHECK: %[[G0:.+]] = arith.divsi
// CHECK: %[[FIRST:.+]] = arith.muli %[[G0]]
// CHECK: %[[KC:.+]] = tensor.insert_slice %[[PQ]] into %[[PK]][0, 0, %[[FIRST]], 0] [1, 1, 4, 2] [1, 1, 1, 1] : tensor<1x1x4x2xi8> into tensor<1x1x16x2xi8>
// CHECK: %[[KS:.+]] = tensor.insert_slice %[[S]] into %[[PKS]][0, 0, %[[G0]], 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x1x1x4xf32> into tensor<1x1x4x4xf32>
// CHECK: scf.yield %[[KC]], %[[KS]]
// CHECK: } else {
// CHECK: scf.yield %[[PK]], %[[PKS]]
// CHECK: }
// CHECK: %[[U:.+]] = lq.unpack_codes %[[IF]]#0
// CHECK: %[[K:.+]] = lq.dequantize %[[U]], %[[IF]]#1 : (tensor<1x1x16x4xi4, #lq.scheme<format = int, bits = 4, block = [1, 1, 4, 1]>>, tensor<1x1x4x4xf32>) -> tensor<1x1x16x4xf32>
// CHECK: %[[KV:.+]] = lq.kv_window_read %[[K]], %[[W]], %[[END]]
// CHECK: lq.attention %{{.*}}, %[[KV]], %{{.*}} position
// CHECK: return %{{.*}}, %[[IF]]#0, %[[IF]]#1, %[[W]], %{{.+}}, %{{.+}}, %{{.+}} :

// F16-LABEL: func.func @step
// F16-SAME: tensor<1x1x16x4xi8, #lq.scheme<format = int, bits = 8, block = [1, 1, 4, 1]>> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"}
// F16-SAME: tensor<1x1x4x4xf16> {lq.kv_cache = 2 : i64, onnx.name = "past_key.0.scales"}

// On the CPU: one fused call, the key scales [1, 1, 4, 4] beside the codes.
// FUSED-LABEL: func.func @step
// FUSED-NOT: lq.kv_window_read
// FUSED: bufferization.to_buffer %{{.+}} read_only : tensor<1x1x16x2xi8>
// FUSED: bufferization.to_buffer %{{.+}} read_only : tensor<1x1x4x4xf32>
// FUSED: bufferization.to_buffer %{{.+}} read_only : tensor<1x1x16x2xi8>
// FUSED: bufferization.to_buffer %{{.+}} read_only : tensor<1x1x16x1xf32>
// FUSED: call @lq_rt_attention_at_q_i8_window(

// CUDA-LABEL: func.func @step
// CUDA-NOT: {{lq\.[a-z_]+ %}}
// CUDA-NOT: lq_rt_cuda_attention_at_q
// CUDA: return

// LINALG-LABEL: func.func @step
// LINALG-NOT: lq.kv_window
// LINALG: arith.divsi
// LINALG: arith.remsi

// In place: codes, key scales and both rings are written into the caller's
// buffers (each appended to by its only use).
// INPLACE-LABEL: func.func @step
// INPLACE-SAME: tensor<1x1x16x2xi8> {bufferization.writable = true, lq.kv_cache_in_place, onnx.name = "past_key.0"}
// INPLACE-SAME: tensor<1x1x4x4xf32> {bufferization.writable = true, lq.kv_cache_in_place, onnx.name = "past_key.0.scales"}
// INPLACE-SAME: tensor<1x1x4x4xf32> {bufferization.writable = true, lq.kv_cache_in_place, onnx.name = "past_key.0.window"}
// INPLACE-SAME: -> (tensor<1x2x1x4xf32> {onnx.name = "out"})
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

// A chunk of T = 6 rows: the key ring has R + T - 1 = 9 slots and the step
// gathers ceil(6 / 4) = 2 groups from the group holding `position`.
// CHECK-LABEL: func.func @chunk
// CHECK-SAME: tensor<1x1x9x4xf32> {lq.kv_cache = 3 : i64, onnx.name = "past_key.0.window"}
// CHECK: lq.kv_window_groups %{{.+}}, %{{.+}}, %{{.+}} group 4 : tensor<1x1x9x4xf32> -> tensor<1x1x8x4xf32>
// CHECK: tensor.insert_slice %{{.+}} into %{{.+}}[0, 0, %{{.+}}, 0] [1, 1, 8, 2]
// CHECK: tensor.insert_slice %{{.+}} into %{{.+}}[0, 0, %{{.+}}, 0] [1, 1, 2, 4]
func.func @chunk(%q: tensor<1x1x6x4xf32>, %k: tensor<1x1x6x4xf32>,
                 %pk: tensor<1x1x16x4xf32> {lq.kv_cache = 1 : i64, onnx.name = "past_key.0"},
                 %pos: tensor<i64> {onnx.name = "position"})
    -> (tensor<1x1x6x4xf32>, tensor<1x1x16x4xf32> {onnx.name = "present_key.0"}) {
  %p = tensor.extract %pos[] : tensor<i64>
  %i = arith.index_cast %p : i64 to index
  %kc = tensor.insert_slice %k into %pk[0, 0, %i, 0] [1, 1, 6, 4] [1, 1, 1, 1] : tensor<1x1x6x4xf32> into tensor<1x1x16x4xf32>
  %o = lq.attention %q, %kc, %kc position %pos {causal} : (tensor<1x1x6x4xf32>, tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>, tensor<i64>) -> tensor<1x1x6x4xf32>
  return %o, %kc : tensor<1x1x6x4xf32>, tensor<1x1x16x4xf32>
}

// -----

// A graph-level cache whose past (8) and step (4) lengths are multiples of
// R: the step's rows are its groups; codes and scales are concatenated.
// CHECK-LABEL: func.func @graph
// CHECK-SAME: %{{.+}}: tensor<1x1x8x2xi8> {onnx.name = "past_key"}, %{{.+}}: tensor<1x1x2x4xf32> {onnx.name = "past_key.scales"}, %[[W:[a-z0-9]+]]: tensor<1x1x4x4xf32> {onnx.name = "past_key.window"}
// CHECK-SAME: tensor<1x1x12x2xi8> {onnx.name = "present_key"}, tensor<1x1x3x4xf32> {onnx.name = "present_key.scales"}, tensor<1x1x4x4xf32> {onnx.name = "present_key.window"}
// CHECK: lq.compute_scales %{{.+}} for <format = int, bits = 4, block = [1, 1, 4, 1]> : (tensor<1x1x4x4xf32>) -> tensor<1x1x1x4xf32>
// CHECK: tensor.concat dim(2) %{{.+}}, %{{.+}} : (tensor<1x1x8x2xi8>, tensor<1x1x4x2xi8>) -> tensor<1x1x12x2xi8>
// CHECK: tensor.concat dim(2) %{{.+}}, %{{.+}} : (tensor<1x1x2x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x3x4xf32>
// CHECK: lq.kv_window_read %{{.+}}, %{{.+}}, %{{.+}} : tensor<1x1x12x4xf32>, tensor<1x1x4x4xf32>
func.func @graph(%q: tensor<1x1x4x4xf32>, %k: tensor<1x1x4x4xf32>, %v: tensor<1x1x12x4xf32>,
                 %pk: tensor<1x1x8x4xf32> {onnx.name = "past_key"})
    -> (tensor<1x1x4x4xf32>, tensor<1x1x12x4xf32> {onnx.name = "present_key"}) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x1x8x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x1x12x4xf32>
  %o = lq.attention %q, %kc, %v {causal} : (tensor<1x1x4x4xf32>, tensor<1x1x12x4xf32>, tensor<1x1x12x4xf32>) -> tensor<1x1x4x4xf32>
  return %o, %kc : tensor<1x1x4x4xf32>, tensor<1x1x12x4xf32>
}

// -----

// Keys computed in the call (S = 10, R = 4): the two complete groups
// (positions 0..7) quantized in place with scales [1, 1, 2, 4]; positions
// 8, 9 stay float; the last R positions are read from the window.
// CHECK-LABEL: func.func @in_place
// CHECK: %[[X:.+]] = tensor.extract_slice %arg1[0, 0, 0, 0] [1, 1, 8, 4] [1, 1, 1, 1] : tensor<1x1x10x4xf32> to tensor<1x1x8x4xf32>
// CHECK: lq.compute_scales %[[X]] for <format = int, bits = 4, block = [1, 1, 4, 1]> : (tensor<1x1x8x4xf32>) -> tensor<1x1x2x4xf32>
// CHECK: %[[D:.+]] = lq.dequantize
// CHECK: %[[V:.+]] = tensor.insert_slice %[[D]] into %arg1[0, 0, 0, 0] [1, 1, 8, 4] [1, 1, 1, 1]
// CHECK: lq.kv_window_read %[[V]], %{{.+}}, %{{.+}} : tensor<1x1x10x4xf32>, tensor<1x1x4x4xf32>
func.func @in_place(%q: tensor<1x1x10x4xf32>, %k: tensor<1x1x10x4xf32>, %v: tensor<1x1x10x4xf32>) -> tensor<1x1x10x4xf32> {
  %o = lq.attention %q, %k, %v {causal} : (tensor<1x1x10x4xf32>, tensor<1x1x10x4xf32>, tensor<1x1x10x4xf32>) -> tensor<1x1x10x4xf32>
  return %o : tensor<1x1x10x4xf32>
}
