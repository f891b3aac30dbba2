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
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

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
};

struct QuantizeKVCachePass
    : lq::impl::QuantizeKVCachePassBase<QuantizeKVCachePass> {
  using Base::Base;

  lq::SchemeAttr scheme;
  bool packed = false; // int4: two codes per byte at the function boundary

  /// The scheme for rows of head dimension D, or an error.
  LogicalResult makeScheme(Operation *at, int64_t D) {
    MLIRContext *ctx = &getContext();
    int64_t g = group == 0 ? D : int64_t(group);
    if (g <= 0 || D % g != 0)
      return at->emitError() << "quantize-kv-cache: 'group' (" << int64_t(group)
                             << ") must divide the head dimension " << D;
    lq::Format fmt = lq::Format::Int;
    unsigned bits = 0;
    if (format == "int8")
      bits = 8;
    else if (format == "int4")
      bits = 4;
    else if (format == "fp8-e4m3")
      fmt = lq::Format::FP8E4M3;
    else if (format == "fp8-e5m2")
      fmt = lq::Format::FP8E5M2;
    else
      return at->emitError() << "quantize-kv-cache: unknown format '" << format
                             << "' (expected int8, int4, fp8-e4m3 or fp8-e5m2)";
    if (bits == 4 && g % 2 != 0)
      return at->emitError() << "quantize-kv-cache: int4 needs an even group";
    packed = bits == 4;
    lq::SchemeAttr s = lq::SchemeAttr::get(ctx, fmt, bits, /*axis=*/3, g,
                                           /*block=*/{}, /*symmetric=*/true);
    if (scheme && scheme != s)
      return at->emitError() << "quantize-kv-cache: keys and values of "
                                "different head dimensions need different "
                                "groups; give 'group' explicitly";
    scheme = s;
    return success();
  }

  RankedTensorType codesType(RankedTensorType floatTy) {
    return RankedTensorType::get(floatTy.getShape(),
                                 scheme.getStorageType(&getContext()), scheme);
  }
  RankedTensorType scalesType(RankedTensorType floatTy) {
    SmallVector<int64_t> shape(floatTy.getShape());
    shape[3] /= scheme.getGroup();
    return RankedTensorType::get(shape, Float32Type::get(&getContext()));
  }
  /// What the function boundary stores: the codes, packed for int4.
  RankedTensorType storedType(RankedTensorType floatTy) {
    if (!packed)
      return codesType(floatTy);
    SmallVector<int64_t> shape(floatTy.getShape());
    shape[3] /= 2;
    return RankedTensorType::get(shape, IntegerType::get(&getContext(), 8));
  }

  /// (stored codes, scales) of `rows`.
  std::pair<Value, Value> encode(OpBuilder &b, Location loc, Value rows) {
    auto ty = cast<RankedTensorType>(rows.getType());
    Value s = lq::ComputeScalesOp::create(b, loc, scalesType(ty), rows,
                                          /*global_scale=*/Value(), scheme);
    Value q = lq::QuantizeOp::create(b, loc, codesType(ty), rows, s,
                                     /*zero_point=*/Value(),
                                     /*global_scale=*/Value());
    if (packed)
      q = lq::PackCodesOp::create(b, loc, storedType(ty), q);
    return {q, s};
  }

  /// The float values of stored codes and their scales.
  Value decode(OpBuilder &b, Location loc, Value stored, Value scales,
               RankedTensorType floatTy) {
    if (packed)
      stored = lq::UnpackCodesOp::create(b, loc, codesType(floatTy), stored);
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

    // 1. Classify every key/value operand: a cache update, or computed here.
    SmallVector<Cache> caches;
    SmallVector<OpOperand *> computed;
    DenseSet<Operation *> seen;
    bool failedAny = false;
    f.walk([&](lq::AttentionOp attn) {
      for (OpOperand *o : {&attn.getKeyMutable(), &attn.getValueMutable()}) {
        auto ty = cast<RankedTensorType>(o->get().getType());
        if (ty.getRank() != 4 || !ty.hasStaticShape() ||
            !ty.getElementType().isF32()) {
          attn.emitError() << "quantize-kv-cache: keys and values must be "
                              "static f32 [B, H, S, D] tensors, got "
                           << ty;
          failedAny = true;
          return;
        }
        if (failed(makeScheme(attn, ty.getDimSize(3)))) {
          failedAny = true;
          return;
        }
        Operation *def = o->get().getDefiningOp();
        Cache c{};
        if (auto ins = dyn_cast_or_null<tensor::InsertSliceOp>(def)) {
          auto arg = dyn_cast<BlockArgument>(ins.getDest());
          if (arg && arg.getOwner() == &entry && ins.getSourceType().getRank() == 4)
            c = {arg, ins, ins.getSource()};
        } else if (auto cat = dyn_cast_or_null<tensor::ConcatOp>(def)) {
          auto arg = dyn_cast<BlockArgument>(cat.getInputs()[0]);
          if (arg && arg.getOwner() == &entry && cat.getDim() == 2 &&
              cat.getInputs().size() == 2)
            c = {arg, cat, cat.getInputs()[1]};
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
    if (!scheme)
      return; // no attention: nothing to do

    // 2. Keys/values computed in this call: quantized and dequantized in
    // place (what a cache of this format would hand attention).
    for (OpOperand *o : computed) {
      OpBuilder b(o->getOwner());
      auto ty = cast<RankedTensorType>(o->get().getType());
      auto [q, s] = encode(b, o->getOwner()->getLoc(), o->get());
      o->set(decode(b, o->getOwner()->getLoc(), q, s, ty));
      ++numFakeQuantized;
    }

    // 3. Caches: codes + scales arguments and results.
    // Results that return an updated cache: index -> (codes, scales).
    DenseMap<Value, std::pair<Value, Value>> updated;
    for (Cache &c : caches) {
      auto floatArgTy = cast<RankedTensorType>(c.arg.getType());
      auto outTy = cast<RankedTensorType>(c.update->getResult(0).getType());
      unsigned argNo = c.arg.getArgNumber();
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
      c.arg.setType(storedType(floatArgTy));

      OpBuilder b(c.update);
      Location loc = c.update->getLoc();
      auto [q, s] = encode(b, loc, c.rows);
      Value codes = append(b, c.update, q, c.arg);
      Value scales = append(b, c.update, s, scalesArg);
      Value view = decode(b, loc, codes, scales, outTy);
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
      f.setArgAttr(argNo + 1, "lq.kv_cache", IntegerAttr::get(i64, it->second + 1));
    }
  }
};

} // namespace
