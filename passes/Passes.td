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

def CalibratePass : Pass<"calibrate", "ModuleOp"> {
  let summary = "Run the model on calibration data and record activation statistics in the IR";
  let description = [{
    Instruments a copy of the module (a call before every `lq.linear` hands
    its input rows to an observer), lowers it with `--lower-to-cpu`, JIT-runs
    it with MLIR's ExecutionEngine over the calibration samples (progress on
    stderr) and attaches to every `lq.linear` of the original module:

    | attribute | meaning |
    |---|---|
    | `lq.act_absmax` | per input channel max \|x\| (SmoothQuant, AWQ, activation scales) |
    | `lq.act_meansq` | per input channel mean of x² (AWQ's importance) |
    | `lq.act_range` | `[min, max]` over the whole input (per-tensor activation quantization) |
    | `lq.act_clip` | `[p99.9, p99.99, mse]`: percentile clips of \|x\| and the int8 MSE-optimal clip, from a streamed log-scale histogram |
    | `lq.k_absmax`, `lq.v_absmax` | on `lq.attention`: per (KV head, channel) max \|K\| (after RoPE) and \|V\|, `[H, D]` (static KV-cache scales, `--quantize-kv-cache scales=static`) |
    | `lq.calib_rows` | number of rows (tokens) observed |
    | `lq.hessian` | `XᵀX / rows`, `[K, K]` f32 (GPTQ), only with `hessian=true`: K² × 8 bytes per linear while running |

    Statistics stream: every call folds its rows into running maxima and sums
    (Hessians via lq_rt's SGEMM), so memory does not grow with the number of
    samples. Samples are `seq-len`-token windows, at offsets drawn with `seed`
    (deterministic), from `tokens=FILE` (.npy int32/int64 ids, [T] or [N, T],
    or a text file of ids separated by spaces, commas or newlines)
    or from `text=FILE` tokenized line by line with `tokenizer=FILE`
    (SentencePiece; EOS after each line, as quant-eval does). The model must
    take the ids as its only non-empty input, `[1, seq-len]`.

    ```
    quant-opt m.mlir --calibrate="tokenizer=tok.model text=calib.txt samples=64 seq-len=256" -o calibrated.mlir
    ```
  }];
  let dependentDialects = [
    "mlir::lq::LQDialect", "mlir::arith::ArithDialect",
    "mlir::bufferization::BufferizationDialect", "mlir::func::FuncDialect",
    "mlir::memref::MemRefDialect", "mlir::tensor::TensorDialect",
    "mlir::linalg::LinalgDialect", "mlir::math::MathDialect",
    "mlir::scf::SCFDialect", "mlir::cf::ControlFlowDialect",
    "mlir::LLVM::LLVMDialect"
  ];
  let options = [
    Option<"tokens", "tokens", "std::string", "",
           "Token ids: .npy (int32/int64, [T] or [N, T]) or plain text of ids">,
    Option<"tokenizer", "tokenizer", "std::string", "", "SentencePiece model">,
    Option<"text", "text", "std::string", "", "Calibration text file">,
    Option<"samples", "samples", "int64_t", "32", "Number of windows">,
    Option<"seqLen", "seq-len", "int64_t", "0", "Tokens per window (0: the model's)">,
    Option<"seed", "seed", "uint64_t", "0", "Seed for the window offsets">,
    Option<"hessian", "hessian", "bool", "false", "Also record XᵀX for GPTQ">,
    Option<"runtimeLib", "runtime-lib", "std::string", "",
           "Path of liblq_rt.so (default: next to the tool, ../lib)">,
    Option<"progress", "progress", "bool", "true", "Print progress to stderr">,
  ];
}

def QuantizeWeightsPass : Pass<"quantize-weights", "func::FuncOp"> {
  let summary = "Quantize the constant weights of lq.linear (RTN)";
  let description = [{
    Round-to-nearest weight quantization, the baseline every other method is
    measured against: each group of `group` weights along K (the input
    dimension, contiguous in `[N, K]`) gets its own scale (and zero point when
    `sym=false`), chosen by lq_rt's reference group quantizers:
    symmetric int `s = max|w| / (2^(b-1) - 1)`, asymmetric
    `s = (max - min) / (2^b - 1)`, `z = round(-min / s)`; NF4 `s = max|w|`
    (QLoRA, arXiv:2305.14314); FP8 `s = max|w| / max_finite`; MX formats the
    OCP MX v1.0 shared exponent; NVFP4 an E4M3 block scale times one f32
    tensor scale.

    The float weight is replaced by `lq.dequantize` of constant codes:

    ```mlir
    %y = lq.linear %x, %w : (tensor<8x256xf32>, tensor<768x256xf32>) -> tensor<8x768xf32>
    // becomes
    %q = arith.constant dense_resource<...> : tensor<768x256xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 128>>
    %s = arith.constant dense<...> : tensor<768x2xf32>
    %w4 = lq.dequantize %q, %s : (...) -> tensor<768x256xf32>
    %y = lq.linear %x, %w4 : ...
    ```

    The output projection (the linear whose result the function returns) is
    quantized with `lm-head` (default int8 per channel; `float` keeps it), as
    llama.cpp and llm-compressor do; `keep` lists regexes of op names (ONNX
    node names in locations) left in float.
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect"];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"int\"",
           "int, nf4, fp8-e4m3, fp8-e5m2, mxfp4, mxfp6-e2m3, mxfp6-e3m2, "
           "mxfp8-e4m3, mxfp8-e5m2, nvfp4, bf16 (per tensor, scale 1)">,
    Option<"bits", "bits", "unsigned", /*default=*/"4", "Bits for format=int (2..8)">,
    Option<"group", "group", "int64_t", /*default=*/"0",
           "Weights per group along K; -1 = per output channel; 0 = the "
           "format's default (int, nf4: 128; fp8: per channel; MX: 32; "
           "NVFP4: 16)">,
    Option<"sym", "sym", "bool", /*default=*/"true", "Symmetric (no zero point)">,
    Option<"method", "method", "std::string", /*default=*/"\"rtn\"",
           "Rounding method: rtn">,
    Option<"lmHead", "lm-head", "std::string", /*default=*/"\"int8\"",
           "Output projection: int8 (per channel), float, or same">,
    ListOption<"keep", "keep", "std::string",
               "Regexes of op names to leave in float">,
    Option<"onlyIndex", "only-index", "int64_t", /*default=*/"-1",
           "Quantize only the i-th lq.linear (walk order; for per-layer "
           "attribution, quant-eval --attribute)">,
  ];
  let statistics = [
    Statistic<"numQuantized", "num-quantized", "Weights quantized">,
  ];
}

def GPTQPass : Pass<"gptq", "func::FuncOp"> {
  let summary = "Quantize linear weights with GPTQ (arXiv:2210.17323)";
  let description = [{
    Integer weight quantization that minimizes the layer's output error on
    the calibration data: columns are quantized in turn and each one's
    rounding error is compensated in the columns not yet quantized, through
    the inverse Hessian H = XᵀX recorded by `--calibrate="... hessian=true"`
    (`lq.hessian`, removed once used). Dampening adds `damp · mean(diag H)` to
    the diagonal; `act-order` visits columns by decreasing H_ii (with group
    scales fixed from the original weights, AutoGPTQ's static groups); the
    update is applied lazily in blocks of `block` columns.

    The output projection (result returned by the function) is left for
    `--quantize-weights` (int8 per channel by default), as in the recipes;
    `keep` leaves the matching linears in float, as `--quantize-weights` does.
    Produces the same IR as `--quantize-weights` (codes, scales, zero points,
    `lq.dequantize`).
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect"];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"4", "Weight bits (2..8)">,
    Option<"group", "group", "int64_t", /*default=*/"128",
           "Columns per group; -1 = per output channel">,
    Option<"sym", "sym", "bool", /*default=*/"true", "Symmetric (no zero point)">,
    Option<"actOrder", "act-order", "bool", /*default=*/"false",
           "Visit columns by decreasing Hessian diagonal">,
    Option<"damp", "damp", "double", /*default=*/"0.01",
           "Dampening, a fraction of the mean Hessian diagonal">,
    Option<"blockSize", "block", "int64_t", /*default=*/"128",
           "Columns per lazy-update block">,
    Option<"precision", "precision", "std::string", /*default=*/"\"f32\"",
           "Arithmetic of the factorization and updates: f32 (GPTQ's "
           "reference precision, twice the GEMM rate) or f64">,
    Option<"verbose", "verbose", "bool", /*default=*/"false",
           "Emit a remark with each layer's time">,
    Option<"onlyIndex", "only-index", "int64_t", /*default=*/"-1",
           "Quantize only the i-th lq.linear (walk order)">,
    ListOption<"keep", "keep", "std::string",
               "Regexes of op names (ONNX node names) to leave in float, "
               "as --quantize-weights' keep">,
  ];
  let statistics = [
    Statistic<"numQuantized", "num-quantized", "Weights quantized">,
  ];
}

def AWQPass : Pass<"awq", "func::FuncOp"> {
  let summary = "Activation-aware weight quantization (AWQ, arXiv:2306.00978)";
  let description = [{
    Integer weight quantization that protects the input channels whose
    activations are large. For the linears reading each RMSNorm/LayerNorm
    output (q/k/v, gate/up) it searches one per-input-channel scale
    `s_j = rms(x_j)^α` (rms = sqrt(`lq.act_meansq`), normalized to geometric
    mean 1) over `grid` values of α in [0, 1], keeping the α whose quantized
    weights give the smallest output error on the calibration statistics:

      err(α) = Σ_j E[x_j²]/s_j² · Σ_n (W_nj s_j - Q(W s)_nj)²

    or, when `lq.hessian` is present, the full `tr(ΔW H ΔWᵀ)` with H
    rescaled by 1/s. 1/s is folded into the norm's γ (and β) and s into the
    weights (the float function is unchanged), then every non-head linear is
    quantized with RTN, after (`clip`) a per-group search of the clipping
    ratio in [0.5, 1] under the same error. Linears not fed by a norm
    (o_proj, down_proj) get the clipping search only. The output projection
    is left for `--quantize-weights`, as `--gptq` does; `keep` leaves the
    matching linears in float (their norm's scale search skips them too).

    ```mlir
    %n = lq.rms_norm %x, %g ...
    %y = lq.linear %n, %w {lq.act_meansq = ...} ...
    // becomes
    %g2 = arith.constant dense<g / s> ...
    %n = lq.rms_norm %x, %g2 ...
    %w4 = lq.dequantize %codes, %scales zero_point %zp ...   // of W·diag(s)
    %y = lq.linear %n, %w4 {lq.awq_alpha = 0.5 : f32, ...} ...
    ```
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect"];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"4", "Weight bits (2..8)">,
    Option<"group", "group", "int64_t", /*default=*/"128",
           "Columns per group; -1 = per output channel">,
    Option<"sym", "sym", "bool", /*default=*/"false", "Symmetric (no zero point)">,
    Option<"grid", "grid", "int64_t", /*default=*/"20",
           "Number of α values tried, evenly spaced in [0, 1]">,
    Option<"clip", "clip", "bool", /*default=*/"true",
           "Search a clipping ratio in [0.5, 1] per group">,
    Option<"quantize", "quantize", "bool", /*default=*/"true",
           "false: fold the chosen scales and stop, weights left in float "
           "(the statistics are rescaled; e.g. to run --gptq next)">,
    Option<"verbose", "verbose", "bool", /*default=*/"false",
           "Emit a remark with each decision and its error vs RTN">,
    ListOption<"keep", "keep", "std::string",
               "Regexes of op names (ONNX node names) to leave in float, "
               "as --quantize-weights' keep">,
  ];
  let statistics = [
    Statistic<"numScaled", "num-scaled", "Linears given activation-aware scales">,
    Statistic<"numQuantized", "num-quantized", "Weights quantized">,
  ];
}

def FoldNormsPass : Pass<"fold-norms", "func::FuncOp"> {
  let summary = "Fold RMSNorm/LayerNorm scales (and shifts) into the next linears";
  let description = [{
    For every `lq.rms_norm` / `lq.layer_norm` whose output is read only by
    `lq.linear`s with constant f32 weights (through reshapes):
    `W'[n, k] = W[n, k] · γ_k`, `b'[n] = b[n] + Σ_k W[n, k] β_k`, and the
    norm's γ becomes ones (β is removed). The float function is unchanged.
    A weight constant with other users (a tied embedding / lm_head table, a
    constant shared between layers) is untied, with a remark. A norm read by
    anything else is left alone, with a warning naming the reader.

    With `layer-norm-to-rms` (default), a LayerNorm whose residual stream is
    written only by linears, embeddings and constants and read only by
    folded LayerNorms becomes an `lq.rms_norm`: every writer's output is
    centered (`W -= mean over output rows`, embedding rows minus their
    mean), so the stream has zero mean and LN(x) = RMSNorm(x) (SliceGPT,
    arXiv:2401.15024). Otherwise it stays, with a warning.

    The first step of rotation methods (QuaRot, arXiv:2404.00456). Exact
    calibration statistics are rescaled, the others dropped (recalibrate).

    ```mlir
    %n = lq.rms_norm %x, %g ...
    %y = lq.linear %n, %w ...
    // becomes
    %ones = arith.constant dense<1.0> : tensor<256xf32>
    %n = lq.rms_norm %x, %ones ...
    %y = lq.linear %n, %w_times_g ...
    ```
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect"];
  let options = [
    Option<"layerNormToRms", "layer-norm-to-rms", "bool", /*default=*/"true",
           "Turn LayerNorms into RMSNorms by centering the residual stream's "
           "writers">,
  ];
  let statistics = [
    Statistic<"numFolded", "num-folded", "Linears given a norm's scale">,
    Statistic<"numUntied", "num-untied", "Shared weights untied">,
    Statistic<"numConverted", "num-converted", "LayerNorms turned into RMSNorms">,
  ];
}

def QuaRotPass : Pass<"quarot", "func::FuncOp"> {
  let summary = "Fuse random Hadamard rotations into the network (QuaRot, arXiv:2404.00456)";
  let description = [{
    Needs folded norms (`--fold-norms`). Leaves the float function unchanged
    (up to float rounding) while spreading activation outliers over all
    channels, so that weights, activations and the KV cache quantize better:

    | rotation | where | how |
    |---|---|---|
    | `r1` | residual stream, Q = D·Hᵀ (random ±1 D from `seed`) | offline: embedding·Q, norm readers W·Q (q/k/v, gate/up, lm_head), residual writers Qᵀ·W (o_proj, down_proj) |
    | `r2` | per head of V (power-of-two head size) | offline: v_proj output and o_proj input |
    | `r3` | Q and K after RoPE, per head | online `lq.hadamard` (K before the KV-cache concat) |
    | `r4` | down_proj input | online `lq.hadamard`, its inverse fused into down_proj's weight |

    The structure is read from the IR: the residual stream starts at each
    `lq.embedding` and runs through elementwise adds whose other operand is
    an `lq.linear`; every `lq.rms_norm` on it must have unit scale and be
    read only by linears; an attention's value must come from a linear
    (v_proj) and its output reach one (o_proj) through layout ops. Anything
    else is an error naming the op. Weights must still be float constants.

    `verify=true` checks the invariance on the model being rotated: the
    module (its entry must take [1, T] int64 token ids and return static f32
    logits first) is JIT-run before and after the rotation, with no
    quantization, on ids 1..T; relative logit error max|Δ| / max|L| above
    `verify-tol` is an error naming the figure, otherwise a remark gives it.
  }];
  // verify=true builds a JIT wrapper (func/memref/bufferization ops).
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect",
                           "mlir::func::FuncDialect", "mlir::memref::MemRefDialect",
                           "mlir::tensor::TensorDialect"];
  let options = [
    Option<"seed", "seed", "uint64_t", /*default=*/"0",
           "Seed of R1's random signs">,
    Option<"r1", "r1", "bool", /*default=*/"true", "Rotate the residual stream">,
    Option<"r2", "r2", "bool", /*default=*/"true", "Rotate V/O per head">,
    Option<"r3", "r3", "bool", /*default=*/"true", "Online Hadamard on Q and K">,
    Option<"r4", "r4", "bool", /*default=*/"true", "Online Hadamard on the down_proj input">,
    Option<"verify", "verify", "bool", /*default=*/"false",
           "JIT-run the model before and after the rotation (no quantization) "
           "on ids 1..T and fail unless the logits agree within verify-tol">,
    Option<"verifyTol", "verify-tol", "double", /*default=*/"1e-4",
           "verify: largest max|dlogit| / max|logit| accepted">,
  ];
}

def SpinQuantPass : Pass<"spinquant", "func::FuncOp"> {
  let summary = "Fuse learned rotations R1/R2 into the network (SpinQuant, arXiv:2405.16406)";
  let description = [{
    QuaRot's structure (`--quarot`, after `--fold-norms`) with R1 [D, D] and
    R2 [d, d] (per layer) loaded from `rotations`: a directory holding R1.npy
    and R2.npy, or one FILE.npz (np.savez, uncompressed) or FILE.safetensors
    with tensors named `R1` and `R2` (R2 [layers, d, d] or one [d, d]; f32
    or f64), e.g. learned by `tools/spinquant/learn.py` (Cayley SGD on the
    Stiefel manifold). Each matrix must be orthogonal (max |RᵀR - I| <=
    `orth-tol`). R3/R4 stay online Hadamards. Float logits are unchanged
    (`verify=true` checks it on the model).

    `rotations=learn` learns R1/R2 here instead (tools/spinquant/learn.py's
    method, in C++): Cayley SGD on the Stiefel manifold for `steps` steps
    (cosine lr from `lr`), minimizing the next-token CE (`loss=kl`: KL to the
    float model) of the fake-quantized network (`wbits`/`abits`, group
    `group`, straight-through rounding) on `batch` windows per step of the
    calibration data (`tokens=` or `tokenizer=` + `text=`, `samples` windows
    of `seq-len` as --calibrate draws them with `seed`; the last `heldout`
    give the held-out CE curve), from QuaRot's start (R1 = signs from `seed`
    times Hadamard, R2 = Hadamard). The differentiable forward is libtorch's,
    in the plugin liblq_spinquant.so (built where libtorch-dev is installed),
    loaded only then. Progress goes to stderr; `save=DIR` writes R1.npy,
    R2.npy and loss.csv for reuse as `rotations=DIR`.

        quant-opt m.mlir --pass-pipeline='builtin.module(func.func(fold-norms,spinquant{rotations=learn tokens=ids.npy seq-len=256 steps=100}))'
  }];
  // verify=true builds a JIT wrapper (func/memref/bufferization ops).
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect",
                           "mlir::func::FuncDialect", "mlir::memref::MemRefDialect",
                           "mlir::tensor::TensorDialect"];
  let options = [
    Option<"rotations", "rotations", "std::string", "",
           "Directory holding R1.npy and R2.npy, or a .npz / .safetensors "
           "file with tensors R1 and R2; `learn`: learn them here">,
    Option<"r2", "r2", "bool", /*default=*/"true", "Fuse R2 (R2.npy) into V/O per head">,
    Option<"r3", "r3", "bool", /*default=*/"true", "Online Hadamard on Q and K">,
    Option<"r4", "r4", "bool", /*default=*/"true", "Online Hadamard on the down_proj input">,
    Option<"orthTol", "orth-tol", "double", /*default=*/"1e-4",
           "Largest max|R^T R - I| accepted for a loaded rotation">,
    Option<"verify", "verify", "bool", /*default=*/"false",
           "JIT-run the model before and after the rotation (no quantization) "
           "on ids 1..T and fail unless the logits agree within verify-tol">,
    Option<"verifyTol", "verify-tol", "double", /*default=*/"1e-4",
           "verify: largest max|dlogit| / max|logit| accepted">,
    // rotations=learn: learn R1/R2 in the pass (liblq_spinquant.so, libtorch).
    Option<"steps", "steps", "int64_t", /*default=*/"100",
           "rotations=learn: Cayley SGD steps">,
    Option<"lr", "lr", "double", /*default=*/"1.5",
           "rotations=learn: initial learning rate (cosine schedule to 0)">,
    Option<"tokens", "tokens", "std::string", "",
           "rotations=learn: calibration token ids (.npy or text, as --calibrate)">,
    Option<"tokenizer", "tokenizer", "std::string", "",
           "rotations=learn: SentencePiece model for `text`">,
    Option<"text", "text", "std::string", "", "rotations=learn: calibration text file">,
    Option<"samples", "samples", "int64_t", /*default=*/"128",
           "rotations=learn: calibration windows (the last `heldout` are held out)">,
    Option<"seqLen", "seq-len", "int64_t", /*default=*/"0",
           "rotations=learn: tokens per window (0: the model's)">,
    Option<"batch", "batch", "int64_t", /*default=*/"4",
           "rotations=learn: windows per step">,
    Option<"heldout", "heldout", "int64_t", /*default=*/"8",
           "rotations=learn: windows kept out of learning for the loss curve">,
    Option<"evalEvery", "eval-every", "int64_t", /*default=*/"10",
           "rotations=learn: held-out CE every this many steps">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0",
           "rotations=learn: window offsets and R1's starting signs (as --quarot)">,
    Option<"wbits", "wbits", "int64_t", /*default=*/"4",
           "rotations=learn: weight bits of the fake quantization (16: none)">,
    Option<"abits", "abits", "int64_t", /*default=*/"4",
           "rotations=learn: activation bits (per token; 16: none, W4A16)">,
    Option<"group", "group", "int64_t", /*default=*/"128",
           "rotations=learn: weight quantization group size">,
    Option<"loss", "loss", "std::string", /*default=*/"\"ce\"",
           "rotations=learn: ce (next-token cross-entropy) or kl (to the float model)">,
    Option<"threads", "threads", "int64_t", /*default=*/"0",
           "rotations=learn: libtorch threads (0: its default)">,
    Option<"save", "save", "std::string", "",
           "rotations=learn: write R1.npy, R2.npy and loss.csv to this directory">,
    Option<"plugin", "plugin", "std::string", "",
           "rotations=learn: the learner (default <exe>/../lib/liblq_spinquant.so)">,
  ];
}

def StaticKVCachePass : Pass<"static-kv-cache", "func::FuncOp"> {
  let summary = "Give a KV-cache step a fixed-capacity cache and a position input";
  let description = [{
    An exported decode step takes the cache as `past_*` inputs of length P,
    concatenates the new keys/values behind them and returns the result: its
    shapes grow by T every step, and lq compiles static shapes. This pass
    turns every such cache into a `[B, H, capacity, D]` buffer and adds a
    0-d i64 input `position` (the number of tokens already cached):

    - `tensor.concat dim(2) %past, %new` becomes `tensor.insert_slice` of the
      new rows at `position`, and the updated buffer is returned in place of
      `present_*` (the runtime feeds it back next step);
    - every `lq.attention` reading a cache gets `position`, so it masks the
      unwritten rows and attends causally from `position`;
    - every `lq.rotary` table (constant cos/sin rows of positions P .. P+T-1)
      becomes a `[capacity, R]` table sliced at `position`. Its frequencies
      θ_r are recovered from the given rows (position 1, or two consecutive
      positions) and the table is recomputed as PyTorch/HF do it,
      `cos(float32(p) · float32(θ_r))`; every given row is checked against it
      (a rotary whose tables are not cos/sin(p·θ) is an error).

    The position input carries `lq.range` = [0, capacity - T + 1) and each
    cache input `lq.kv_cache` = the index of the result that updates it, so
    the compiled model's signature tells a runtime how to drive it
    (`lq_generate`).
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect",
                           "mlir::tensor::TensorDialect"];
  let options = [
    Option<"capacity", "capacity", "int64_t", /*default=*/"0",
           "Tokens the cache holds (the longest context)">,
  ];
}

def SmoothQuantPass : Pass<"smoothquant", "func::FuncOp"> {
  let summary = "Migrate activation outliers into weights (SmoothQuant, arXiv:2211.10438)";
  let description = [{
    For the linears reading each RMSNorm/LayerNorm output,
    `s_j = max|X_j|^alpha / max|W_:,j|^(1-alpha)` over all of them; the norm's
    γ (and β) is divided by s and each weight's column j multiplied by it, so
    the float model is unchanged while the activations' per-channel ranges
    flatten. Reads `lq.act_absmax` (from --calibrate) and rescales the
    statistics to the smoothed activations (`lq.act_range` becomes
    symmetric, `lq.hessian` is dropped as stale).

    `alpha` is one value for every norm group, `layer-alphas` one per group
    (walk order), and `alpha=auto` searches `grid` values in [0, 1] per
    group for the smallest expected W8A8 output error (int8 per-channel
    weights, static per-tensor int8 activations) on the calibration
    statistics: Σ_j min(Δ²/12, E[x'_j²]) ‖Ŵ_:,j‖² + tr(ΔW H' ΔWᵀ), with
    `lq.hessian` when present and its diagonal `lq.act_meansq` otherwise
    (see SmoothQuant.cpp); a remark gives each group's choice.
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect"];
  let options = [
    Option<"alpha", "alpha", "std::string", /*default=*/"\"0.5\"",
           "Migration strength in [0, 1], or 'auto' (per-group search)">,
    ListOption<"layerAlphas", "layer-alphas", "double",
               "One alpha per norm group (walk order); overrides 'alpha'">,
    Option<"grid", "grid", "int64_t", /*default=*/"21",
           "alpha=auto: values tried, evenly spaced in [0, 1]">,
  ];
  let statistics = [
    Statistic<"numSmoothed", "num-smoothed", "Linears smoothed">,
  ];
}

def QuantizeActivationsPass : Pass<"quantize-activations", "func::FuncOp"> {
  let summary = "Quantize linear inputs (static or dynamic scales)";
  let description = [{
    Inserts `lq.quantize` + `lq.dequantize` in front of every f32
    `lq.linear`, for W8A8, W4A8, W4A4, FP8 and FP4 recipes. `int4`: one
    symmetric scale per token, amax / 7, computed at run time (QuaRot's A4;
    per-token dynamic is the only mode offered). `int8` / `fp8-e4m3`:
    one static scale per tensor from the calibrated `lq.act_range`
    (`mode=static`), or scales computed at run time (`mode=dynamic`, with
    `lq.compute_scales`) per tensor or per token (`granularity=per-token`:
    one scale per row of K). `mxfp4` / `nvfp4`: block scales computed at run
    time per 32 / 16 elements along K; NVFP4's tensor scale is static from
    calibration (`mode=static`, the default) or dynamic. The output
    projection's input stays float unless `include-head`.
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect"];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"int8\"",
           "int8, int4 (per token, dynamic only), fp8-e4m3, mxfp4 or nvfp4">,
    Option<"granularity", "granularity", "std::string", /*default=*/"\"\"",
           "int8 / fp8-e4m3: per-tensor (default) or per-token; int4: "
           "per-token">,
    Option<"mode", "mode", "std::string", /*default=*/"\"\"",
           "static (calibrated scale) or dynamic (run-time scales); default "
           "static, dynamic for per-token and mxfp4">,
    Option<"includeHead", "include-head", "bool", /*default=*/"false",
           "Also quantize the output projection's input">,
    Option<"range", "range", "std::string", /*default=*/"\"minmax\"",
           "Clipping range: minmax (lq.act_range), p99.9, p99.99 or mse "
           "(lq.act_clip)">,
  ];
  let statistics = [
    Statistic<"numQuantized", "num-quantized", "Activations quantized">,
  ];
}

def KVCacheInPlacePass : Pass<"kv-cache-in-place", "func::FuncOp"> {
  let summary = "Update runtime-managed KV caches in the caller's buffers";
  let description = [{
    A runtime-managed cache (`--static-kv-cache`, `lq.kv_cache = r`) is an
    argument the step writes a few rows into and returns as result `r`, so
    the runtime can feed it back. Bufferized as is, every step copies the
    whole cache twice (a function argument is read-only, and a returned
    argument is cloned): work proportional to the capacity, not to the new
    rows. This pass makes each cache an in-place argument instead: it marks
    it `bufferization.writable`, so the append (`tensor.insert_slice` into
    the argument, the argument's only use) writes into the caller's buffer,
    and drops result `r`. The argument gets `lq.kv_cache_in_place`, which
    quant-compile writes as a `cache <name> inplace` signature line: the
    runtime keeps the buffer from step to step. Run it last, after every
    pass that rewrites the caches (`--quantize-kv-cache`).
  }];
  let dependentDialects = ["mlir::bufferization::BufferizationDialect"];
  let statistics = [
    Statistic<"numInPlace", "num-in-place", "Caches updated in place">,
  ];
}

def QuantizeKVCachePass : Pass<"quantize-kv-cache", "func::FuncOp"> {
  let summary = "Store the KV cache quantized; attention reads it dequantized";
  let description = [{
    Every key and value `lq.attention` reads is quantized per token: one
    scale per (batch, head, token, `group` channels), computed when the
    token is appended (`lq.compute_scales`, symmetric: int `amax / (2^(b-1)
    - 1)`, FP8 `amax / 448` or `amax / 57344`), so a stored row never
    changes. What a cache becomes depends on where it lives:

    - a runtime-managed cache (`--static-kv-cache`: `tensor.insert_slice` of
      the new rows into a `[B, H, C, D]` argument at `position`) and a
      graph-level cache (`model_kv.onnx`: `tensor.concat` of a `past_*`
      argument and the new rows) change the argument and its result to
      codes plus an f32 scale tensor `[B, H, C, D / group]` (a new argument
      and result named `<name>.scales`, right after the codes; `lq.kv_cache`
      follows). int4 codes are packed two per byte (`lq.pack_codes`), so the
      cache takes D/2 bytes per row. Attention reads
      `lq.dequantize(cache, scales)`, which the CPU lowering fuses into the
      attention kernel (`lq_rt_attention_at_q`: codes are decoded row by row
      as keys and values are read; no float copy of the cache exists).
    - keys and values computed in the same call (a prefill without a cache)
      are quantized and dequantized in place: attention sees exactly what a
      cache of this format would give it, so `quant-eval` on `model.onnx`
      measures the cache's effect on perplexity and KL.

    KV-cache quantization in this form is what KIVI (Liu et al., 2024,
    arXiv:2402.02750) and KVQuant (Hooper et al., 2024, arXiv:2401.18079)
    study; per-token dynamic scales are their simplest variant.

    `scales=static key-granularity=per-channel` quantizes keys with constant
    per-(KV head, channel) scales `absmax / qmax` ([1, H, 1, D], from
    `--calibrate`'s `lq.k_absmax`; KIVI quantizes keys per channel, KVQuant
    calibrates those scales offline): outlier channels get their own scale
    instead of inflating every token's. The codes' scheme is
    `#lq.scheme<..., block = [0, 1, 0, 1]>` (0: the whole dimension), the
    same for the appended rows and the cache, and the cache stores no key
    scales (no `.scales` argument/result for keys). Values stay per token
    and dynamic unless `value-granularity=per-channel` (then static too, from
    `lq.v_absmax`). Run-time values beyond the calibrated range saturate to
    the largest code. A missing calibration is an error. Keys rotated
    by `--quarot` (R3, a Hadamard after RoPE) lose their outlier channels
    and quantize far better per token (QuaRot, arXiv:2404.00456).

    `format=nvfp4`: FP4 E2M1 codes (packed two per byte) with an FP8 E4M3
    scale per 16 channels computed on append, `E4M3(amax / 6)`, and a fixed
    tensor scale of 1 (a dynamic tensor scale would re-scale every stored
    block; 1 keeps block maxima 0.094..2688 in E4M3's normal range): the
    cache holds D/2 + D/16 bytes per head and token (4.5 bits per value)
    and its scales argument is `f8E4M3FN`. The fused kernel decodes E2M1
    through a 16-entry table and E4M3 scales through a 256-entry one.

    `key-granularity=per-head` / `value-granularity=per-head`: one scale per
    (token, head) over the whole head dimension, i.e. `group` = head dim
    for that side (what `group=0` gives both); the other side keeps
    `group`. `scale-type=f16` stores dynamic per-token scales as f16
    (static scales become f16 constants).

    `residual=R` (KIVI's float window, §3.2): the R most recent positions
    are read in float. Rows are still quantized into the cache on append
    (their codes do not depend on when that happens); a float ring
    `[B, H, R, D]` (argument and result `<name>.window`, position s in slot
    s mod R, `lq.kv_cache` for runtime-managed caches) is updated with
    `lq.kv_window_append` and attention reads
    `lq.kv_window_read(dequantize(...), ring, position + T)`. Keys/values
    computed in the same call read their last R positions in float. A
    runtime-managed cache's ring has R + T - 1 slots for steps of T rows
    (padded steps then never evict the last R real positions).

    `key-granularity=per-channel scales=dynamic residual=R` (KIVI §3.2-3.3):
    keys per channel with a scale per (batch, head, group of R positions,
    channel), computed when the group is complete; until then the key is
    read from the float ring. Key codes `[B, H, C, D]` with scheme
    `block = [1, 1, R, 1]` and key scales `[B, H, C / R, D]`; a step reads
    the groups it completes back from the ring (`lq.kv_window_groups`),
    quantizes them and writes them over their positions. Needs R > 0 and a
    capacity that is a multiple of R (graph-level caches: past and step
    lengths). Values keep `value-granularity`.
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect",
                           "mlir::scf::SCFDialect", "mlir::tensor::TensorDialect"];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"int8\"",
           "int8, int4, fp8-e4m3, fp8-e5m2 or nvfp4 (E2M1 codes, an E4M3 "
           "scale per 16 channels, tensor scale 1)">,
    Option<"group", "group", "int64_t", /*default=*/"0",
           "Channels per scale (0: the head dimension, one scale per head "
           "and token; nvfp4: 16, the only size it takes); must divide the "
           "head dimension">,
    Option<"scales", "scales", "std::string", /*default=*/"\"dynamic\"",
           "dynamic (per token, computed on append) or static (per channel, "
           "constants from --calibrate's lq.k_absmax / lq.v_absmax)">,
    Option<"keyGranularity", "key-granularity", "std::string",
           /*default=*/"\"per-token\"",
           "per-token (dynamic, `group` channels per scale), per-head "
           "(dynamic, one scale per token and head: group = head dim) or "
           "per-channel (scales=static: constants from --calibrate; "
           "scales=dynamic: KIVI, a scale per channel and group of "
           "`residual` tokens, needs residual > 0)">,
    Option<"valueGranularity", "value-granularity", "std::string",
           /*default=*/"\"per-token\"",
           "per-token (dynamic, also with scales=static), per-head or "
           "per-channel (needs scales=static)">,
    Option<"residual", "residual", "int64_t", /*default=*/"0",
           "KIVI's float window: the last R positions are read in float "
           "(0: none)">,
    Option<"scaleType", "scale-type", "std::string", /*default=*/"\"f32\"",
           "f32 or f16: storage of the scales (f16 halves the per-token "
           "scales' bytes; not for nvfp4, whose block scales are E4M3)">,
  ];
  let statistics = [
    Statistic<"numCaches", "num-caches", "Caches stored quantized">,
    Statistic<"numFakeQuantized", "num-fake-quantized",
              "Keys/values quantized in place (no cache)">,
  ];
}

def AssignMixedPrecisionPass : Pass<"assign-mixed-precision", "func::FuncOp"> {
  let summary = "Choose each linear's weight format under a size budget, then quantize (RTN)";
  let description = [{
    Per linear and candidate format, the sensitivity is the Hessian proxy of
    the output error E‖(W − Ŵ)x‖² = tr(ΔW H ΔWᵀ), H = XᵀX / rows the
    `lq.hessian` of `--calibrate="... hessian=true"` (`metric=mse`: H = I, no
    calibration), Ŵ the RTN quantization in that format; the default
    `metric=hessian-rel` divides it by the output's energy tr(W H Wᵀ), which
    on pd-llama-6m allocates far better than the absolute error. The allocation
    minimizing Σ sensitivity within the budget (a multiple-choice knapsack) is
    solved by Lagrangian relaxation (bisection on λ) plus a greedy repair
    that fills the slack; the summary remark states the certified gap to the
    dual bound. `budget-bpw` counts the bits of the searched and pinned
    linears (codes, scales, zero points, global scales, exactly as stored)
    per weight; `budget-bytes` the same bytes. The output projection is int8
    per channel outside the budget (`lm-head`, as `--quantize-weights`) unless
    `lm-head=search` or a `keep` pin names it. Candidates: `int<b>[-g<G>][-asym]`
    (no `-g`: per output channel), `nf4[-g<G>]`, `fp8`, `fp8-e5m2`, `mxfp4`,
    `mxfp6-e2m3`, `mxfp6-e3m2`, `mxfp8-e4m3`, `mxfp8-e5m2`, `nvfp4`, `float`.
    Each decision is a remark; `plan=FILE` writes them as JSON, `plan-in=FILE`
    applies an (edited) plan instead of searching.

    `metric=kl` measures instead of estimating: the sensitivity of (linear,
    format) is the mean KL(P_float || P_c) of the model's next-token
    distribution over `kl-samples` windows of the calibration data
    (`tokens=` or `tokenizer=` + `text=`, drawn as --calibrate draws them),
    with only that linear in that format. The module is lowered and JIT-run
    once (the entry gets one extra input, a flat buffer of every linear's f32
    weight; each linear reads its slice), so a (linear, format) pair costs
    one forward pass per window and no recompilation: float reference once,
    then Σ_i |candidates_i| runs (progress on stderr). `sens-in=FILE` reuses
    the sensitivities of a plan JSON written with the same metric (one
    measurement, many budgets).
  }];
  let dependentDialects = ["mlir::lq::LQDialect", "mlir::arith::ArithDialect",
                           // metric=kl's JIT'd copy
                           "mlir::tensor::TensorDialect",
                           "mlir::bufferization::BufferizationDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::func::FuncDialect"];
  let options = [
    Option<"budgetBpw", "budget-bpw", "double", /*default=*/"0",
           "Bits per weight over the searched and pinned linears">,
    Option<"budgetBytes", "budget-bytes", "int64_t", /*default=*/"0",
           "Bytes of the searched and pinned linears (instead of budget-bpw)">,
    ListOption<"candidates", "candidates", "std::string",
               "Candidate formats (default int3-g128,int4-g128,int4-g64,"
               "int4-g32,int8)">,
    Option<"metric", "metric", "std::string", /*default=*/"\"hessian-rel\"",
           "hessian-rel (tr(dW H dWT) / tr(W H WT)), hessian (absolute; both "
           "need lq.hessian), mse (H = I) or kl (measured: KL of the model's "
           "output with that one linear quantized)">,
    ListOption<"keep", "keep", "std::string",
               "REGEX:FORMAT pins (op names), counted in the budget">,
    Option<"lmHead", "lm-head", "std::string", /*default=*/"\"int8\"",
           "Output projection: int8 (per channel, outside the budget), float, "
           "or search">,
    Option<"plan", "plan", "std::string", /*default=*/"\"\"",
           "Write the plan as JSON to this file">,
    Option<"planIn", "plan-in", "std::string", /*default=*/"\"\"",
           "Apply this JSON plan instead of searching">,
    Option<"sensIn", "sens-in", "std::string", /*default=*/"\"\"",
           "Take every (linear, format) sensitivity from this plan JSON "
           "(written with the same metric) instead of measuring">,
    Option<"tokens", "tokens", "std::string", /*default=*/"\"\"",
           "metric=kl: token ids (.npy [T] or [N, T], or text), as --calibrate">,
    Option<"tokenizer", "tokenizer", "std::string", /*default=*/"\"\"",
           "metric=kl: SentencePiece model for text=">,
    Option<"text", "text", "std::string", /*default=*/"\"\"",
           "metric=kl: calibration text, tokenized line by line">,
    Option<"klSamples", "kl-samples", "int64_t", /*default=*/"4",
           "metric=kl: windows per (linear, format) measurement">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0",
           "metric=kl: seed of the window offsets (--calibrate's default, so "
           "the windows are its first ones)">,
    Option<"runtimeLib", "runtime-lib", "std::string", /*default=*/"\"\"",
           "metric=kl: liblq_rt.so to JIT against (default <exe>/../lib)">,
    Option<"progress", "progress", "bool", /*default=*/"true",
           "metric=kl: print progress (linear i/N) to stderr">,
    Option<"objective", "objective", "std::string", /*default=*/"\"quality\"",
           "quality (every candidate) or speed (only candidates with a fused "
           "CPU kernel: int4, int8, nf4, fp8, mxfp4, nvfp4, float)">,
  ];
  let statistics = [
    Statistic<"numQuantized", "num-quantized", "Weights quantized">,
  ];
}

#endif // LQ_PASSES_TD
