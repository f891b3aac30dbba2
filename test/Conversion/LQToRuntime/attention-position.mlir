// RUN: quant-opt %s --convert-lq-to-runtime | FileCheck %s

// Attention over a fixed-capacity KV cache calls the kernel that reads only
// the rows written so far (keys < position + T).

// CHECK-LABEL: func.func @decode
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<i64>
// CHECK: %[[P:.*]] = tensor.extract %[[POS]][] : tensor<i64>
// CHECK: call @lq_rt_attention_at_f32({{.*}}, %[[P]]) : ({{.*}}, f32, i32, i64) -> ()
// CHECK: func.func private @lq_rt_attention_at_f32({{.*}}, f32, i32, i64) attributes {llvm.emit_c_interface}
func.func @decode(%q: tensor<1x8x1x32xf32>, %k: tensor<1x4x64x32xf32>,
                  %v: tensor<1x4x64x32xf32>, %pos: tensor<i64>) -> tensor<1x8x1x32xf32> {
  %o = lq.attention %q, %k, %v position %pos : (tensor<1x8x1x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<i64>) -> tensor<1x8x1x32xf32>
  return %o : tensor<1x8x1x32xf32>
}
