// RUN: quant-opt %s --convert-lq-to-linalg | FileCheck %s

// Region-free ops on quantized tensors (a quantized KV cache's append) keep
// their semantics on the storage type; the encoding is dropped everywhere.

// CHECK-LABEL: func.func @append
// CHECK-SAME: (%[[C:.*]]: tensor<1x2x8x4xi8>, %[[R:.*]]: tensor<1x2x1x4xi8>, %[[P:.*]]: index) -> tensor<1x2x8x4xi8>
// CHECK: %[[U:.*]] = tensor.insert_slice %[[R]] into %[[C]][0, 0, %[[P]], 0] [1, 2, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xi8> into tensor<1x2x8x4xi8>
// CHECK: return %[[U]]
#s8 = #lq.scheme<format = int, bits = 8, axis = 3, group = 4>
func.func @append(%c: tensor<1x2x8x4xi8, #s8>, %r: tensor<1x2x1x4xi8, #s8>, %p: index) -> tensor<1x2x8x4xi8, #s8> {
  %u = tensor.insert_slice %r into %c[0, 0, %p, 0] [1, 2, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xi8, #s8> into tensor<1x2x8x4xi8, #s8>
  return %u : tensor<1x2x8x4xi8, #s8>
}

// CHECK-LABEL: func.func @cast
// CHECK: tensor.cast %{{.*}} : tensor<4xf8E4M3FN> to tensor<?xf8E4M3FN>
#f8 = #lq.scheme<format = fp8_e4m3>
func.func @cast(%q: tensor<4xf8E4M3FN, #f8>) -> tensor<?xf8E4M3FN, #f8> {
  %c = tensor.cast %q : tensor<4xf8E4M3FN, #f8> to tensor<?xf8E4M3FN, #f8>
  return %c : tensor<?xf8E4M3FN, #f8>
}
