//===- QuantizeKVCache.cpp - A quantized KV cache --------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// For long contexts the KV cache, not the weights, fills memory: per token
// and layer it holds 2 · Hkv · D values. Storing them in 8 or 4 bits with a
// scale per (head, token[, group of channels]) cuts that 4-8x. Per-token
// scales are computed when a token is appended, so rows already stored never
// change and a cache can be filled in chunks of any size (KIVI, Liu et al.
// 2024, arXiv:2402.02750, §3; KVQuant, Hooper et al. 2024, arXiv:2401.18079):
//
//   s_t = max_d |x_t,d| / qmax        (qmax = 127 / 7 / 448 / 57344 / 6)
//   q_t,d = round(x_t,d / s_t)        x̂_t,d = q_t,d · s_t
//
// The rewrite, per key/value operand of `lq.attention`:
//
//   cache' = insert_slice(new, cache @ p)    codes' = insert_slice(quantize(new, s), codes @ p)
//   (or concat(past, new))             ->    scales' = insert_slice(s, scales @ p)
//   attention(q, cache', ...)                attention(q, dequantize(codes', scales'), ...)
//
// and operands computed in the same call are quantized and dequantized in
// place. The lowering to lq_rt fuses dequantize into the attention kernel.
//
// Static per-channel keys (scales=static key-granularity=per-channel): keys
// have outlier channels (a few channels large for every token), so one
// scale per token is set by the outliers and the other channels lose their
// bits; a scale per (head, channel) isolates them (KIVI §3; KVQuant §3.1
// calibrates these scales offline, which is what this does):
//
//   s_h,d = max over calibration tokens |K_h,d| / qmax    (lq.k_absmax)
//   q_t,h,d = sat(round(K_t,h,d / s_h,d))
//
// The scales are constants [1, H, 1, D], so the cache stores only codes.
// Their scheme is `block = [0, 1, 0, 1]`: a block size of 0 spans the whole
// dimension, so one scheme (one `#lq.scheme` type) describes the appended
// rows [B, H, T, D] and the cache [B, H, C, D] alike, both with scales
// [1, H, 1, D]; a `block = [B, 1, T, 1]` would differ between T and C, and
// `axis`/`group` give one scale axis only. Values outside the calibrated
// range saturate to +-qmax (int) or the largest finite code (FP8). Values
// stay per token and dynamic unless value-granularity=per-channel.
//
// Per head (key-granularity=per-head / value-granularity=per-head): one
// scale per (batch, head, token) over the whole head dimension, s_t,h =
// max_d |x_t,h,d| / qmax. That is exactly the per-token scheme with group =
// D (and what group=0 gives), so per-head sets the group of its side to D
// whatever `group` says; keys and values have schemes of their own, so
// `key-granularity=per-head group=16` gives keys one scale per head and
// values one per 16 channels.
//
// NVFP4 (format=nvfp4; NVIDIA, "NVFP4" 2025; E2M1 from OCP MX v1.0): FP4
// E2M1 codes (values 0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6) in blocks of 16
// channels, each with an FP8 E4M3 scale, times one f32 tensor scale g:
//
//   s_b = E4M3(amax_b / 6 / g)     q = E2M1(x / (s_b · g))     x̂ = q · s_b · g
//
// g is fixed at 1 for the cache. NVFP4's tensor scale normally is amax /
// (6 · 448) of the whole tensor, so that the block scales use E4M3's range;
// for a cache filled token by token the tensor's amax is not known when the
// first rows are written, and changing g later would rescale (re-encode)
// every stored block. With g = 1 the block scales cover block maxima in
// [6 · 2^-6, 6 · 448] = [0.094, 2688] as E4M3 normals (2^-3 relative
// step) and down to 6 · 2^-9 = 0.012 as subnormals; K and V of an LLM
// (projections of RMS-normed activations, RoPE'd keys) have row maxima of
// O(0.1..100), inside that range. Blocks beyond 2688 saturate; blocks
// below 0.012 round their scale to 0 and read back as 0 (an absolute error
// below 0.012). A calibrated static g (from --calibrate's absmax) would
// shift that window; it is not implemented because g = 1 already covers
// the models measured (bench/kv_cache.sh). Per token the cache stores D/2
// bytes of codes and D/16 bytes of scales: 4.5 bits per element.
//
// scale-type=f16 stores the dynamic per-token scales as f16 (2 bytes
// instead of 4; the scales s = amax / qmax are normal f16 numbers for
// amax in [qmax · 2^-14, qmax · 65504]); static scales become f16
// constants too, so keys and values have one scale type (the fused kernel
// takes one per call).
//
// residual=R keeps the R most recent positions in float as well (KIVI
// §3.2: the newest tokens, which attention weighs most, stay exact). With
// per-token or static scales every appended row is still quantized into the
// cache when it arrives: a row's codes depend only on that row (per-token
// scales) or on constants (static per-channel scales), so quantizing on
// append gives the codes KIVI writes when the row leaves the window. Beside
// the cache, a float ring [B, H, W, D] (one more argument/result,
// `<name>.window`, fed back like the cache) holds position s in slot
// s mod W, and attention reads
//
//   lq.kv_window_read(dequantize(codes, scales), ring', end = p + T)
//   ring' = lq.kv_window_append(ring, new rows, p)
//
// i.e. positions [end - W, end) from the ring and the rest dequantized; the
// CPU lowering fuses both into the quantized-cache attention kernel. Slots
// are absolute positions. A runtime-managed cache's step of T rows may be
// padded (lq_generate pads the last prompt chunk and every decode step of a
// T-token model; the next step overwrites the padding), so its ring has
// W = R + T - 1 slots: padding written past the real rows never evicts the
// last R real positions, and the real query at p reads positions
// [p - R + 1, p] in float as a one-token step would (W = R for T = 1, for
// graph-level caches and for keys/values computed in the same call, which
// read the last R of their S positions in float). The window costs
// W · D · 4 bytes per head and layer, whatever the context.
//
// KIVI's per-channel keys (key-granularity=per-channel scales=dynamic
// residual=R; Liu et al. 2024, arXiv:2402.02750, §3.2-3.3): keys have
// outlier channels, so a scale per channel beats a scale per token, and
// KIVI computes it at run time over groups of R tokens. A key stays in the
// float ring until its group is complete; then the whole group is quantized
// with one scale per (batch, head, group, channel):
//
//   s_b,h,g,d = max over gR <= u < (g+1)R |K_b,h,u,d| / qmax
//   q_b,h,u,d = round(K_b,h,u,d / s_b,h,g,d)          scheme block [1, 1, R, 1]
//
// Key codes [B, H, C, D] (C a multiple of R) and key scales
// [B, H, C / R, D] (f16 with scale-type=f16). A step of T rows at p
// completes the groups whose last position (g+1)R - 1 lies in [p, p + T);
// their rows are the step's and those of [gR, p), which lie in the ring
// (gR > p - R). So the step appends to the ring first, then
//
//   if floor(end/R) > floor(p/R):                    (the step completes a group)
//     groups  = lq.kv_window_groups(ring', p, end)   the ceil(T/R) groups from
//                                                    floor(p/R)·R, zeros past end
//     codes'  = insert_slice(quantize(groups, s), codes @ floor(p/R)·R)
//     scales' = insert_slice(s = compute_scales(groups), scales @ floor(p/R))
//   else codes' = codes, scales' = scales            (scf.if)
//
// The last written group may be incomplete: its codes (of rows past `end`
// set to 0) are never read, because attention reads positions >= end - W
// from the ring and end - W <= floor(end/R)·R; the step that completes it
// quantizes it again. A group completed by padding rows is likewise
// quantized again by the next step, which rewrites those positions: with
// W = R + T - 1 slots the ring still holds the group's real rows before p
// (the previous step wrote up to p + T - 2, which evicts only positions
// below p - R from a ring of R + T - 1 slots), so every group's final
// codes come from real rows (test: an 8-token-chunk model decodes like the
// one-token model). Values keep their own granularity (per token by
// default; per-channel values stay static). A graph-level cache needs past
// and step lengths that are multiples of R (the step's groups are then its
// own rows); keys computed in the same call quantize their floor(S/R)
// complete groups and keep the rest float. On the CPU the quantized-cache
// attention kernel reads key scales [b, h, t/R, d] beside the codes (no
// float copy of the cache).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

