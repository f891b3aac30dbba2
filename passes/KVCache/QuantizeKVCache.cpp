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
//   s_t = max_d |x_t,d| / qmax        (qmax = 127 / 7 / 448 / 57344)
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
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
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
};

struct QuantizeKVCachePass
    : lq::impl::QuantizeKVCachePassBase<QuantizeKVCachePass> {
  using Base::Base;

  lq::SchemeAttr scheme;       // per token, dynamic
  lq::SchemeAttr staticScheme; // per (head, channel), static
  bool packed = false; // int4: two codes per byte at the function boundary
  lq::Format fmt = lq::Format::Int;
  unsigned bits = 0;
  float qmax = 0;
  bool staticKeys = false, staticValues = false;

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
    else
      return at->emitError() << "quantize-kv-cache: unknown format '" << format
                             << "' (expected int8, int4, fp8-e4m3 or fp8-e5m2)";
    packed = bits == 4;
    if (scales != "dynamic" && scales != "static")
      return at->emitError() << "quantize-kv-cache: unknown scales '" << scales
                             << "' (expected dynamic or static)";
    bool perChannel[2];
    StringRef granularity[2] = {keyGranularity, valueGranularity};
    for (int i = 0; i < 2; ++i) {
      StringRef g = granularity[i];
      StringRef what = i == 0 ? "key-granularity" : "value-granularity";
      if (g != "per-token" && g != "per-channel")
        return at->emitError() << "quantize-kv-cache: unknown " << what << " '"
                               << g << "' (expected per-token or per-channel)";
      perChannel[i] = g == "per-channel";
      if (perChannel[i] && scales != "static")
        return at->emitError()
               << "quantize-kv-cache: " << what
               << "=per-channel needs scales=static (per-channel scales come "
                  "from --calibrate; dynamic per-channel scales are not "
                  "implemented)";
    }
    if (scales == "static" && !perChannel[0])
      return at->emitError() << "quantize-kv-cache: scales=static quantizes "
                                "keys per channel; give "
                                "key-granularity=per-channel";
    staticKeys = perChannel[0];
    staticValues = perChannel[1];
    staticScheme = lq::SchemeAttr::get(
        &getContext(), fmt, bits, /*axis=*/-1, /*group=*/0,
        /*block=*/{0, 1, 0, 1}, /*symmetric=*/true);
    return success();
  }

  /// The per-token scheme for rows of head dimension D, or an error.
  LogicalResult makeScheme(Operation *at, int64_t D) {
    MLIRContext *ctx = &getContext();
    int64_t g = group == 0 ? D : int64_t(group);
    if (g <= 0 || D % g != 0)
      return at->emitError() << "quantize-kv-cache: 'group' (" << int64_t(group)
                             << ") must divide the head dimension " << D;
    if (bits == 4 && g % 2 != 0)
      return at->emitError() << "quantize-kv-cache: int4 needs an even group";
    lq::SchemeAttr s = lq::SchemeAttr::get(ctx, fmt, bits, /*axis=*/3, g,
                                           /*block=*/{}, /*symmetric=*/true);
    if (scheme && scheme != s)
      return at->emitError() << "quantize-kv-cache: keys and values of "
                                "different head dimensions need different "
                                "groups; give 'group' explicitly";
    scheme = s;
    return success();
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
    auto sTy = RankedTensorType::get({1, H, 1, D}, b.getF32Type());
    return arith::ConstantOp::create(
               b, attn.getLoc(), DenseElementsAttr::get(sTy, ArrayRef<float>(s)))
        .getResult();
  }

  RankedTensorType codesType(RankedTensorType floatTy, lq::SchemeAttr sch) {
    return RankedTensorType::get(floatTy.getShape(),
                                 sch.getStorageType(&getContext()), sch);
  }
  RankedTensorType scalesType(RankedTensorType floatTy) {
    SmallVector<int64_t> shape(floatTy.getShape());
    shape[3] /= scheme.getGroup();
    return RankedTensorType::get(shape, Float32Type::get(&getContext()));
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
                                 Value fixed = Value()) {
    auto ty = cast<RankedTensorType>(rows.getType());
    lq::SchemeAttr sch = fixed ? staticScheme : scheme;
    Value s = fixed ? fixed
                    : lq::ComputeScalesOp::create(b, loc, scalesType(ty), rows,
                                                  /*global_scale=*/Value(),
                                                  scheme)
                          .getResult();
    Value q = lq::QuantizeOp::create(b, loc, codesType(ty, sch), rows, s,
                                     /*zero_point=*/Value(),
                                     /*global_scale=*/Value());
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
                                    /*global_scale=*/Value());
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
        if (!isStatic && failed(makeScheme(attn, ty.getDimSize(3)))) {
          failedAny = true;
          return;
        }
        if (isStatic && packed && ty.getDimSize(3) % 2 != 0) {
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
      auto [q, s] = encode(b, o->getOwner()->getLoc(), o->get(), fixed);
      o->set(decode(b, o->getOwner()->getLoc(), q, s, ty,
                    fixed ? staticScheme : scheme));
      ++numFakeQuantized;
    }

    // 3. Caches: codes + scales arguments and results.
    // Results that return an updated cache: index -> (codes, scales).
    DenseMap<Value, std::pair<Value, Value>> updated;
    for (Cache &c : caches) {
      auto floatArgTy = cast<RankedTensorType>(c.arg.getType());
      auto outTy = cast<RankedTensorType>(c.update->getResult(0).getType());
      unsigned argNo = c.arg.getArgNumber();
      if (c.which == 0 ? staticKeys : staticValues) {
        // Static scales: the cache holds codes only.
        c.arg.setType(storedType(floatArgTy, staticScheme));
        OpBuilder b(c.update);
        Location loc = c.update->getLoc();
        Value fixed = *staticScales(b, c.attn, c.which,
                                    cast<RankedTensorType>(c.rows.getType()));
        auto [q, s] = encode(b, loc, c.rows, fixed);
        Value codes = append(b, c.update, q, c.arg);
        Value view = decode(b, loc, codes, fixed, outTy, staticScheme);
        Value old = c.update->getResult(0);
        old.replaceUsesWithIf(view, [&](OpOperand &use) {
          return !isa<func::ReturnOp>(use.getOwner());
        });
        updated[old] = {codes, Value()};
        ++numCaches;
        continue;
      }
      NamedAttrList attrs;
      auto name = f.getArgAttrOfType<StringAttr>(argNo, "onnx.name");
      attrs.set("onnx.name",
                StringAttr::get(ctx, (name ? name.getValue().str()
                                           : "arg" + std::to_string(argNo)) +
                                         ".scales"));
      if (failed(f.insertArgument(argNo + 1, scalesType(floatArgTy),
                                  attrs.getDictionary(ctx), c.arg.getLoc()))) {
        f.emitError() << "quantize-kv-cache: cannot add a scales argument";
        return signalPassFailure();
      }
      BlockArgument scalesArg = f.getArgument(argNo + 1);
      c.arg.setType(storedType(floatArgTy, scheme));

      OpBuilder b(c.update);
      Location loc = c.update->getLoc();
      auto [q, s] = encode(b, loc, c.rows);
      Value codes = append(b, c.update, q, c.arg);
      Value scales = append(b, c.update, s, scalesArg);
      Value view = decode(b, loc, codes, scales, outTy, scheme);
      Value old = c.update->getResult(0);
      old.replaceUsesWithIf(view, [&](OpOperand &use) {
        return !isa<func::ReturnOp>(use.getOwner());
      });
      updated[old] = {codes, scales};
      ++numCaches;
    }

    // 4. The return: each updated cache becomes (codes, scales).
    SmallVector<Value> results;
    SmallVector<DictionaryAttr> resultAttrs;
    DenseMap<Value, unsigned> codesResult;
    for (OpOperand &o : ret->getOpOperands()) {
      DictionaryAttr attrs = f.getResultAttrDict(o.getOperandNumber());
      auto it = updated.find(o.get());
      if (it == updated.end()) {
        results.push_back(o.get());
        resultAttrs.push_back(attrs);
        continue;
      }
      codesResult[it->second.first] = results.size();
      results.push_back(it->second.first);
      resultAttrs.push_back(attrs);
      if (!it->second.second)
        continue; // static scales: nothing stored per token
      NamedAttrList scalesAttrs;
      auto name = f.getResultAttrOfType<StringAttr>(o.getOperandNumber(),
                                                    "onnx.name");
      scalesAttrs.set(
          "onnx.name",
          StringAttr::get(ctx, (name ? name.getValue().str()
                                     : "result" +
                                           std::to_string(o.getOperandNumber())) +
                                   ".scales"));
      results.push_back(it->second.second);
      resultAttrs.push_back(scalesAttrs.getDictionary(ctx));
    }
    ret->setOperands(results);
    for (auto &[old, pair] : updated)
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
      Value codes;
      for (OpOperand &use : c.arg.getUses())
        codes = use.getOwner()->getResult(0);
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
    }
  }
};

} // namespace
