//===- LQOps.td - lq operations ----------------------------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_OPS_TD
#define LQ_OPS_TD

include "dialects/LQ/IR/LQBase.td"
include "dialects/LQ/IR/LQAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Quantize / dequantize
//===----------------------------------------------------------------------===//

def LQ_QuantizeOp : LQ_Op<"quantize", [Pure, AttrSizedOperandSegments]> {
  let summary = "Encode floating-point values in a quantized storage format";
  let description = [{
    `result = encode(input / scale + zero_point)`, with one scale (and zero
    point) per block of the result's `#lq.scheme`. Integer codes round half to
    even and saturate; floating-point codes round to nearest even and saturate
    to the format's largest finite value. NVFP4 divides by
    `scale * global_scale`.

    Quantizing a constant folds to a constant of the storage type: small
    results print as `dense`, large ones become packed `dense_resource` blobs
    (layout in `<lq_rt/formats.h>`).

    ```mlir
    %q = lq.quantize %w, %s : (tensor<256x512xf32>, tensor<256x4xf16>)
           -> tensor<256x512xi4, #lq.scheme<format = int, bits = 4, axis = 1, group = 128>>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$input, LQ_FloatTensor:$scales,
                       Optional<LQ_IntTensor>:$zero_point,
                       Optional<LQ_FloatTensor>:$global_scale);
  let results = (outs LQ_QuantizedTensor:$result);
  let assemblyFormat = [{
    $input `,` $scales (`zero_point` $zero_point^)? (`global_scale` $global_scale^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let extraClassDeclaration = [{
    SchemeAttr getScheme() {
      return ::llvm::cast<SchemeAttr>(getResult().getType().getEncoding());
    }
  }];
}

def LQ_DequantizeOp : LQ_Op<"dequantize", [Pure, AttrSizedOperandSegments]> {
  let summary = "Reconstruct floating-point values from quantized storage";
  let description = [{
    `result = (decode(input) - zero_point) * scale`, grouped by the input's
    `#lq.scheme`; NVFP4 multiplies by `global_scale` too. A linear whose weight
    is dequantized is what the lowering turns into a fused quantized matmul, so
    dequantize is never folded: that would materialize the float weight.

    ```mlir
    %w = lq.dequantize %q, %s : (tensor<4096x4096xi4, #g128>, tensor<4096x32xf16>) -> tensor<4096x4096xf32>
    ```
  }];
  let arguments = (ins LQ_QuantizedTensor:$input, LQ_FloatTensor:$scales,
                       Optional<LQ_IntTensor>:$zero_point,
                       Optional<LQ_FloatTensor>:$global_scale);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scales (`zero_point` $zero_point^)? (`global_scale` $global_scale^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    SchemeAttr getScheme() {
      return ::llvm::cast<SchemeAttr>(getInput().getType().getEncoding());
    }
  }];
}