namespace mlir::lq {
#define GEN_PASS_DEF_QUANTIZEKVCACHEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// A cache argument and the op that appends the step's rows to it.
struct Cache {
  BlockArgument arg;
  Operation *update; // tensor.insert_slice (dest = arg) or tensor.concat
  Value rows;        // the new rows [B, H, T, D]
  mlir::lq::AttentionOp attn = nullptr; // the first reader (its calibration)
  unsigned which = 0;                   // 0: keys, 1: values
  BlockArgument window; // residual > 0: the float ring [B, H, R, D]
  Value windowOut;      // its updated value
};

struct QuantizeKVCachePass
    : lq::impl::QuantizeKVCachePassBase<QuantizeKVCachePass> {
  using Base::Base;

  lq::SchemeAttr scheme[2];    // keys, values: per token, dynamic
  lq::SchemeAttr staticScheme; // per (head, channel), static
  lq::SchemeAttr kiviScheme;   // keys per channel, a scale per R tokens
  bool packed = false; // int4, nvfp4: two codes per byte at the boundary
  lq::Format fmt = lq::Format::Int;
  unsigned bits = 0;
  float qmax = 0;
  bool staticKeys = false, staticValues = false;
  bool kiviKeys = false; // per-channel keys with dynamic scales (KIVI)
  bool perHead[2] = {false, false}; // one scale per (token, head)
  Type scaleElt;                    // f32, f16, or E4M3 (nvfp4)

  /// Reads format, scales and granularities, or fails with an error at `at`.
  LogicalResult parseOptions(Operation *at) {
    if (format == "int8")
      fmt = lq::Format::Int, bits = 8, qmax = 127;
    else if (format == "int4")
      fmt = lq::Format::Int, bits = 4, qmax = 7;
    else if (format == "fp8-e4m3")
      fmt = lq::Format::FP8E4M3, qmax = 448;
    else if (format == "fp8-e5m2")
      fmt = lq::Format::FP8E5M2, qmax = 57344;
    else if (format == "nvfp4")
      fmt = lq::Format::NVFP4, qmax = 6;
    else
      return at->emitError()
             << "quantize-kv-cache: unknown format '" << format
             << "' (expected int8, int4, fp8-e4m3, fp8-e5m2 or nvfp4)";
    const bool nvfp4 = fmt == lq::Format::NVFP4;
    packed = bits == 4 || nvfp4;
    if (residual < 0)
      return at->emitError()
             << "quantize-kv-cache: residual=" << int64_t(residual)
             << " must be >= 0 (the number of recent tokens kept in float)";
    if (scaleType != "f32" && scaleType != "f16")
      return at->emitError() << "quantize-kv-cache: unknown scale-type '"
                             << scaleType << "' (expected f32 or f16)";
    if (nvfp4 && scaleType != "f32")
      return at->emitError()
             << "quantize-kv-cache: format=nvfp4 stores its block scales as "
                "E4M3; scale-type=" << scaleType << " does not apply";
    scaleElt = nvfp4 ? Type(Float8E4M3FNType::get(&getContext()))
               : scaleType == "f16" ? Type(Float16Type::get(&getContext()))
                                    : Type(Float32Type::get(&getContext()));
    if (nvfp4 && group != 0 && group != 16)
      return at->emitError()
             << "quantize-kv-cache: format=nvfp4 has blocks of 16 channels; "
                "got group="
             << int64_t(group);
    if (scales != "dynamic" && scales != "static")
      return at->emitError() << "quantize-kv-cache: unknown scales '" << scales
                             << "' (expected dynamic or static)";
    if (nvfp4 && scales != "dynamic")
      return at->emitError() << "quantize-kv-cache: format=nvfp4 computes its "
                                "block scales on append; give scales=dynamic";
    bool perChannel[2];
    StringRef granularity[2] = {keyGranularity, valueGranularity};
    for (int i = 0; i < 2; ++i) {
      StringRef g = granularity[i];
      StringRef what = i == 0 ? "key-granularity" : "value-granularity";
      if (g != "per-token" && g != "per-channel" && g != "per-head")
        return at->emitError()
               << "quantize-kv-cache: unknown " << what << " '" << g
               << "' (expected per-token, per-head or per-channel)";
      perHead[i] = g == "per-head";
      if (perHead[i] && nvfp4)
        return at->emitError()
               << "quantize-kv-cache: " << what
               << "=per-head: format=nvfp4 has a scale per 16 channels";
      perChannel[i] = g == "per-channel";
      if (perChannel[i] && scales != "static" && i == 1)
        return at->emitError()
               << "quantize-kv-cache: value-granularity=per-channel needs "
                  "scales=static (per-channel value scales come from "
                  "--calibrate; KIVI's dynamic per-channel scales are for "
                  "keys: key-granularity=per-channel)";
    }
    kiviKeys = perChannel[0] && scales == "dynamic";
    if (kiviKeys && nvfp4)
      return at->emitError() << "quantize-kv-cache: key-granularity=per-channel: "
                                "format=nvfp4 has a scale per 16 channels";
    if (kiviKeys && residual <= 0)
      return at->emitError()
             << "quantize-kv-cache: key-granularity=per-channel scales=dynamic "
                "(KIVI) quantizes keys in groups of R tokens held in float "
                "until complete; give residual=R > 0 (got residual="
             << int64_t(residual) << ")";
    if (kiviKeys)
      kiviScheme = lq::SchemeAttr::get(
          &getContext(), fmt, bits, /*axis=*/-1, /*group=*/0,
          /*block=*/{1, 1, int64_t(residual), 1}, /*symmetric=*/true);
    if (scales == "static" && !perChannel[0])
      return at->emitError() << "quantize-kv-cache: scales=static quantizes "
                                "keys per channel; give "
                                "key-granularity=per-channel";
    staticKeys = perChannel[0] && !kiviKeys;
    staticValues = perChannel[1];
    if (staticKeys || staticValues)
      staticScheme = lq::SchemeAttr::get(
          &getContext(), fmt, bits, /*axis=*/-1, /*group=*/0,
          /*block=*/{0, 1, 0, 1}, /*symmetric=*/true);
    return success();
  }

  /// The per-token scheme of the keys (which = 0) or values (1) for rows
  /// of head dimension D, or an error. Per-head is per token with the whole
  /// head dimension as the group: s_t,h = max_d |x_t,h,d| / qmax, exactly
  /// what group=0 (or group=D) gives.
  LogicalResult makeScheme(Operation *at, int64_t D, unsigned which) {
    MLIRContext *ctx = &getContext();
    const bool nvfp4 = fmt == lq::Format::NVFP4;
    int64_t g = perHead[which] ? D
                : group == 0   ? (nvfp4 ? 16 : D)
                               : int64_t(group);
    if (nvfp4 && D % g != 0)
      return at->emitError() << "quantize-kv-cache: format=nvfp4 has blocks "
                                "of 16 channels, which do not divide the "
                                "head dimension "
                             << D;
    if (g <= 0 || D % g != 0)
      return at->emitError() << "quantize-kv-cache: 'group' (" << g
                             << ") must divide the head dimension " << D;
    if (packed && g % 2 != 0)
      return at->emitError() << "quantize-kv-cache: int4 needs an even group";
    lq::SchemeAttr s = lq::SchemeAttr::get(ctx, fmt, bits, /*axis=*/3, g,
                                           /*block=*/{}, /*symmetric=*/true);
    if (scheme[which] && scheme[which] != s)
      return at->emitError() << "quantize-kv-cache: "
                             << (which == 0 ? "keys" : "values")
                             << " of different head dimensions need different "
                                "groups; give 'group' explicitly";
    scheme[which] = s;
    return success();
  }

  /// NVFP4's tensor scale: a constant 1 (see the file header).
  Value globalScale(OpBuilder &b, Location loc) {
    if (fmt != lq::Format::NVFP4)
      return Value();
    auto ty = RankedTensorType::get({}, b.getF32Type());
    return arith::ConstantOp::create(
               b, loc, DenseElementsAttr::get(ty, ArrayRef<float>{1.0f}))
        .getResult();
  }

  /// The static scales [1, H, 1, D] of the keys (which = 0) or values (1)
  /// of `attn` from its calibration attribute [H, D], or an error.
  FailureOr<Value> staticScales(OpBuilder &b, lq::AttentionOp attn,
                                unsigned which, RankedTensorType floatTy) {
    StringRef name = which == 0 ? "lq.k_absmax" : "lq.v_absmax";
    int64_t H = floatTy.getDimSize(1), D = floatTy.getDimSize(3);
    auto absmax = attn->getAttrOfType<DenseElementsAttr>(name);
    auto ty = absmax ? dyn_cast<RankedTensorType>(absmax.getType()) : nullptr;
    if (!ty || !ty.getElementType().isF32() || ty.getRank() != 2 ||
        ty.getDimSize(0) != H || ty.getDimSize(1) != D) {
      InFlightDiagnostic d = attn.emitError()
                             << "quantize-kv-cache: scales=static needs the "
                                "per-channel calibration '"
                             << name << "' of shape [" << H << ", " << D
                             << "] on this attention; ";
      if (absmax)
        d << "got " << absmax.getType() << " (";
      d << "run --calibrate first";
      if (absmax)
        d << ")";
      return failure();
    }
    SmallVector<float> s(absmax.getValues<float>());
    float fallback = 0;
    for (float a : s)
      fallback = std::max(fallback, a);
    fallback = fallback > 0 ? fallback / qmax : 1.0f;
    // A channel never seen nonzero takes the tensor's range.
    for (float &a : s)
      a = a > 0 && std::isfinite(a) ? a / qmax : fallback;
    if (scaleElt.isF16()) {
      // scale-type=f16: the constants too (one scale type for K and V, so
      // the fused kernel takes them; each rounds to the nearest f16).
      SmallVector<APFloat> h;
      for (float a : s) {
        APFloat x(a);
        bool lost;
        x.convert(APFloat::IEEEhalf(), APFloat::rmNearestTiesToEven, &lost);
        h.push_back(x);
      }
      auto hTy = RankedTensorType::get({1, H, 1, D}, b.getF16Type());
      return arith::ConstantOp::create(b, attn.getLoc(),
                                       DenseElementsAttr::get(hTy, h))
          .getResult();
    }
    auto sTy = RankedTensorType::get({1, H, 1, D}, b.getF32Type());
    return arith::ConstantOp::create(
               b, attn.getLoc(), DenseElementsAttr::get(sTy, ArrayRef<float>(s)))
        .getResult();
  }

  RankedTensorType codesType(RankedTensorType floatTy, lq::SchemeAttr sch) {
    return RankedTensorType::get(floatTy.getShape(),
                                 sch.getStorageType(&getContext()), sch);
  }
  RankedTensorType scalesType(RankedTensorType floatTy, lq::SchemeAttr sch) {
    if (sch == kiviScheme) // [B, H, S / R, D]
      return RankedTensorType::get(sch.getScaleShape(floatTy.getShape()),
                                   scaleElt);
    SmallVector<int64_t> shape(floatTy.getShape());
    shape[3] /= sch.getGroup();
    return RankedTensorType::get(shape, scaleElt);
  }
  /// What the function boundary stores: the codes, packed for int4.
  RankedTensorType storedType(RankedTensorType floatTy, lq::SchemeAttr sch) {
    if (!packed)
      return codesType(floatTy, sch);
    SmallVector<int64_t> shape(floatTy.getShape());
    shape[3] /= 2;
    return RankedTensorType::get(shape, IntegerType::get(&getContext(), 8));
  }

  /// (stored codes, scales) of `rows`: with `fixed` (static [1, H, 1, D]
  /// scales) in the per-channel scheme, else with per-token scales computed
  /// here.
  std::pair<Value, Value> encode(OpBuilder &b, Location loc, Value rows,
                                 unsigned which, Value fixed = Value(),
                                 lq::SchemeAttr dynamicScheme = {}) {
    auto ty = cast<RankedTensorType>(rows.getType());
    lq::SchemeAttr sch = fixed           ? staticScheme
                         : dynamicScheme ? dynamicScheme
                                         : scheme[which];
    Value g = fixed ? Value() : globalScale(b, loc);
    Value s = fixed ? fixed
                    : lq::ComputeScalesOp::create(b, loc, scalesType(ty, sch),
                                                  rows, g, sch)
                          .getResult();
    Value q = lq::QuantizeOp::create(b, loc, codesType(ty, sch), rows, s,
                                     /*zero_point=*/Value(), g);
    if (packed)
      q = lq::PackCodesOp::create(b, loc, storedType(ty, sch), q);
    return {q, s};
  }

  /// The float values of stored codes and their scales (of scheme `sch`).
  Value decode(OpBuilder &b, Location loc, Value stored, Value scales,
               RankedTensorType floatTy, lq::SchemeAttr sch) {
    if (packed)
      stored = lq::UnpackCodesOp::create(b, loc, codesType(floatTy, sch), stored);
    return lq::DequantizeOp::create(b, loc, floatTy, stored, scales,
                                    /*zero_point=*/Value(),
                                    sch == staticScheme ? Value()
                                                        : globalScale(b, loc));
  }

  /// The float ring of the last `slots` positions (default `residual`)
  /// for rows like `ty`.
  RankedTensorType windowType(RankedTensorType ty, int64_t slots = 0) {
    return RankedTensorType::get(
        {ty.getDimSize(0), ty.getDimSize(1), slots ? slots : int64_t(residual),
         ty.getDimSize(3)},
        Float32Type::get(&getContext()));
  }

  /// An i64 constant.
  static Value i64Const(OpBuilder &b, Location loc, int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
  }

  /// The cache position the update writes its first row to, as an i64.
  Value appendPosition(OpBuilder &b, Operation *update) {
    Location loc = update->getLoc();
    if (auto cat = dyn_cast<tensor::ConcatOp>(update))
      return i64Const(b, loc,
                      cast<RankedTensorType>(cat.getInputs()[0].getType())
                          .getDimSize(2));
    auto ins = cast<tensor::InsertSliceOp>(update);
    Value off = getValueOrCreateConstantIndexOp(b, loc, ins.getMixedOffsets()[2]);
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), off);
  }

  /// `view` with the positions [end - R, end) read from the ring `window`
  /// after `rows` (at `position`) were appended to it; returns the view and
  /// the updated ring.
  std::pair<Value, Value> overlayWindow(OpBuilder &b, Location loc, Value view,
                                        Value window, Value rows,
                                        Value position) {
    Value updated = lq::KVWindowAppendOp::create(b, loc, window.getType(),
                                                 window, rows, position);
    int64_t T = cast<RankedTensorType>(rows.getType()).getDimSize(2);
    Value end = arith::AddIOp::create(b, loc, position, i64Const(b, loc, T));
    Value read = lq::KVWindowReadOp::create(b, loc, view.getType(), view,
                                            updated, end);
    return {read, updated};
  }

  /// The same append on new operands: insert_slice at the same offsets
  /// (sizes along the last dimension follow the operand), or concat.
  Value append(OpBuilder &b, Operation *update, Value rows, Value dest) {
    if (auto cat = dyn_cast<tensor::ConcatOp>(update)) {
      // The inferred type would drop the codes' #lq.scheme encoding.
      auto destTy = cast<RankedTensorType>(dest.getType());
      SmallVector<int64_t> shape(destTy.getShape());
      shape[cat.getDim()] +=
          cast<RankedTensorType>(rows.getType()).getDimSize(cat.getDim());
      return tensor::ConcatOp::create(
          b, cat.getLoc(),
          RankedTensorType::get(shape, destTy.getElementType(),
                                destTy.getEncoding()),
          cat.getDim(), ValueRange{dest, rows});
    }
    auto ins = cast<tensor::InsertSliceOp>(update);
    SmallVector<OpFoldResult> sizes = ins.getMixedSizes();
    sizes[3] = b.getIndexAttr(cast<RankedTensorType>(rows.getType()).getDimSize(3));
    return tensor::InsertSliceOp::create(b, ins.getLoc(), rows, dest,
                                         ins.getMixedOffsets(), sizes,
                                         ins.getMixedStrides());
  }

  /// Inserts the float ring of cache `c` as argument `at`, named
  /// `<cache name>.window` (zero for a fresh cache, fed back like it).
  LogicalResult addWindowArgument(func::FuncOp f, Cache &c, unsigned at,
                                  RankedTensorType floatTy, int64_t slots = 0) {
    MLIRContext *ctx = &getContext();
    unsigned argNo = c.arg.getArgNumber();
    NamedAttrList attrs;
    auto name = f.getArgAttrOfType<StringAttr>(argNo, "onnx.name");
    attrs.set("onnx.name",
              StringAttr::get(ctx, (name ? name.getValue().str()
                                         : "arg" + std::to_string(argNo)) +
                                       ".window"));
    if (failed(f.insertArgument(at, windowType(floatTy, slots),
                                attrs.getDictionary(ctx), c.arg.getLoc())))
      return f.emitError() << "quantize-kv-cache: cannot add a window argument";
    c.window = f.getArgument(at);
    return success();
  }

  /// KIVI keys computed in this call [B, H, S, D]: the floor(S / R)
  /// complete groups quantized with a scale per (batch, head, group,
  /// channel) and dequantized in place; the incomplete last group stays
  /// float (the caller reads the last R positions from the window anyway).
  Value kiviInPlace(OpBuilder &b, Location loc, Value x) {
    auto ty = cast<RankedTensorType>(x.getType());
    const int64_t R = residual, n = ty.getDimSize(2) / R;
    if (n == 0)
      return x;
    SmallVector<int64_t> shape(ty.getShape());
    shape[2] = n * R;
    auto prefixTy = RankedTensorType::get(shape, ty.getElementType());
    SmallVector<OpFoldResult> zeros(4, b.getIndexAttr(0)),
        ones(4, b.getIndexAttr(1)), sizes;
    for (int64_t d : shape)
      sizes.push_back(b.getIndexAttr(d));
    Value prefix = tensor::ExtractSliceOp::create(b, loc, prefixTy, x, zeros,
                                                  sizes, ones);
    auto [q, s] = encode(b, loc, prefix, 0, Value(), kiviScheme);
    Value dq = decode(b, loc, q, s, prefixTy, kiviScheme);
    return tensor::InsertSliceOp::create(b, loc, dq, x, zeros, sizes, ones);
  }

  /// KIVI keys store a scale per group of R positions: the capacity of a
  /// runtime-managed cache, and the past and step lengths of a graph-level
  /// one (whose step then completes exactly its own groups), must be
  /// multiples of R.
  LogicalResult checkKiviCache(const Cache &c) {
    const int64_t R = residual;
    if (auto cat = dyn_cast<tensor::ConcatOp>(c.update)) {
      int64_t P = cast<RankedTensorType>(cat.getInputs()[0].getType()).getDimSize(2);
      int64_t T = cast<RankedTensorType>(c.rows.getType()).getDimSize(2);
      if (P % R != 0 || T % R != 0)
        return c.update->emitError()
               << "quantize-kv-cache: key-granularity=per-channel "
                  "scales=dynamic stores a key scale per group of residual="
               << R << " positions; a graph-level cache needs past (" << P
               << ") and new (" << T
               << ") lengths that are multiples of it (or a runtime-managed "
                  "cache, --kv-cache)";
      return success();
    }
    int64_t C = cast<RankedTensorType>(c.arg.getType()).getDimSize(2);
    if (C % R != 0)
      return c.update->emitError()
             << "quantize-kv-cache: key-granularity=per-channel scales=dynamic "
                "stores a key scale per group of residual="
             << R << " positions; the cache capacity " << C
             << " must be a multiple of it";
    return success();
  }

  /// Slots of the float ring of a cache appended T rows at a run-time
  /// position: R + T - 1. A step of T rows may be padded (lq_generate runs
  /// the last prompt chunk and every decode step of a T-token model with
  /// padding rows past the real ones, which the next step overwrites); with
  /// R + T - 1 slots the ring still holds every position from p - R + 1
  /// on, so the real query at p reads its last R positions in float as a
  /// one-token step would, and KIVI's groups find the rows that precede p
  /// (see lq.kv_window_groups). A graph-level cache (no padding, KIVI
  /// groups made of the step's own rows) keeps R.
  int64_t windowSlots(const Cache &c) {
    if (isa<tensor::ConcatOp>(c.update))
      return residual;
    return residual + cast<RankedTensorType>(c.rows.getType()).getDimSize(2) - 1;
  }

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (f.isExternal())
      return;
    MLIRContext *ctx = &getContext();
    Block &entry = f.front();
    auto ret = dyn_cast<func::ReturnOp>(entry.getTerminator());
    if (!ret || !f.getBody().hasOneBlock()) {
      f.emitError() << "quantize-kv-cache: expects a single-block function";
      return signalPassFailure();
    }

    scheme[0] = scheme[1] = lq::SchemeAttr(); // per function
    if (failed(parseOptions(f)))
      return signalPassFailure();

    // 1. Classify every key/value operand: a cache update, or computed here.
    SmallVector<Cache> caches;
    SmallVector<OpOperand *> computed;
    DenseSet<Operation *> seen;
    bool failedAny = false;
    f.walk([&](lq::AttentionOp attn) {
      for (OpOperand *o : {&attn.getKeyMutable(), &attn.getValueMutable()}) {
        unsigned which = o == &attn.getKeyMutable() ? 0 : 1;
        auto ty = cast<RankedTensorType>(o->get().getType());
        if (ty.getRank() != 4 || !ty.hasStaticShape() ||
            !ty.getElementType().isF32()) {
          attn.emitError() << "quantize-kv-cache: keys and values must be "
                              "static f32 [B, H, S, D] tensors, got "
                           << ty;
          failedAny = true;
          return;
        }
        bool isStatic = which == 0 ? staticKeys : staticValues;
        bool isKivi = which == 0 && kiviKeys;
        if (!isStatic && !isKivi &&
            failed(makeScheme(attn, ty.getDimSize(3), which))) {
          failedAny = true;
          return;
        }
        if ((isStatic || isKivi) && packed && ty.getDimSize(3) % 2 != 0) {
          attn.emitError() << "quantize-kv-cache: int4 needs an even head "
                              "dimension, got "
                           << ty.getDimSize(3);
          failedAny = true;
          return;
        }
        if (isStatic) {
          // Checked here, so the rewrite below cannot fail half-way.
          OpBuilder probe(ctx);
          FailureOr<Value> s = staticScales(probe, attn, which, ty);
          if (failed(s)) {
            failedAny = true;
            return;
          }
          s->getDefiningOp()->erase();
        }
        Operation *def = o->get().getDefiningOp();
        Cache c{};
        if (auto ins = dyn_cast_or_null<tensor::InsertSliceOp>(def)) {
          auto arg = dyn_cast<BlockArgument>(ins.getDest());
          if (arg && arg.getOwner() == &entry && ins.getSourceType().getRank() == 4)
            c = {arg, ins, ins.getSource(), attn, which};
        } else if (auto cat = dyn_cast_or_null<tensor::ConcatOp>(def)) {
          auto arg = dyn_cast<BlockArgument>(cat.getInputs()[0]);
          if (arg && arg.getOwner() == &entry && cat.getDim() == 2 &&
              cat.getInputs().size() == 2)
            c = {arg, cat, cat.getInputs()[1], attn, which};
        }
        if (!c.update) {
          computed.push_back(o);
          continue;
        }
        if (!seen.insert(c.update).second)
          continue;
        if (isKivi && failed(checkKiviCache(c))) {
          failedAny = true;
          return;
        }
        if (!c.arg.hasOneUse()) {
          c.update->emitError() << "quantize-kv-cache: the cache argument has "
                                   "other users than its append";
          failedAny = true;
          return;
        }
        for (Operation *user : c.update->getResult(0).getUsers())
          if (!isa<lq::AttentionOp, func::ReturnOp>(user) ||
              (isa<lq::AttentionOp>(user) &&
               cast<lq::AttentionOp>(user).getQuery() == c.update->getResult(0))) {
            user->emitError() << "quantize-kv-cache: a cache is read by '"
                              << user->getName()
                              << "'; only lq.attention (as key/value) and the "
                                 "return can read a quantized cache";
            failedAny = true;
            return;
          }
        caches.push_back(c);
      }
    });
    if (failedAny)
      return signalPassFailure();
    if (caches.empty() && computed.empty())
      return; // no attention: nothing to do

    // 2. Keys/values computed in this call: quantized and dequantized in
    // place (what a cache of this format would hand attention).
    for (OpOperand *o : computed) {
      OpBuilder b(o->getOwner());
      auto attn = cast<lq::AttentionOp>(o->getOwner());
      unsigned which = o == &attn.getKeyMutable() ? 0 : 1;
      auto ty = cast<RankedTensorType>(o->get().getType());
      Value fixed;
      if (which == 0 ? staticKeys : staticValues)
        fixed = *staticScales(b, attn, which, ty);
      Location loc = o->getOwner()->getLoc();
      Value x = o->get();
      Value view;
      if (which == 0 && kiviKeys) {
        view = kiviInPlace(b, loc, x);
      } else {
        auto [q, s] = encode(b, loc, x, which, fixed);
        view = decode(b, loc, q, s, ty, fixed ? staticScheme : scheme[which]);
      }
      if (residual > 0) {
        // The last R of the S positions in float: a ring filled from
        // position 0 with all S rows holds exactly those.
        Value zeros = arith::ConstantOp::create(
            b, loc, DenseElementsAttr::get(windowType(ty), 0.0f));
        view = overlayWindow(b, loc, view, zeros, x, i64Const(b, loc, 0)).first;
      }
      o->set(view);
      ++numFakeQuantized;
    }

    // 3. Caches: codes + scales arguments and results.
    // Results that return an updated cache: its codes, scales (dynamic
    // scales only) and window (residual > 0 only).
    struct Stored {
      Value codes, scales, window;
    };
    DenseMap<Value, Stored> updated;
    // Attention reads `view` (through the window when residual > 0, whose
    // ring becomes argument `windowAt`); the return gets codes and scales.
    auto replaceCache = [&](Cache &c, OpBuilder &b, Value codes, Value scales,
                            Value view, unsigned windowAt) -> LogicalResult {
      if (residual > 0) {
        auto floatTy = cast<RankedTensorType>(c.update->getResult(0).getType());
        if (failed(addWindowArgument(f, c, windowAt, floatTy, windowSlots(c))))
          return failure();
        auto [read, ring] =
            overlayWindow(b, c.update->getLoc(), view, c.window, c.rows,
                          appendPosition(b, c.update));
        view = read;
        c.windowOut = ring;
      }
      Value old = c.update->getResult(0);
      old.replaceUsesWithIf(view, [&](OpOperand &use) {
        return !isa<func::ReturnOp>(use.getOwner());
      });
      updated[old] = {codes, scales, c.windowOut};
      ++numCaches;
      return success();
    };
    // The `<name>.scales` argument right after cache `c`.
    auto addScalesArgument = [&](Cache &c,
                                 RankedTensorType ty) -> FailureOr<BlockArgument> {
      unsigned argNo = c.arg.getArgNumber();
      NamedAttrList attrs;
      auto name = f.getArgAttrOfType<StringAttr>(argNo, "onnx.name");
      attrs.set("onnx.name",
                StringAttr::get(ctx, (name ? name.getValue().str()
                                           : "arg" + std::to_string(argNo)) +
                                         ".scales"));
      if (failed(f.insertArgument(argNo + 1, ty, attrs.getDictionary(ctx),
                                  c.arg.getLoc()))) {
        f.emitError() << "quantize-kv-cache: cannot add a scales argument";
        return failure();
      }
      return f.getArgument(argNo + 1);
    };
    // KIVI keys: the step's rows go to a float ring of R + T - 1 slots; the
    // groups the step completes are read back from it (lq.kv_window_groups),
    // quantized with a scale per (batch, head, group, channel) and written
    // over their positions; attention reads the last R + T - 1 positions
    // from the ring, the rest (complete groups only) dequantized.
    auto kiviCache = [&](Cache &c) -> LogicalResult {
      auto floatArgTy = cast<RankedTensorType>(c.arg.getType());
      auto outTy = cast<RankedTensorType>(c.update->getResult(0).getType());
      auto rowsTy = cast<RankedTensorType>(c.rows.getType());
      unsigned argNo = c.arg.getArgNumber();
      FailureOr<BlockArgument> scalesArg =
          addScalesArgument(c, scalesType(floatArgTy, kiviScheme));
      if (failed(scalesArg))
        return failure();
      c.arg.setType(storedType(floatArgTy, kiviScheme));
      if (failed(addWindowArgument(f, c, argNo + 2, outTy, windowSlots(c))))
        return failure();
      OpBuilder b(c.update);
      Location loc = c.update->getLoc();
      const int64_t R = residual, T = rowsTy.getDimSize(2);
      Value p = appendPosition(b, c.update);
      Value ring = lq::KVWindowAppendOp::create(b, loc, c.window.getType(),
                                                c.window, c.rows, p);
      Value end = arith::AddIOp::create(b, loc, p, i64Const(b, loc, T));
      Value codes, scales;
      if (isa<tensor::ConcatOp>(c.update)) {
        // R divides the past and the step: the step's groups are its rows.
        auto [q, s] = encode(b, loc, c.rows, 0, Value(), kiviScheme);
        codes = append(b, c.update, q, c.arg);
        scales = append(b, c.update, s, *scalesArg);
      } else {
        // Only a step that completes a group (a multiple of R in
        // (p, end]: floor(end / R) > floor(p / R)) quantizes; the others
        // leave codes and scales as they are. Quantizing every step (the
        // incomplete group too, never read) cost a decode step of
        // pd-llama-6m ~60 us, in scalar generated loops.
        const int64_t K = (T + R - 1) / R;
        Value i64R = i64Const(b, loc, R);
        Value completes = arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::sgt,
            arith::DivSIOp::create(b, loc, end, i64R),
            arith::DivSIOp::create(b, loc, p, i64R));
        auto ifOp = scf::IfOp::create(
            b, loc, TypeRange{c.arg.getType(), scalesArg->getType()},
            completes, /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          SmallVector<int64_t> shape(rowsTy.getShape());
          shape[2] = K * R;
          auto groupsTy = RankedTensorType::get(shape, b.getF32Type());
          Value groups = lq::KVWindowGroupsOp::create(
              b, loc, groupsTy, ring, p, end, b.getI64IntegerAttr(R));
          auto [q, s] = encode(b, loc, groups, 0, Value(), kiviScheme);
          Value cR = arith::ConstantIndexOp::create(b, loc, R);
          Value g0 = arith::DivSIOp::create(
              b, loc,
              arith::IndexCastOp::create(b, loc, b.getIndexType(), p), cR);
          Value first = arith::MulIOp::create(b, loc, g0, cR);
          auto at = [&](Value x, Value dest, Value row) {
            auto xTy = cast<RankedTensorType>(x.getType());
            SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0),
                                                 b.getIndexAttr(0), row,
                                                 b.getIndexAttr(0)},
                                      sizes, ones(4, b.getIndexAttr(1));
            for (int64_t d : xTy.getShape())
              sizes.push_back(b.getIndexAttr(d));
            return tensor::InsertSliceOp::create(b, loc, x, dest, offsets,
                                                 sizes, ones)
                .getResult();
          };
          scf::YieldOp::create(
              b, loc, ValueRange{at(q, c.arg, first), at(s, *scalesArg, g0)});
          b.setInsertionPointToStart(ifOp.elseBlock());
          scf::YieldOp::create(b, loc, ValueRange{c.arg, *scalesArg});
        }
        codes = ifOp.getResult(0);
        scales = ifOp.getResult(1);
      }
      Value view = decode(b, loc, codes, scales, outTy, kiviScheme);
      Value read =
          lq::KVWindowReadOp::create(b, loc, view.getType(), view, ring, end);
      c.windowOut = ring;
      Value old = c.update->getResult(0);
      old.replaceUsesWithIf(read, [&](OpOperand &use) {
        return !isa<func::ReturnOp>(use.getOwner());
      });
      updated[old] = {codes, scales, ring};
      ++numCaches;
      return success();
    };
    for (Cache &c : caches) {
      auto floatArgTy = cast<RankedTensorType>(c.arg.getType());
      auto outTy = cast<RankedTensorType>(c.update->getResult(0).getType());
      unsigned argNo = c.arg.getArgNumber();
      if (c.which == 0 && kiviKeys) {
        if (failed(kiviCache(c)))
          return signalPassFailure();
        continue;
      }
      if (c.which == 0 ? staticKeys : staticValues) {
        // Static scales: the cache holds codes only.
        c.arg.setType(storedType(floatArgTy, staticScheme));
        OpBuilder b(c.update);
        Location loc = c.update->getLoc();
        Value fixed = *staticScales(b, c.attn, c.which,
                                    cast<RankedTensorType>(c.rows.getType()));
        auto [q, s] = encode(b, loc, c.rows, c.which, fixed);
        Value codes = append(b, c.update, q, c.arg);
        Value view = decode(b, loc, codes, fixed, outTy, staticScheme);
        if (failed(replaceCache(c, b, codes, Value(), view, argNo + 1)))
          return signalPassFailure();
        continue;
      }
      lq::SchemeAttr sch = scheme[c.which];
      FailureOr<BlockArgument> scalesOr =
          addScalesArgument(c, scalesType(floatArgTy, sch));
      if (failed(scalesOr))
        return signalPassFailure();
      BlockArgument scalesArg = *scalesOr;
      c.arg.setType(storedType(floatArgTy, sch));

      OpBuilder b(c.update);
      Location loc = c.update->getLoc();
      auto [q, s] = encode(b, loc, c.rows, c.which);
      Value codes = append(b, c.update, q, c.arg);
      Value scales = append(b, c.update, s, scalesArg);
      Value view = decode(b, loc, codes, scales, outTy, sch);
      if (failed(replaceCache(c, b, codes, scales, view, argNo + 2)))
        return signalPassFailure();
    }

    // 4. The return: each updated cache becomes (codes, scales).
    SmallVector<Value> results;
    SmallVector<DictionaryAttr> resultAttrs;
    DenseMap<Value, unsigned> codesResult, windowResult;
    for (OpOperand &o : ret->getOpOperands()) {
      DictionaryAttr attrs = f.getResultAttrDict(o.getOperandNumber());
      auto it = updated.find(o.get());
      if (it == updated.end()) {
        results.push_back(o.get());
        resultAttrs.push_back(attrs);
        continue;
      }
      const Stored &st = it->second;
      codesResult[st.codes] = results.size();
      results.push_back(st.codes);
      resultAttrs.push_back(attrs);
      auto name = f.getResultAttrOfType<StringAttr>(o.getOperandNumber(),
                                                    "onnx.name");
      auto named = [&](StringRef suffix) {
        NamedAttrList a;
        a.set("onnx.name",
              StringAttr::get(ctx, (name ? name.getValue().str()
                                         : "result" + std::to_string(
                                                          o.getOperandNumber())) +
                                       suffix.str()));
        return a.getDictionary(ctx);
      };
      if (st.scales) { // static scales: nothing stored per token
        results.push_back(st.scales);
        resultAttrs.push_back(named(".scales"));
      }
      if (st.window) {
        windowResult[st.window] = results.size();
        results.push_back(st.window);
        resultAttrs.push_back(named(".window"));
      }
    }
    ret->setOperands(results);
    for (auto &[old, stored] : updated)
      if (old.use_empty())
        old.getDefiningOp()->erase();
    f.setType(FunctionType::get(ctx, entry.getArgumentTypes(),
                                ValueRange(results).getTypes()));
    f.setAllResultAttrs(resultAttrs);

    // 5. Runtime-managed caches: `lq.kv_cache` names the result that feeds
    // each argument back, the scales included.
    for (Cache &c : caches) {
      unsigned argNo = c.arg.getArgNumber();
      if (!f.getArgAttr(argNo, "lq.kv_cache"))
        continue;
      // The stored codes: the append's result, or for KIVI's keys the
      // scf.if that rewrites the groups a step completes (result 0).
      Value codes;
      for (OpOperand &use : c.arg.getUses()) {
        Operation *owner = use.getOwner();
        auto ifOp = dyn_cast_or_null<scf::IfOp>(owner->getParentOp());
        if (ifOp && ifOp->getNumResults() == 2 &&
            ifOp.getResult(0).getType() == c.arg.getType() &&
            (isa<scf::YieldOp>(owner) || isa<tensor::InsertSliceOp>(owner)))
          codes = ifOp.getResult(0); // kiviCache's gated group write
        else if (owner->getNumResults() > 0)
          codes = owner->getResult(0);
      }
      auto it = codesResult.find(codes);
      if (it == codesResult.end()) {
        f.removeArgAttr(argNo, "lq.kv_cache");
        continue;
      }
      auto i64 = IntegerType::get(ctx, 64);
      f.setArgAttr(argNo, "lq.kv_cache", IntegerAttr::get(i64, it->second));
      if (!(c.which == 0 ? staticKeys : staticValues))
        f.setArgAttr(argNo + 1, "lq.kv_cache",
                     IntegerAttr::get(i64, it->second + 1));
      if (c.window)
        f.setArgAttr(c.window.getArgNumber(), "lq.kv_cache",
                     IntegerAttr::get(i64, windowResult.lookup(c.windowOut)));
    }
  }
};

} // namespace
