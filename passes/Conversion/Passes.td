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

#endif // LQ_CONVERSION_PASSES_TD
