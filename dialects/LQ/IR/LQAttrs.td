//===- LQAttrs.td - #lq.scheme and the format enum ---------*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_ATTRS_TD
#define LQ_ATTRS_TD

include "dialects/LQ/IR/LQBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/TensorEncoding.td"

// Values mirror `lq_format_t` in <lq_rt/formats.h>; LQAttrs.cpp checks that.
def LQ_Format : I32EnumAttr<"Format", "element format of a quantized tensor", [
    I32EnumAttrCase<"Int", 0, "int">,
    I32EnumAttrCase<"NF4", 1, "nf4">,
    I32EnumAttrCase<"FP8E4M3", 2, "fp8_e4m3">,
    I32EnumAttrCase<"FP8E5M2", 3, "fp8_e5m2">,
    I32EnumAttrCase<"MXFP4", 4, "mxfp4">,
    I32EnumAttrCase<"MXFP6E2M3", 5, "mxfp6_e2m3">,
    I32EnumAttrCase<"MXFP6E3M2", 6, "mxfp6_e3m2">,
    I32EnumAttrCase<"MXFP8E4M3", 7, "mxfp8_e4m3">,
    I32EnumAttrCase<"MXFP8E5M2", 8, "mxfp8_e5m2">,
    I32EnumAttrCase<"NVFP4", 9, "nvfp4">,
    I32EnumAttrCase<"BF16", 10, "bf16">]> {
  let cppNamespace = "::mlir::lq";
  let genSpecializedAttr = 0;
}

/// An optional list of sizes, written `[128, 128]`.
def LQ_BlockParameter : OptionalArrayRefParameter<"int64_t", "block size per dimension"> {
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::SmallVector<int64_t>> {
    ::llvm::SmallVector<int64_t> sizes;
    if ($_parser.parseCommaSeparatedList(::mlir::AsmParser::Delimiter::Square,
            [&] { return $_parser.parseInteger(sizes.emplace_back()); }))
      return ::mlir::failure();
    return sizes;
  }() }];
  let printer = [{
    $_printer << '[';
    ::llvm::interleaveComma($_self, $_printer);
    $_printer << ']';
  }];
}

def LQ_SchemeAttr : LQ_Attr<"Scheme", "scheme",
    [DeclareAttrInterfaceMethods<VerifiableTensorEncoding>]> {
  let summary = "How a tensor's elements are encoded and scaled";
  let description = [{
    The encoding of a quantized tensor. Its storage element type holds the
    codes; the scales (and zero points, and NVFP4's tensor scale) are SSA
    operands of `lq.quantize` / `lq.dequantize`.

    | field | meaning |
    |---|---|
    | `format` | `int`, `nf4`, `fp8_e4m3`, `fp8_e5m2`, `mxfp4`, `mxfp6_e2m3`, `mxfp6_e3m2`, `mxfp8_e4m3`, `mxfp8_e5m2`, `nvfp4`, `bf16` |
    | `bits` | code width; required for `int` (2..8), implied by every other format |
    | `axis` | per-channel: the axis with one scale per index; per-group: the axis cut into groups |
    | `group` | elements per group along `axis` (MX: 32, NVFP4: 16) |
    | `block` | 2-D (or N-D) blocks: block size per dimension; 0: the whole dimension (one scale along it, whatever its length) |
    | `symmetric` | `int` only: `false` adds a zero point, codes become unsigned |

    The granularity follows from the fields: `block` set: blockwise; `group`
    set: per group (and per index of every other axis, as ONNX's blocked
    `DequantizeLinear`); `axis` set alone: per channel; none: per tensor.
    Scales have the rank of the tensor and `dim_i / block_i` elements along
    each dimension (a per-tensor scale may also be rank 0).

    Storage types: `int` → `iN` (signed codes when symmetric, unsigned codes
    in the same bits otherwise); `nf4` → `i4` (index into the NF4 codebook);
    `fp8_*` / `mxfp8_*` → `f8E4M3FN` / `f8E5M2`; `mxfp6_*` → `f6E2M3FN` /
    `f6E3M2FN`; `mxfp4`, `nvfp4` → `f4E2M1FN`; `bf16` → `bf16`.

    `bf16` (bfloat16 weights, llama.cpp's BF16 type) is per tensor only (no
    `axis`, `group` or `block`): a code is the round-to-nearest-even bfloat16
    of x / scale (NaN stays NaN), and RTN writes one scale of 1.0, so the
    codes are the weights themselves. The scale operand is kept (any value
    dequantizes as code * scale) so that bf16 reads like every other format;
    the CPU kernel `lq_rt_linear_bf16` takes the scale-1 form.

    ```mlir
    #w4 = #lq.scheme<format = int, bits = 4, axis = 1, group = 128, symmetric = false>
    #mx = #lq.scheme<format = mxfp4, axis = 1, group = 32>
    #fp8 = #lq.scheme<format = fp8_e4m3, block = [128, 128]>
    #bf16 = #lq.scheme<format = bf16>
    ```
  }];
  let parameters = (ins
    EnumParameter<LQ_Format>:$format,
    DefaultValuedParameter<"unsigned", "0", "code width in bits (int only)">:$bits,
    DefaultValuedParameter<"int64_t", "-1", "channel or group axis">:$axis,
    DefaultValuedParameter<"int64_t", "0", "group size along `axis`">:$group,
    LQ_BlockParameter:$block,
    DefaultValuedParameter<"bool", "true", "symmetric (no zero point)">:$symmetric);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    enum class Granularity { Tensor, Channel, Group, Block };
    Granularity getGranularity() const;
    /// Width of one stored code: `bits` for int, the format's own otherwise.
    unsigned getCodeBits() const;
    /// The storage element type this scheme requires.
    ::mlir::Type getStorageType(::mlir::MLIRContext *ctx) const;
    /// The shape scales must have for a tensor of `shape` (dynamic dims stay
    /// dynamic). Fails on shapes the scheme does not fit.
    ::llvm::SmallVector<int64_t> getScaleShape(::llvm::ArrayRef<int64_t> shape) const;
    /// Elements of `shape` that share one scale, per dimension.
    ::llvm::SmallVector<int64_t> getBlockShape(::llvm::ArrayRef<int64_t> shape) const;
    /// Whether the scheme needs a zero-point operand.
    bool hasZeroPoint() const { return getFormat() == Format::Int && !getSymmetric(); }
    /// Whether the scheme needs a tensor-level f32 scale (NVFP4).
    bool hasGlobalScale() const { return getFormat() == Format::NVFP4; }
  }];
}

#endif // LQ_ATTRS_TD
