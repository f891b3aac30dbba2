//===- Passes.td - lq's conversion passes ------------------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_CONVERSION_PASSES_TD
#define LQ_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertLQToLinalgPass : Pass<"convert-lq-to-linalg", "ModuleOp"> {
  let summary = "Lower every lq op to linalg, tensor, arith, math and scf on tensors";
  let description = [{
    Rewrites the graph ops (`lq.linear`, `lq.rms_norm`, `lq.layer_norm`,
    `lq.rotary`, `lq.attention`, `lq.embedding`) and the codecs
    (`lq.quantize`, `lq.dequantize`) to upstream ops on tensors, static or
    dynamic. Norms, softmax and matmuls accumulate in f32 (f64 for f64
    tensors); codecs compute in f32 exactly as `<lq_rt/formats.h>` does.

    Quantized tensor types lose their `#lq.scheme` encoding and keep their
    storage element type: `tensor<4x64xf4E2M1FN, #mx>` becomes
    `tensor<4x64xf4E2M1FN>`, in constants, function signatures, calls and
    returns alike. Packed `dense_resource` blobs of sub-byte codes are
    unpacked into a `dense` of the storage type, one element per code (the
    layout LLVM uses for `i4` arrays: one byte per element).

    ```mlir
    %y = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<2x8xf32>, tensor<8xf32>
    // becomes a sum-of-squares linalg.generic reduction and an elementwise
    // linalg.generic computing x * rsqrt(ss / 8 + eps) * g
    ```

    The pass fails with an error on the op it cannot lower (for example an
    attention with a dynamic head count, or a graph op on fp8 tensors).
  }];
  let dependentDialects = [
    "arith::ArithDialect", "linalg::LinalgDialect", "math::MathDialect",
    "scf::SCFDialect", "tensor::TensorDialect"
  ];
}

def ConvertLQToRuntimePass : Pass<"convert-lq-to-runtime", "ModuleOp"> {
  let summary = "Call lq_rt's CPU kernels for linears (f32, weight-only quantized) and attention";
  let description = [{
    Where a hand-written kernel beats code generation, the op becomes a call
    into `lq_rt` (AVX-512 / AVX2 / scalar, dispatched at run time, threaded):

    | op | kernel |
    |---|---|
    | `lq.linear` on f32 with a constant weight (bias added by a linalg op after the call) | `lq_rt_linear_packed_f32` (the weight packed into 16-column k-major panels at compile time; one sequential stream for M <= 4, a register-tiled micro-kernel above) |
    | `lq.linear` on f32, any other weight | `lq_rt_linear_f32` (packed-panel SGEMM; dot products for M <= 4) |
    | `lq.linear` of `lq.dequantize` of int4/int8 (sym, asym) or NF4 constants, groups along K or per channel | `lq_rt_linear_q_f32` (codes decoded in registers; codes repacked per row into an i8 blob, scales and `-zero_point*scale` as f32 `[N, K/g]`) |
    | `lq.linear` of `lq.dequantize` of int8 symmetric activation codes (per tensor or per token) and of constant int8 symmetric per-channel weights (W8A8), CPU | `lq_rt_linear_w8a8` (int32 sums: AVX-512 VNNI / AVX2 / scalar; the weight packed at compile time into 16-column panels of 4-deep K blocks with VNNI's +128 compensation; the codes stay `lq.quantize`'s) |
    | `lq.linear` of `lq.dequantize` of int8 symmetric activation codes (per tensor or per token) and of constant int4 weights (symmetric or with zero points) in groups of G along K, G % 8 == 0 (W4A8), CPU | `lq_rt_linear_w4a8` (int32 sums per group, f32 over groups: AVX-512 VNNI / AVX2 / scalar; the codes, scales and zero points packed at compile time into 16-column panels of per-group headers and 64-byte nibble blocks) |
    | `lq.attention` on f32 without an explicit mask | `lq_rt_attention_f32` (GQA, causal bottom-right) |
    | `lq.hadamard` on static f32 | `lq_rt_hadamard_f32` (fast Walsh-Hadamard, per block) |

    Operands cross into buffers with `bufferization.to_buffer` (read-only,
    fully dynamic strided layout, so any layout one-shot bufferization picks
    is accepted), the result is a fresh `memref.alloc` returned with
    `bufferization.to_tensor ... restrict writable`. Callees are declared
    `llvm.emit_c_interface`, so the kernels receive memref descriptors.
    Ops this pass leaves alone are lowered by `--convert-lq-to-linalg`.
    A model compiled this way links against `liblq_rt.so`.

    `prefix=lq_rt_cuda_` names the CUDA runtime's kernels instead
    (`lq_rt_cuda_linear_f32`, ...: same signatures, device buffers), as
    `--lower-to-cuda` does.
  }];
  let options = [
    Option<"prefix", "prefix", "std::string", /*default=*/"\"lq_rt_\"",
           "Prefix of the kernel symbols (lq_rt_ for the CPU runtime, "
           "lq_rt_cuda_ for the CUDA runtime)">,
    Option<"packWeights", "pack-weights", "bool", /*default=*/"true",
           "Pack constant f32 linear weights into the CPU kernel's panel "
           "layout at compile time (lq_rt_linear_packed_f32)">,
    Option<"int8Gemm", "int8-gemm", "bool", /*default=*/"true",
           "W8A8 / W4A8 linears (int8 activation codes x constant int8 / "
           "grouped int4 weights) as lq_rt_linear_w8a8's / "
           "lq_rt_linear_w4a8's integer GEMMs; false keeps the "
           "fake-quantized f32 path (dequantized activations through "
           "lq_rt_linear_q_f32)">
  ];
  let dependentDialects = [
    "bufferization::BufferizationDialect", "func::FuncDialect",
    "memref::MemRefDialect", "tensor::TensorDialect", "arith::ArithDialect",
    "linalg::LinalgDialect"
  ];
}

#endif // LQ_CONVERSION_PASSES_TD
