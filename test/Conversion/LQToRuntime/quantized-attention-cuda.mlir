// Attention over a quantized KV cache (--quantize-kv-cache) lowers to the
// CUDA runtime's fused kernel with prefix=lq_rt_cuda_ (as --lower-to-cuda
// runs it), the same entry points as the CPU's: one per code storage type,
// with the scale type and tensor scales where scales are not f32.
// RUN: quant-opt %s --quantize-kv-cache="format=int8" --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=INT8
// RUN: quant-opt %s --quantize-kv-cache="format=int4" --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=INT4
// RUN: quant-opt %s --quantize-kv-cache="format=nvfp4" --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=NVFP4
// RUN: quant-opt %s --quantize-kv-cache="format=fp8-e5m2 scale-type=f16" --convert-lq-to-runtime="prefix=lq_rt_cuda_" | FileCheck %s --check-prefix=FP8H
// The CPU prefix is unchanged.
// RUN: quant-opt %s --quantize-kv-cache="format=int8" --convert-lq-to-runtime | FileCheck %s --check-prefix=CPU

// INT8-LABEL: func.func @step
// INT8-NOT: lq.attention
// INT8-DAG: %[[B8:.*]] = arith.constant 8 : i32
// INT8-DAG: %[[F0:.*]] = arith.constant 0 : i32
// INT8: call @lq_rt_cuda_attention_at_q_i8({{.*}}, %[[F0]], %[[B8]]) : ({{.*}}, memref<?x?x?x?xi8, {{.*}}>, memref<?x?x?x?xf32, {{.*}}>, memref<?x?x?x?xi8, {{.*}}>, memref<?x?x?x?xf32, {{.*}}>, memref<?x?x?x?xf32, {{.*}}>, f32, i32, i64, i32, i32) -> ()
// INT8: func.func private @lq_rt_cuda_attention_at_q_i8({{.*}}) attributes {llvm.emit_c_interface}

// int4: the packed codes, format 0 with 4 bits.
// INT4-DAG: %[[B4:.*]] = arith.constant 4 : i32
// INT4-DAG: %[[I0:.*]] = arith.constant 0 : i32
// INT4: call @lq_rt_cuda_attention_at_q_i8({{.*}}, %[[I0]], %[[B4]]) : ({{.*}}, f32, i32, i64, i32, i32) -> ()

// nvfp4: E4M3 block scales, format 9 with 4 bits, the two tensor scales.
// NVFP4-DAG: %[[N4:.*]] = arith.constant 4 : i32
// NVFP4-DAG: %[[N9:.*]] = arith.constant 9 : i32
// NVFP4: call @lq_rt_cuda_attention_at_q_i8_f8E4M3FN({{.*}}, %[[N9]], %[[N4]], %{{.*}}, %{{.*}}) : ({{.*}}, memref<?x?x?x?xf8E4M3FN, {{.*}}>, {{.*}}, f32, i32, i64, i32, i32, f32, f32) -> ()

// FP8H: call @lq_rt_cuda_attention_at_q_f8E5M2_f16(
// FP8H-SAME: memref<?x?x?x?xf16

// CPU: call @lq_rt_attention_at_q_i8(
// CPU-NOT: lq_rt_cuda_
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
