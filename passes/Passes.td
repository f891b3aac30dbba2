//===- Passes.td - lq's algorithm passes -------------------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_TD
#define LQ_PASSES_TD

include "mlir/Pass/PassBase.td"

def LQRaisePass : Pass<"lq-raise", "func::FuncOp"> {
  let summary = "Raise decomposed exporter patterns to lq building blocks";
  let description = [{
    Exporters decompose the building blocks of a transformer into dozens of
    small ops. This pass recognizes them in the imported IR and rebuilds the
    `lq` op that quantization passes reason about:

    | pattern (as imported) | becomes |
    |---|---|
    | `linalg.matmul(x, W)` with a constant `[K, N]` weight | `lq.linear` with `Wᵀ` (`[N, K]`) |
    | `x * (1 / sqrt(mean(x²) + ε)) * γ` (also `x / sqrt(..)`, `x·rsqrt(..)`) | `lq.rms_norm` |
    | `x·cos + concat(-x[h:], x[:h])·sin` with constant tables | `lq.rotary` |
    | `softmax(Q·Kᵀ · scale + mask)·V`, K/V repeated for GQA | `lq.attention` (`causal` when the mask is) |

    Every raise is exact: the rewritten function computes the same values.
    Run by `quant-import` after import unless `--no-raise` is given.
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
  let statistics = [
    Statistic<"numLinear", "num-linear", "Linears raised">,
    Statistic<"numRMSNorm", "num-rms-norm", "RMS norms raised">,
    Statistic<"numRotary", "num-rotary", "Rotary embeddings raised">,
    Statistic<"numAttention", "num-attention", "Attentions raised">,
  ];
}

#endif // LQ_PASSES_TD
