// RUN: quant-opt %s --split-input-file --kv-cache-in-place -verify-diagnostics | FileCheck %s
// The bufferized step writes the new rows into the caller's cache buffer:
// no copy of the cache, no cache in the results.
// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(kv-cache-in-place),convert-lq-to-runtime,convert-lq-to-linalg,canonicalize,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map})' -verify-diagnostics | FileCheck %s --check-prefix=BUF

// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x1x16x4xf32> {bufferization.writable = true, lq.kv_cache_in_place, onnx.name = "past_key.0"}
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<1x1x16x4xf32> {bufferization.writable = true, lq.kv_cache_in_place, onnx.name = "past_value.0"}
// CHECK-SAME: -> (tensor<1x2x1x4xf32> {onnx.name = "out"})
// CHECK: %[[KC:.*]] = tensor.insert_slice %{{.*}} into %[[PK]]
// CHECK: return %{{.*}} : tensor<1x2x1x4xf32>

// BUF-LABEL: func.func @step
// BUF-SAME: %[[K:[a-z0-9]+]]: memref<1x1x1x4xf32>, %[[V:[a-z0-9]+]]: memref<1x1x1x4xf32>, %[[PK:[a-z0-9]+]]: memref<1x1x16x4xf32>
// BUF-SAME: %[[PV:[a-z0-9]+]]: memref<1x1x16x4xf32>
// BUF-NOT: memref.alloc() : memref<1x1x16x4xf32>
// BUF: %[[S:.*]] = memref.subview %[[PK]]
// BUF: memref.copy %[[K]], %[[S]] : memref<1x1x1x4xf32> to
// BUF: %[[S2:.*]] = memref.subview %[[PV]]
// BUF: memref.copy %[[V]], %[[S2]] : memref<1x1x1x4xf32> to
// BUF-NOT: memref.alloc() : memref<1x1x16x4xf32>
// BUF: call @lq_rt_attention_at_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}
// BUF-NOT: memref.copy
// BUF: return %{{.*}} : memref<1x2x1x4xf32>
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

// A cache that something else reads cannot be overwritten in place.
func.func @read_twice(%k: tensor<1x1x1x4xf32>,
                      // expected-error @+1 {{kv-cache-in-place: cache argument 1 is not appended to by its only use and returned as result 0}}
                      %pk: tensor<1x1x16x4xf32> {lq.kv_cache = 0 : i64}, %pos: index)
    -> (tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>) {
  %kc = tensor.insert_slice %k into %pk[0, 0, %pos, 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<1x1x1x4xf32> into tensor<1x1x16x4xf32>
  return %kc, %pk : tensor<1x1x16x4xf32>, tensor<1x1x16x4xf32>
}