def LQ_ComputeScalesOp : LQ_Op<"compute_scales", [Pure]> {
  let summary = "Scales of a scheme from the absolute maxima of its blocks";
  let description = [{
    The scales `lq.quantize` needs to encode `input` with `scheme`, computed
    at run time from `amax`, the largest magnitude of each block of the
    scheme (dynamic activation quantization). Per format, as
    `<lq_rt/formats.h>` chooses them for weights:

    | format | scale |
    |---|---|
    | `int` (symmetric) | `amax / (2^(bits-1) - 1)` |
    | `fp8_e4m3` / `fp8_e5m2` | `amax / 448` / `amax / 57344` |
    | `mx*` | E8M0 `2^(floor(log2 amax) - emax_elem)` (OCP MX v1.0 §6.3) |
    | `nvfp4` | E4M3 `amax / 6 / global_scale` |
    | `nvfp4`, rank-0 f32 result, no `global_scale` | the tensor scale `amax / (448 · 6)` (1 if `amax` is 0 or not finite) |

    ```mlir
    %s = lq.compute_scales %x for #lq.scheme<format = int, bits = 8, axis = 2, group = 256>
           : (tensor<1x8x256xf32>) -> tensor<1x8x1xf32>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$input,
                       Optional<LQ_FloatTensor>:$global_scale,
                       LQ_SchemeAttr:$scheme);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`global_scale` $global_scale^)? `for` $scheme attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether the result is NVFP4's tensor scale rather than block scales.
    bool isTensorScale() {
      return getScheme().getFormat() == Format::NVFP4 &&
             getResult().getType().getRank() == 0;
    }
  }];
}

def LQ_PackCodesOp : LQ_Op<"pack_codes", [Pure]> {
  let summary = "Two 4-bit codes per byte along the last dimension";
  let description = [{
    Stores 4-bit codes (`i4` or `f4E2M1FN` with a `#lq.scheme`) two per byte,
    the layout of `<lq_rt/formats.h>`: element `2j` in the low nibble of byte
    `j`, element `2j + 1` in the high nibble. LLVM gives every `i4` element a
    byte of its own, so a 4-bit tensor that crosses a function boundary (a
    quantized KV cache) is packed to take half the memory. The last
    dimension must be even.
    ```mlir
    %p = lq.pack_codes %q : tensor<1x4x8x32xi4, #s4> -> tensor<1x4x8x16xi8>
    ```
  }];
  let arguments = (ins LQ_QuantizedTensor:$input);
  let results = (outs RankedTensorOf<[I8]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def LQ_UnpackCodesOp : LQ_Op<"unpack_codes", [Pure]> {
  let summary = "The 4-bit codes of bytes packed by lq.pack_codes";
  let description = [{
    The inverse of `lq.pack_codes`: byte `j` of the last dimension holds
    elements `2j` (low nibble) and `2j + 1` (high nibble) of the result.
    ```mlir
    %q = lq.unpack_codes %p : tensor<1x4x256x16xi8> -> tensor<1x4x256x32xi4, #s4>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I8]>:$input);
  let results = (outs LQ_QuantizedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Graph-level building blocks
//===----------------------------------------------------------------------===//

def LQ_LinearOp : LQ_Op<"linear", [Pure]> {
  let summary = "Fully connected layer: x · Wᵀ + b";
  let description = [{
    `input` is `[..., K]`, `weight` is `[N, K]` (PyTorch's `nn.Linear` layout,
    so a quantization group runs along K, the contiguous axis), the optional
    `bias` is `[N]`; the result is `[..., N]`. The weight is usually a constant
    or the result of `lq.dequantize` (weight-only quantization).

    ```mlir
    %y = lq.linear %x, %w : (tensor<1x8x256xf32>, tensor<768x256xf32>) -> tensor<1x8x768xf32>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$input, LQ_FloatTensor:$weight,
                       Optional<LQ_FloatTensor>:$bias);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def LQ_RMSNormOp : LQ_Op<"rms_norm", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "Root-mean-square normalization over the last dimension";
  let description = [{
    `result = input / sqrt(mean(input², axis=-1) + epsilon) * weight`, with
    `weight` of shape `[D]` (Zhang & Sennrich 2019, as in Llama).

    ```mlir
    %y = lq.rms_norm %x, %g {epsilon = 1.0e-05 : f32} : tensor<1x8x256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$input, LQ_FloatTensor:$weight, F32Attr:$epsilon);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` type($input) `,` type($weight)";
  let hasVerifier = 1;
}

def LQ_LayerNormOp : LQ_Op<"layer_norm", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "Layer normalization over the last dimension";
  let description = [{
    `result = (input - mean) / sqrt(var + epsilon) * weight + bias` over the
    last dimension (Ba et al. 2016); `bias` is optional.

    ```mlir
    %y = lq.layer_norm %x, %g bias %b {epsilon = 1.0e-05 : f32} : tensor<1x8x256xf32>, tensor<256xf32>, tensor<256xf32>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$input, LQ_FloatTensor:$weight,
                       Optional<LQ_FloatTensor>:$bias, F32Attr:$epsilon);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
  let hasVerifier = 1;
}

def LQ_RotaryOp : LQ_Op<"rotary", [Pure, AllTypesMatch<["input", "result"]>,
                                       AllTypesMatch<["cos", "sin"]>]> {
  let summary = "Rotary position embedding (RoPE)";
  let description = [{
    Rotates pairs of the first `2 * R` features of each position by the angles
    whose cosines and sines are given (Su et al., RoFormer, arXiv:2104.09864).
    `input` is `[..., T, D]`; `cos` and `sin` are `[T, R]` with `2R <= D`
    (features past `2R` pass through). With `interleaved` the pairs are
    `(x[2i], x[2i+1])` (Meta/llama2.c layout); otherwise `(x[i], x[i+R])`
    (rotate-half, Hugging Face layout):

        y[i]   = x[i] * cos[t, i] - x[i+R] * sin[t, i]
        y[i+R] = x[i+R] * cos[t, i] + x[i] * sin[t, i]

    ```mlir
    %y = lq.rotary %q, %cos, %sin : tensor<1x8x16x32xf32>, tensor<16x16xf32>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$input, LQ_FloatTensor:$cos, LQ_FloatTensor:$sin,
                       UnitAttr:$interleaved);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = "$input `,` $cos `,` $sin attr-dict `:` type($input) `,` type($cos)";
  let hasVerifier = 1;
}

def LQ_AttentionOp : LQ_Op<"attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "Scaled dot-product attention with grouped-query heads";
  let description = [{
    `softmax(scale · Q Kᵀ + mask) V` per head. `query` is `[B, Hq, T, D]`,
    `key` is `[B, Hkv, S, D]`, `value` is `[B, Hkv, S, Dv]` with `Hq` a
    multiple of `Hkv` (query head `h` reads KV head `h / (Hq / Hkv)`, GQA); the
    result is `[B, Hq, T, Dv]`. `scale` defaults to `1/sqrt(D)`.

    `causal` masks key `s` for query `t` when `s > t + (S - T)`: the mask is
    aligned to the bottom right, so the same op serves a full prefill (S == T)
    and a decode step whose keys include a KV cache (the cache is concatenated
    in front of the new keys outside this op). The optional `mask` is additive
    (float) or boolean (`i1`, true = attend) and broadcasts to `[B, Hq, T, S]`.

    The optional 0-d integer `position` says where the queries sit among the
    keys when the keys live in a fixed-capacity cache (`--static-kv-cache`):
    query `t` is at key index `position + t`, keys `s >= position + T` are not
    yet written and are always masked, and `causal` masks `s > position + t`.
    Without it, `position` is `S - T` (the cache is exactly full).

    ```mlir
    %o = lq.attention %q, %k, %v {causal} : (tensor<1x8x16x32xf32>, tensor<1x4x16x32xf32>, tensor<1x4x16x32xf32>) -> tensor<1x8x16x32xf32>
    %d = lq.attention %q1, %kc, %vc position %pos {causal} : (tensor<1x8x1x32xf32>, tensor<1x4x256x32xf32>, tensor<1x4x256x32xf32>, tensor<i64>) -> tensor<1x8x1x32xf32>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$query, LQ_FloatTensor:$key, LQ_FloatTensor:$value,
                       Optional<RankedTensorOf<[AnyFloat, I1]>>:$mask,
                       Optional<0DTensorOf<[AnySignlessInteger, Index]>>:$position,
                       OptionalAttr<F32Attr>:$scale, UnitAttr:$causal);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` $mask^)? (`position` $position^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to Q·Kᵀ: the attribute, or 1/sqrt(head_dim).
    float getEffectiveScale();
  }];
}

//===----------------------------------------------------------------------===//
// KV cache: KIVI's float window of the most recent tokens
//===----------------------------------------------------------------------===//

def LQ_KVWindowAppendOp : LQ_Op<"kv_window_append", [Pure,
    AllTypesMatch<["window", "result"]>]> {
  let summary = "Write new K/V rows into a ring of the most recent tokens";
  let description = [{
    `window` `[B, H, R, D]` holds in float the rows of the last `R` cache
    positions, position `s` in slot `s mod R` (KIVI's residual window, Liu
    et al. 2024, arXiv:2402.02750, §3.2: the most recent tokens stay in full
    precision while older ones are read quantized). Row `t` of `rows`
    `[B, H, T, D]` is position `position + t` and goes to slot
    `(position + t) mod R`; when `T > R` several rows share a slot and the
    latest wins. Slots no row maps to keep their value. Because slots are
    absolute positions, a step that overwrites positions an earlier step
    wrote (a chunked prefill whose last chunk was padded) leaves the ring
    consistent.

    ```mlir
    %w1 = lq.kv_window_append %w0, %k, %pos : tensor<1x4x32x64xf32>, tensor<1x4x1x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$window, RankedTensorOf<[F32]>:$rows,
                       I64:$position);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $window `,` $rows `,` $position attr-dict `:` type($window) `,` type($rows)
  }];
  let hasVerifier = 1;
}

def LQ_KVWindowReadOp : LQ_Op<"kv_window_read", [Pure,
    AllTypesMatch<["cache", "result"]>]> {
  let summary = "A KV cache read with its most recent rows from the window";
  let description = [{
    The cache `[B, H, C, D]` (typically a dequantized view) with the
    positions `max(0, end - R) <= s < end` taken from the float ring
    `window` `[B, H, R, D]` (slot `s mod R`, see `lq.kv_window_append`):

        result[b, h, s, :] = window[b, h, s mod R, :]  if end - R <= s < end
                             cache[b, h, s, :]          otherwise

    `end` is the number of positions written so far (the cache position
    plus the step's rows). The CPU lowering fuses it with the dequantization
    into the quantized-cache attention kernel, which reads each position once
    from the codes or the window; no float copy of the cache exists.

    ```mlir
    %k = lq.kv_window_read %kdq, %w1, %end : tensor<1x4x256x64xf32>, tensor<1x4x32x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$cache, RankedTensorOf<[F32]>:$window,
                       I64:$end);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $cache `,` $window `,` $end attr-dict `:` type($cache) `,` type($window)
  }];
  let hasVerifier = 1;
}

def LQ_KVWindowGroupsOp : LQ_Op<"kv_window_groups", [Pure]> {
  let summary = "The float rows of the token groups an append completes (KIVI keys)";
  let description = [{
    KIVI (Liu et al. 2024, arXiv:2402.02750, §3.2-3.3) quantizes keys per
    channel with one scale per group of `group` = R consecutive positions,
    computed when the group is complete: a position stays in the float ring
    `window` `[B, H, W, D]` (position s in slot s mod W, see
    `lq.kv_window_append`) until its group is complete; then the whole
    group is quantized with one scale per (batch, head, channel):

        s[b, h, g, d] = max over gR <= u < (g+1)R of |K[b, h, u, d]| / qmax

    A step that appends T rows at `position` p (so `end` = p + T) completes
    every group whose last position (g+1)R - 1 lies in [p, end). This op
    reads, from the ring *after* that append, the K · R positions
    P0 = floor(p / R) · R ... P0 + K · R - 1 (K = result dim 2 / R;
    K = ceil(T / R) covers every group the step completes, and P0 + K · R
    stays within a capacity that is a multiple of R whenever end does):

        result[b, h, j, :] = window[b, h, (P0 + j) mod W, :]   if P0 + j < end
                             0                                  otherwise

    The ring must hold positions [P0, end): fewer than R + T, so a ring of
    W >= R + T - 1 slots appended with the step's rows does, even when an
    earlier step wrote padding rows past this step's p (their slots are
    the positions >= p, rewritten by this step). Groups ending at or after
    `end` are incomplete: their rows (zeros past `end`) are quantized too
    but never read (an incomplete group's positions lie in the last R
    positions, which attention reads from the ring), and a later step that
    completes them quantizes them again.

    ```mlir
    %g = lq.kv_window_groups %w, %pos, %end group 32 : tensor<1x4x32x64xf32> -> tensor<1x4x32x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$window, I64:$position, I64:$end,
                       ConfinedAttr<I64Attr, [IntPositive]>:$group);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $window `,` $position `,` $end `group` $group attr-dict `:` type($window)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def LQ_EmbeddingOp : LQ_Op<"embedding", [Pure]> {
  let summary = "Look up rows of an embedding table";
  let description = [{
    `result[..., :] = table[ids[...], :]` for a `[V, D]` table and integer ids
    of any shape; the result is `ids.shape + [D]`. Ids outside `[0, V)` are
    undefined behaviour at run time (the runtime checks them at its boundary).

    ```mlir
    %h = lq.embedding %table, %ids : (tensor<4096x256xf32>, tensor<1x8xi64>) -> tensor<1x8x256xf32>
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$table, LQ_IntTensor:$ids);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = "$table `,` $ids attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Rotations
//===----------------------------------------------------------------------===//

def LQ_HadamardOp : LQ_Op<"hadamard", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "Orthogonal Walsh-Hadamard transform along the last dimension";
  let description = [{
    Transforms each block of `block` consecutive values along the last
    dimension (the whole dimension when `block` is absent or 0; e.g.
    `block = 64` rotates each head of a `[..., heads * 64]` activation on its
    own) by the orthonormal Hadamard matrix of that size:

        y = (H_P ⊗ H_m) x / sqrt(B),   B = P * m,  P = 2^k

    where H_P is Sylvester's matrix in natural order,
    `H_P[a][a'] = (-1)^popcount(a & a')`, and H_m is the fixed base matrix of
    order m ∈ {1, 12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172} that
    `<lq_rt/hadamard.h>` defines (Paley and Williamson constructions; m is
    the smallest order with B / m a power of two, so 2^k * 40 uses 20). Every
    backend computes this same matrix, so rotations fused into weights
    offline (QuaRot, Ashkboos et al. 2024, arXiv:2404.00456; SpinQuant, Liu
    et al. 2025, arXiv:2405.16406) cancel the online transform exactly.

    The transform is orthogonal; its inverse, `(H_P ⊗ H_mᵀ) / sqrt(B)`, is
    the op itself for power-of-two sizes and is what passes fuse into the
    weights next to it. The CPU lowering calls lq_rt's O(B log B) fast
    transform (`lq_rt_hadamard_f32`).

    ```mlir
    %y = lq.hadamard %x : tensor<1x8x768xf32>               // 768 = 64 * 12
    %q = lq.hadamard %x {block = 64} : tensor<1x8x512xf32>  // per head of 64
    ```
  }];
  let arguments = (ins LQ_FloatTensor:$input,
                       DefaultValuedAttr<I64Attr, "0">:$block);
  let results = (outs LQ_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The transformed block size: `block`, or the last dimension when 0.
    int64_t getBlockSize();
  }];
}

#endif // LQ_OPS_TD
