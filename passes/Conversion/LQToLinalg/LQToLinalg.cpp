//===- LQToLinalg.cpp - Lower lq ops to linalg on tensors ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Every lq op becomes upstream linalg/tensor/arith/math/scf on tensors, so the
// rest of the CPU pipeline is stock MLIR (bufferize, loops, LLVM).
//
//  - Graph ops accumulate in f32 (f64 for f64 tensors): matmuls as
//    `linalg.matmul` with a transposed-B map, norms and softmax as
//    `linalg.generic` reductions followed by elementwise generics.
//  - Codecs compute in f32 and follow <lq_rt/formats.h> bit for bit:
//    minifloat codes are decoded and encoded with integer bit manipulation
//    (LLVM has no fp8/fp6/fp4 types, and `arith.extf`/`truncf` from them
//    only lower for f4E2M1FN and f8E8M0FNU, via arith-expand), NF4 reads
//    the QLoRA codebook from a constant table.
//  - Quantized tensor types lose their `#lq.scheme` encoding and keep their
//    storage element type. Packed `dense_resource` blobs of sub-byte codes are
//    unpacked into a `dense` of the storage type (one element per code), the
//    layout LLVM gives `i4`/`f4` arrays after bufferization.
//
//===----------------------------------------------------------------------===//

#include "passes/Conversion/LQToLinalg/LQToLinalg.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/DialectConversion.h"

#include <lq_rt/formats.h>
#include <lq_rt/hadamard.h>

#include <array>
#include <cmath>
#include <optional>
#include <string>

namespace mlir::lq {
#define GEN_PASS_DEF_CONVERTLQTOLINALGPASS
#include "passes/Conversion/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;
using namespace mlir::lq;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

using utils::IteratorType;

bool isComputeFloat(Type t) {
  return isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(t);
}

/// The accumulation type of a computation producing `t` elements.
Type accType(Type t) {
  return t.isF64() ? t : Float32Type::get(t.getContext());
}

/// Returns a quantized tensor type without its `#lq.scheme` encoding, or null
/// for any other type.
RankedTensorType stripScheme(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t || !isa_and_nonnull<SchemeAttr>(t.getEncoding()))
    return {};
  return RankedTensorType::get(t.getShape(), t.getElementType());
}

Value castFloat(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (fw == tw) { // f16 <-> bf16
    v = arith::ExtFOp::create(b, loc, Float32Type::get(b.getContext()), v);
    return arith::TruncFOp::create(b, loc, to, v);
  }
  if (fw < tw)
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

Value fconst(OpBuilder &b, Location loc, Type t, double v) {
  return arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, v));
}

Value iconst(OpBuilder &b, Location loc, Type t, int64_t v) {
  return arith::ConstantOp::create(b, loc, t, b.getIntegerAttr(t, v));
}

Value i32c(OpBuilder &b, Location loc, int64_t v) {
  return iconst(b, loc, b.getI32Type(), v);
}

Value idx(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value dimValue(OpBuilder &b, Location loc, Value t, int64_t d) {
  return getValueOrCreateConstantIndexOp(
      b, loc, tensor::getMixedSize(b, loc, t, d));
}

/// The size of dimension `d` of `t` as a float of type `ft`.
Value dimAsFloat(OpBuilder &b, Location loc, Value t, int64_t d, Type ft) {
  int64_t s = cast<RankedTensorType>(t.getType()).getDimSize(d);
  if (!ShapedType::isDynamic(s))
    return fconst(b, loc, ft, double(s));
  Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                       dimValue(b, loc, t, d));
  return arith::SIToFPOp::create(b, loc, ft, i);
}

Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elt) {
  return tensor::EmptyOp::create(b, loc, sizes, elt);
}

Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                   Type elt, double value) {
  Value init = emptyTensor(b, loc, sizes, elt);
  Value cst = fconst(b, loc, elt, value);
  return linalg::FillOp::create(b, loc, ValueRange{cst}, ValueRange{init})
      .getResult(0);
}

SmallVector<IteratorType> iterators(unsigned parallel, unsigned reduction = 0) {
  SmallVector<IteratorType> its(parallel, IteratorType::parallel);
  its.append(reduction, IteratorType::reduction);
  return its;
}

/// A map from `n` loops to the dims listed in `dims`.
AffineMap dimsMap(MLIRContext *ctx, unsigned n, ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(n, 0, exprs, ctx);
}

/// A map from `n` loops to the first `k` of them.
AffineMap prefixMap(MLIRContext *ctx, unsigned n, unsigned k) {
  return dimsMap(ctx, n, llvm::to_vector(llvm::seq<unsigned>(0, k)));
}

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// One-result `linalg.generic` whose body yields `body(args)`.
Value generic(OpBuilder &b, Location loc, Value init, ValueRange inputs,
              ArrayRef<AffineMap> maps, ArrayRef<IteratorType> its,
              BodyFn body) {
  auto op = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps, its,
      /*doc=*/"", /*libraryCall=*/"",
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        linalg::YieldOp::create(nb, nl, body(nb, nl, args));
      });
  return op.getResult(0);
}

/// Casts `v` to `type` with tensor.cast when the static information differs.
Value castTensor(OpBuilder &b, Location loc, Value v, Type type) {
  if (v.getType() == type)
    return v;
  return tensor::CastOp::create(b, loc, type, v);
}

/// Why `op` cannot be lowered, or nothing if it can. Shared by the patterns
/// (as a match-failure note) and the pass (as the error it reports).
std::optional<std::string> unsupportedReason(Operation *op) {
  if (auto h = dyn_cast<HadamardOp>(op)) {
    auto t = h.getInput().getType();
    if (!t.hasStaticShape() || !t.getElementType().isF32())
      return std::string("the linalg lowering of lq.hadamard needs a static "
                         "f32 tensor");
    if (h.getBlockSize() > 1024)
      return "Hadamard block " + std::to_string(h.getBlockSize()) +
             " is over 1024: the dense linalg lowering would need a B x B "
             "constant; use the runtime kernel (--convert-lq-to-runtime)";
    return std::nullopt;
  }
  if (isa<KVWindowAppendOp, KVWindowReadOp, KVWindowGroupsOp>(op)) {
    for (Value v : op->getOperands())
      if (auto t = dyn_cast<RankedTensorType>(v.getType());
          t && !t.hasStaticShape())
        return std::string("the KV-window ops need static shapes to lower");
    return std::nullopt;
  }
  if (!isa<LinearOp, RMSNormOp, LayerNormOp, RotaryOp, AttentionOp,
           EmbeddingOp, QuantizeOp, DequantizeOp>(op))
    return std::nullopt;
  auto checkFloat = [](Value v) -> std::optional<std::string> {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t || !isa<FloatType>(t.getElementType()) ||
        isComputeFloat(t.getElementType()))
      return std::nullopt;
    std::string s;
    llvm::raw_string_ostream os(s);
    os << "element type '" << t.getElementType()
       << "' is not supported by the CPU lowering (expected f16, bf16, f32 "
          "or f64)";
    return s;
  };
  // Codecs: the float side and plain-float scales; small-float scales (MX,
  // NVFP4) and codes are decoded bit by bit.
  SmallVector<Value> floats;
  if (auto q = dyn_cast<QuantizeOp>(op)) {
    floats.push_back(q.getInput());
  } else if (auto dq = dyn_cast<DequantizeOp>(op)) {
    floats.push_back(dq.getResult());
  } else {
    llvm::append_range(floats, op->getOperands());
    llvm::append_range(floats, op->getResults());
  }
  if (auto attn = dyn_cast<AttentionOp>(op)) {
    if (attn.getMask())
      floats.erase(llvm::find(floats, attn.getMask()));
    if (attn.getPosition())
      floats.erase(llvm::find(floats, attn.getPosition()));
  }
  for (Value v : floats)
    if (auto reason = checkFloat(v))
      return reason;
  if (auto attn = dyn_cast<AttentionOp>(op)) {
    if (attn.getMask())
      if (auto reason = checkFloat(attn.getMask()))
        return reason;
    int64_t hq = attn.getQuery().getType().getDimSize(1);
    int64_t hkv = attn.getKey().getType().getDimSize(1);
    if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv))
      return std::string("head counts must be static to lower (query heads "
                         "and key/value heads select the GQA head mapping)");
  }
  return std::nullopt;
}

/// Base for the lq patterns: checks `unsupportedReason` first.
template <typename OpTy>
struct LQPattern : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const final {
    if (auto reason = unsupportedReason(op))
      return rewriter.notifyMatchFailure(op, *reason);
    FailureOr<Value> result = lower(op, adaptor, rewriter);
    if (failed(result))
      return failure();
    rewriter.replaceOp(op, *result);
    return success();
  }

  virtual FailureOr<Value> lower(OpTy op, OpAdaptor adaptor,
                                 ConversionPatternRewriter &rewriter) const = 0;
};

//===----------------------------------------------------------------------===//
// lq.linear
//===----------------------------------------------------------------------===//

/// y = x . W^T + b: x reshaped to [M, K], `linalg.matmul` with a transposed-B
/// map into an f32 accumulator, then bias and the result type.
struct LinearLowering : LQPattern<LinearOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(LinearOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          bias = adaptor.getBias();
    auto xTy = cast<RankedTensorType>(x.getType());
    RankedTensorType resTy = op.getResult().getType();
    Type elt = resTy.getElementType(), acc = accType(elt);
    int64_t rank = xTy.getRank();

    // x as [M, K].
    SmallVector<OpFoldResult> xSizes;
    if (rank != 2)
      xSizes = tensor::getMixedSizes(rewriter, loc, x);
    Value x2 = x;
    if (rank == 1) {
      x2 = tensor::ExpandShapeOp::create(
          rewriter, loc,
          RankedTensorType::get({1, xTy.getDimSize(0)}, xTy.getElementType()),
          x, SmallVector<ReassociationIndices>{{0, 1}},
          SmallVector<OpFoldResult>{rewriter.getIndexAttr(1), xSizes[0]});
    } else if (rank > 2) {
      ReassociationIndices lead =
          llvm::to_vector(llvm::seq<int64_t>(0, rank - 1));
      x2 = tensor::CollapseShapeOp::create(
          rewriter, loc, x,
          SmallVector<ReassociationIndices>{lead, {rank - 1}});
    }
    OpFoldResult m = tensor::getMixedSize(rewriter, loc, x2, 0);
    OpFoldResult n = tensor::getMixedSize(rewriter, loc, w, 0);
    Value init = filledTensor(rewriter, loc, {m, n}, acc, 0.0);
    Value y = linalg::MatmulTransposeBOp::create(rewriter, loc,
                                                 TypeRange{init.getType()},
                                                 ValueRange{x2, w},
                                                 ValueRange{init})
                  .getResult(0);

    if (bias || acc != elt) {
      SmallVector<Value> ins = {y};
      SmallVector<AffineMap> maps = {prefixMap(ctx, 2, 2)};
      if (bias) {
        ins.push_back(bias);
        maps.push_back(dimsMap(ctx, 2, {1}));
      }
      maps.push_back(prefixMap(ctx, 2, 2));
      y = generic(rewriter, loc, emptyTensor(rewriter, loc, {m, n}, elt), ins,
                  maps, iterators(2),
                  [&](OpBuilder &b, Location l, ValueRange args) {
                    Value v = args[0];
                    if (bias)
                      v = arith::AddFOp::create(b, l, v,
                                                castFloat(b, l, args[1], acc));
                    return castFloat(b, l, v, elt);
                  });
    }

    // Back to [..., N].
    if (rank == 1) {
      y = tensor::CollapseShapeOp::create(
          rewriter, loc, y, SmallVector<ReassociationIndices>{{0, 1}});
    } else if (rank > 2) {
      SmallVector<OpFoldResult> outSizes(xSizes.begin(), xSizes.end() - 1);
      outSizes.push_back(n);
      SmallVector<int64_t> staticShape(xTy.getShape().drop_back());
      staticShape.push_back(cast<RankedTensorType>(y.getType()).getDimSize(1));
      ReassociationIndices lead =
          llvm::to_vector(llvm::seq<int64_t>(0, rank - 1));
      y = tensor::ExpandShapeOp::create(
          rewriter, loc, RankedTensorType::get(staticShape, elt), y,
          SmallVector<ReassociationIndices>{lead, {rank - 1}}, outSizes);
    }
    return castTensor(rewriter, loc, y, resTy);
  }
};

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

/// sum over the last dim of f(x) (f applied to x converted to `acc`), as a
/// tensor of the leading dims.
Value reduceLast(OpBuilder &b, Location loc, Value x, ValueRange extraInputs,
                 ArrayRef<AffineMap> extraMaps, Type acc,
                 function_ref<Value(OpBuilder &, Location, ValueRange)> f) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  sizes.pop_back();
  Value init = filledTensor(b, loc, sizes, acc, 0.0);
  SmallVector<Value> ins = {x};
  llvm::append_range(ins, extraInputs);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank)};
  llvm::append_range(maps, extraMaps);
  maps.push_back(prefixMap(ctx, rank, rank - 1));
  return generic(b, loc, init, ins, maps, iterators(rank - 1, 1),
                 [&](OpBuilder &nb, Location nl, ValueRange args) {
                   Value term = f(nb, nl, args.drop_back());
                   return arith::AddFOp::create(nb, nl, args.back(), term);
                 });
}

/// y = x * rsqrt(mean(x^2) + eps) * g, in the accumulation type.
struct RMSNormLowering : LQPattern<RMSNormOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(RMSNormOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = adaptor.getInput(), w = adaptor.getWeight();
    auto xTy = cast<RankedTensorType>(x.getType());
    Type elt = xTy.getElementType(), acc = accType(elt);
    unsigned rank = xTy.getRank();

    Value ss = reduceLast(rewriter, loc, x, {}, {}, acc,
                          [&](OpBuilder &b, Location l, ValueRange a) {
                            Value e = castFloat(b, l, a[0], acc);
                            return arith::MulFOp::create(b, l, e, e);
                          });
    Value d = dimAsFloat(rewriter, loc, x, rank - 1, acc);
    Value eps =
        fconst(rewriter, loc, acc, op.getEpsilonAttr().getValueAsDouble());
    SmallVector<AffineMap> maps = {rewriter.getMultiDimIdentityMap(rank),
                                   prefixMap(ctx, rank, rank - 1),
                                   dimsMap(ctx, rank, {rank - 1}),
                                   rewriter.getMultiDimIdentityMap(rank)};
    Value init = emptyTensor(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, x), elt);
    return generic(rewriter, loc, init, ValueRange{x, ss, w}, maps,
                   iterators(rank),
                   [&](OpBuilder &b, Location l, ValueRange a) {
                     Value mean = arith::DivFOp::create(b, l, a[1], d);
                     Value inv = math::RsqrtOp::create(
                         b, l, arith::AddFOp::create(b, l, mean, eps));
                     Value y = arith::MulFOp::create(
                         b, l, castFloat(b, l, a[0], acc), inv);
                     y = arith::MulFOp::create(b, l, y,
                                               castFloat(b, l, a[2], acc));
                     return castFloat(b, l, y, elt);
                   });
  }
};

/// y = (x - mean) * rsqrt(var + eps) * g + b, with a two-pass variance.
struct LayerNormLowering : LQPattern<LayerNormOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(LayerNormOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          bias = adaptor.getBias();
    auto xTy = cast<RankedTensorType>(x.getType());
    Type elt = xTy.getElementType(), acc = accType(elt);
    unsigned rank = xTy.getRank();
    AffineMap lead = prefixMap(ctx, rank, rank - 1);
    AffineMap last = dimsMap(ctx, rank, {rank - 1});
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);

    Value d = dimAsFloat(rewriter, loc, x, rank - 1, acc);
    Value sum = reduceLast(rewriter, loc, x, {}, {}, acc,
                           [&](OpBuilder &b, Location l, ValueRange a) {
                             return castFloat(b, l, a[0], acc);
                           });
    Value sq = reduceLast(rewriter, loc, x, ValueRange{sum}, {lead}, acc,
                          [&](OpBuilder &b, Location l, ValueRange a) {
                            Value mean = arith::DivFOp::create(b, l, a[1], d);
                            Value c = arith::SubFOp::create(
                                b, l, castFloat(b, l, a[0], acc), mean);
                            return arith::MulFOp::create(b, l, c, c);
                          });
    Value eps =
        fconst(rewriter, loc, acc, op.getEpsilonAttr().getValueAsDouble());
    SmallVector<Value> ins = {x, sum, sq, w};
    SmallVector<AffineMap> maps = {id, lead, lead, last};
    if (bias) {
      ins.push_back(bias);
      maps.push_back(last);
    }
    maps.push_back(id);
    Value init = emptyTensor(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, x), elt);
    return generic(
        rewriter, loc, init, ins, maps, iterators(rank),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value mean = arith::DivFOp::create(b, l, a[1], d);
          Value var = arith::DivFOp::create(b, l, a[2], d);
          Value inv = math::RsqrtOp::create(
              b, l, arith::AddFOp::create(b, l, var, eps));
          Value c =
              arith::SubFOp::create(b, l, castFloat(b, l, a[0], acc), mean);
          Value y = arith::MulFOp::create(b, l, c, inv);
          y = arith::MulFOp::create(b, l, y, castFloat(b, l, a[3], acc));
          if (bias)
            y = arith::AddFOp::create(b, l, y, castFloat(b, l, a[4], acc));
          return castFloat(b, l, y, elt);
        });
  }
};

//===----------------------------------------------------------------------===//
// lq.rotary
//===----------------------------------------------------------------------===//

/// An elementwise generic over x; inside the rotated range the body reads the
/// partner element and cos/sin with tensor.extract (under scf.if, so R = 0 and
/// pass-through features never index cos/sin):
///   rotate-half: y[i] = x[i] c[i] - x[i+R] s[i], y[i+R] = x[i+R] c[i] + x[i] s[i]
///   interleaved: y[2i] = x[2i] c[i] - x[2i+1] s[i], y[2i+1] = x[2i+1] c[i] + x[2i] s[i]
struct RotaryLowering : LQPattern<RotaryOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(RotaryOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), cosT = adaptor.getCos(),
          sinT = adaptor.getSin();
    auto xTy = cast<RankedTensorType>(x.getType());
    Type elt = xTy.getElementType(), acc = accType(elt);
    unsigned rank = xTy.getRank();
    bool interleaved = op.getInterleaved();
    Value r = dimValue(rewriter, loc, cosT, 1);
    Value twoR = arith::AddIOp::create(rewriter, loc, r, r);
    Value init = emptyTensor(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, x), elt);
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    return generic(
        rewriter, loc, init, ValueRange{x}, {id, id}, iterators(rank),
        [&](OpBuilder &b, Location l, ValueRange a) {
          SmallVector<Value> ivs;
          for (unsigned i = 0; i < rank; ++i)
            ivs.push_back(linalg::IndexOp::create(b, l, i));
          Value j = ivs.back(), t = ivs[rank - 2];
          Value self = castFloat(b, l, a[0], acc);
          Value inRange = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                                j, twoR);
          auto ifOp = scf::IfOp::create(
              b, l, inRange,
              [&](OpBuilder &tb, Location tl) {
                Value first, pair, partner;
                if (interleaved) {
                  Value one = idx(tb, tl, 1);
                  Value two = idx(tb, tl, 2);
                  pair = arith::DivUIOp::create(tb, tl, j, two);
                  Value odd = arith::RemUIOp::create(tb, tl, j, two);
                  first = arith::CmpIOp::create(
                      tb, tl, arith::CmpIPredicate::eq, odd, idx(tb, tl, 0));
                  partner = arith::SelectOp::create(
                      tb, tl, first, arith::AddIOp::create(tb, tl, j, one),
                      arith::SubIOp::create(tb, tl, j, one));
                } else {
                  first = arith::CmpIOp::create(
                      tb, tl, arith::CmpIPredicate::ult, j, r);
                  Value jmr = arith::SubIOp::create(tb, tl, j, r);
                  pair = arith::SelectOp::create(tb, tl, first, j, jmr);
                  partner = arith::SelectOp::create(
                      tb, tl, first, arith::AddIOp::create(tb, tl, j, r), jmr);
                }
                SmallVector<Value> pIdx(ivs);
                pIdx.back() = partner;
                Value xp = castFloat(
                    tb, tl, tensor::ExtractOp::create(tb, tl, x, pIdx), acc);
                Value c = castFloat(
                    tb, tl,
                    tensor::ExtractOp::create(tb, tl, cosT, ValueRange{t, pair}),
                    acc);
                Value s = castFloat(
                    tb, tl,
                    tensor::ExtractOp::create(tb, tl, sinT, ValueRange{t, pair}),
                    acc);
                Value xc = arith::MulFOp::create(tb, tl, self, c);
                Value xs = arith::MulFOp::create(tb, tl, xp, s);
                Value y = arith::SelectOp::create(
                    tb, tl, first, arith::SubFOp::create(tb, tl, xc, xs),
                    arith::AddFOp::create(tb, tl, xc, xs));
                scf::YieldOp::create(tb, tl, y);
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, self);
              });
          return castFloat(b, l, ifOp.getResult(0), elt);
        });
  }
};

//===----------------------------------------------------------------------===//
// lq.attention
//===----------------------------------------------------------------------===//

/// softmax(scale Q K^T + mask) V in f32 over [B, Hq, T, S]; query head h reads
/// KV head h floordiv (Hq / Hkv). Masked scores are -inf; a row whose scores
/// are all -inf uses 0 as its max (so exp gives 0, not NaN) and its output is
/// 0 because the normalizer is 0.
struct AttentionLowering : LQPattern<AttentionOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(AttentionOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue(),
          mask = adaptor.getMask();
    RankedTensorType resTy = op.getResult().getType();
    Type elt = resTy.getElementType(), acc = accType(elt);
    int64_t hq = op.getQuery().getType().getDimSize(1);
    int64_t hkv = op.getKey().getType().getDimSize(1);
    int64_t group = hq / hkv;

    OpFoldResult bSz = tensor::getMixedSize(rewriter, loc, q, 0);
    OpFoldResult hSz = rewriter.getIndexAttr(hq);
    OpFoldResult tSz = tensor::getMixedSize(rewriter, loc, q, 2);
    OpFoldResult sSz = tensor::getMixedSize(rewriter, loc, k, 2);
    OpFoldResult eSz = tensor::getMixedSize(rewriter, loc, v, 3);

    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    AffineExpr kvHead = group == 1 ? d(1) : d(1).floorDiv(group);
    auto map5 = [&](ArrayRef<AffineExpr> e) {
      return AffineMap::get(5, 0, e, ctx);
    };
    auto map4 = [&](ArrayRef<AffineExpr> e) {
      return AffineMap::get(4, 0, e, ctx);
    };
    AffineMap id4 = rewriter.getMultiDimIdentityMap(4);
    AffineMap row = prefixMap(ctx, 4, 3);

    // scores[b, h, t, s] = sum_d q[b, h, t, d] * k[b, h / G, s, d]
    Value scores = generic(
        rewriter, loc, filledTensor(rewriter, loc, {bSz, hSz, tSz, sSz}, acc, 0),
        ValueRange{q, k},
        {map5({d(0), d(1), d(2), d(4)}), map5({d(0), kvHead, d(3), d(4)}),
         map5({d(0), d(1), d(2), d(3)})},
        iterators(4, 1), [&](OpBuilder &b, Location l, ValueRange a) {
          Value p = arith::MulFOp::create(b, l, castFloat(b, l, a[0], acc),
                                          castFloat(b, l, a[1], acc));
          return arith::AddFOp::create(b, l, a[2], p);
        });

    // Scale, mask, causal mask.
    Value scale;
    if (op.getScale() ||
        !ShapedType::isDynamic(op.getQuery().getType().getDimSize(3))) {
      scale = fconst(rewriter, loc, acc, op.getEffectiveScale());
    } else {
      Value dim = dimAsFloat(rewriter, loc, q, 3, acc);
      scale = arith::DivFOp::create(rewriter, loc, fconst(rewriter, loc, acc, 1),
                                    math::SqrtOp::create(rewriter, loc, dim));
    }
    Value negInf = fconst(rewriter, loc, acc, -INFINITY);
    // Query t sees keys s <= t + offset (causal) or s <= offset (a
    // non-causal query block at `position`, keys past it not yet written).
    Value offset;
    bool perRow = op.getCausal();
    if (Value pos = adaptor.getPosition()) {
      Value p = tensor::ExtractOp::create(rewriter, loc, pos, ValueRange{});
      if (!p.getType().isIndex())
        p = arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                       p);
      offset = p;
      if (!op.getCausal())
        offset = arith::AddIOp::create(
            rewriter, loc, p,
            arith::SubIOp::create(
                rewriter, loc,
                getValueOrCreateConstantIndexOp(rewriter, loc, tSz),
                arith::ConstantIndexOp::create(rewriter, loc, 1)));
    } else if (op.getCausal()) {
      offset = arith::SubIOp::create(
          rewriter, loc, getValueOrCreateConstantIndexOp(rewriter, loc, sSz),
          getValueOrCreateConstantIndexOp(rewriter, loc, tSz));
    }
    SmallVector<Value> ins = {scores};
    SmallVector<AffineMap> maps = {id4};
    if (mask) {
      auto mTy = cast<RankedTensorType>(mask.getType());
      int64_t mr = mTy.getRank();
      SmallVector<AffineExpr> e;
      for (int64_t i = 0; i < mr; ++i)
        e.push_back(mTy.getDimSize(i) == 1 ? getAffineConstantExpr(0, ctx)
                                           : d(4 - mr + i));
      ins.push_back(mask);
      maps.push_back(map4(e));
    }
    maps.push_back(id4);
    Value masked = generic(
        rewriter, loc,
        emptyTensor(rewriter, loc, {bSz, hSz, tSz, sSz}, acc), ins, maps,
        iterators(4), [&](OpBuilder &b, Location l, ValueRange a) {
          Value s = arith::MulFOp::create(b, l, a[0], scale);
          if (mask) {
            Value m = a[1];
            if (m.getType().isInteger(1))
              s = arith::SelectOp::create(b, l, m, s, negInf);
            else
              s = arith::AddFOp::create(b, l, s, castFloat(b, l, m, acc));
          }
          if (offset) {
            Value ti = perRow ? linalg::IndexOp::create(b, l, 2) : Value();
            Value si = linalg::IndexOp::create(b, l, 3);
            Value limit =
                perRow ? arith::AddIOp::create(b, l, ti, offset) : offset;
            Value future = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::sgt, si, limit);
            s = arith::SelectOp::create(b, l, future, negInf, s);
          }
          return s;
        });

    // Row max (with -inf rows mapped to 0), exp, row sum.
    Value rowMax = generic(
        rewriter, loc, filledTensor(rewriter, loc, {bSz, hSz, tSz}, acc, -INFINITY),
        ValueRange{masked}, {id4, row}, iterators(3, 1),
        [&](OpBuilder &b, Location l, ValueRange a) {
          return arith::MaximumFOp::create(b, l, a[0], a[1]);
        });
    Value zero = fconst(rewriter, loc, acc, 0);
    Value probs = generic(
        rewriter, loc,
        emptyTensor(rewriter, loc, {bSz, hSz, tSz, sSz}, acc),
        ValueRange{masked, rowMax}, {id4, row, id4}, iterators(4),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value allMasked = arith::CmpFOp::create(
              b, l, arith::CmpFPredicate::OEQ, a[1], negInf);
          Value m = arith::SelectOp::create(b, l, allMasked, zero, a[1]);
          return math::ExpOp::create(b, l,
                                     arith::SubFOp::create(b, l, a[0], m));
        });
    Value rowSum = generic(
        rewriter, loc, filledTensor(rewriter, loc, {bSz, hSz, tSz}, acc, 0),
        ValueRange{probs}, {id4, row}, iterators(3, 1),
        [&](OpBuilder &b, Location l, ValueRange a) {
          return arith::AddFOp::create(b, l, a[1], a[0]);
        });

    // out[b, h, t, e] = sum_s p[b, h, t, s] * v[b, h / G, s, e] / l[b, h, t]
    Value weighted = generic(
        rewriter, loc, filledTensor(rewriter, loc, {bSz, hSz, tSz, eSz}, acc, 0),
        ValueRange{probs, v},
        {map5({d(0), d(1), d(2), d(4)}), map5({d(0), kvHead, d(4), d(3)}),
         map5({d(0), d(1), d(2), d(3)})},
        iterators(4, 1), [&](OpBuilder &b, Location l, ValueRange a) {
          Value p = arith::MulFOp::create(b, l, a[0],
                                          castFloat(b, l, a[1], acc));
          return arith::AddFOp::create(b, l, a[2], p);
        });
    Value out = generic(
        rewriter, loc, emptyTensor(rewriter, loc, {bSz, hSz, tSz, eSz}, elt),
        ValueRange{weighted, rowSum}, {id4, row, id4}, iterators(4),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value empty = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                              a[1], zero);
          Value y = arith::SelectOp::create(
              b, l, empty, zero, arith::DivFOp::create(b, l, a[0], a[1]));
          return castFloat(b, l, y, elt);
        });
    return castTensor(rewriter, loc, out, resTy);
  }
};

//===----------------------------------------------------------------------===//
// lq.hadamard
//===----------------------------------------------------------------------===//

/// The portable fallback (the CPU pipeline calls lq_rt's O(n log n) kernel
/// instead): each block of B values times the dense orthonormal H_B of
/// <lq_rt/hadamard.h>, as one `linalg.matmul` with a transposed constant:
/// x [..., n] -> [rows * n / B, B] . H_Bᵀ -> [..., n]. O(n B) work and a B x B
/// constant, so only for B <= 1024.
struct HadamardLowering : LQPattern<HadamardOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(HadamardOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto ty = cast<RankedTensorType>(adaptor.getInput().getType());
    const int64_t B = op.getBlockSize();
    if (!ty.hasStaticShape() || !ty.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "needs a static f32 tensor");
    if (B > 1024)
      return rewriter.notifyMatchFailure(
          op, "blocks over 1024 need the runtime kernel (runtime-kernels=true)");
    const int64_t m = lq_rt_hadamard_factor(B);
    const int8_t *hm = lq_rt_hadamard_matrix(m);
    std::vector<float> h(B * B);
    const float s = 1.0f / std::sqrt(float(B));
    for (int64_t i = 0; i < B; ++i)
      for (int64_t j = 0; j < B; ++j) {
        int64_t a = i / m, ap = j / m;
        float sign = __builtin_popcountll(uint64_t(a & ap)) & 1 ? -s : s;
        h[i * B + j] = sign * hm[(i % m) * m + j % m];
      }
    auto hTy = RankedTensorType::get({B, B}, rewriter.getF32Type());
    Value hv = arith::ConstantOp::create(
        rewriter, loc, hTy, DenseElementsAttr::get(hTy, ArrayRef<float>(h)));
    const int64_t rows = ty.getNumElements() / B;
    auto x2Ty = RankedTensorType::get({rows, B}, rewriter.getF32Type());
    ReassociationIndices all = llvm::to_vector(llvm::seq<int64_t>(0, ty.getRank()));
    auto flatTy = RankedTensorType::get({ty.getNumElements()}, rewriter.getF32Type());
    Value flat = tensor::CollapseShapeOp::create(
        rewriter, loc, flatTy, adaptor.getInput(), SmallVector<ReassociationIndices>{all});
    Value x2 = tensor::ExpandShapeOp::create(
        rewriter, loc, x2Ty, flat, SmallVector<ReassociationIndices>{{0, 1}});
    Value init = filledTensor(rewriter, loc,
                              {rewriter.getIndexAttr(rows), rewriter.getIndexAttr(B)},
                              rewriter.getF32Type(), 0.0);
    Value y2 = linalg::MatmulTransposeBOp::create(rewriter, loc,
                                                  TypeRange{init.getType()},
                                                  ValueRange{x2, hv}, ValueRange{init})
                   .getResult(0);
    Value yf = tensor::CollapseShapeOp::create(
        rewriter, loc, flatTy, y2, SmallVector<ReassociationIndices>{{0, 1}});
    return Value(tensor::ExpandShapeOp::create(
        rewriter, loc, ty, yf, SmallVector<ReassociationIndices>{all}));
  }
};

//===----------------------------------------------------------------------===//
// lq.embedding
//===----------------------------------------------------------------------===//

/// out[i..., d] = table[ids[i...], d]; ids are signed and trusted.
struct EmbeddingLowering : LQPattern<EmbeddingOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(EmbeddingOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value table = adaptor.getTable(), ids = adaptor.getIds();
    unsigned idRank = cast<RankedTensorType>(ids.getType()).getRank();
    unsigned rank = idRank + 1;
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, ids);
    sizes.push_back(tensor::getMixedSize(rewriter, loc, table, 1));
    Type elt = op.getResult().getType().getElementType();
    Value out = generic(
        rewriter, loc, emptyTensor(rewriter, loc, sizes, elt), ValueRange{ids},
        {prefixMap(ctx, rank, idRank), rewriter.getMultiDimIdentityMap(rank)},
        iterators(rank), [&](OpBuilder &b, Location l, ValueRange a) {
          Value id = arith::IndexCastOp::create(b, l, b.getIndexType(), a[0]);
          Value col = linalg::IndexOp::create(b, l, idRank);
          return tensor::ExtractOp::create(b, l, table, ValueRange{id, col});
        });
    return castTensor(rewriter, loc, out, op.getResult().getType());
  }
};

//===----------------------------------------------------------------------===//
// Codecs
//===----------------------------------------------------------------------===//

/// A minifloat element format, as in runtime/src/core/formats.cpp.
struct MiniFloat {
  enum class Special { None, NanOnly, Ieee };
  unsigned ebits, mbits;
  int bias;
  Special special;
  unsigned maxCode, nanCode;
  unsigned width() const { return 1 + ebits + mbits; }
};

std::optional<MiniFloat> getMiniFloat(Type t) {
  using S = MiniFloat::Special;
  if (isa<Float8E4M3FNType>(t))
    return MiniFloat{4, 3, 7, S::NanOnly, 0x7E, 0x7F};
  if (isa<Float8E5M2Type>(t))
    return MiniFloat{5, 2, 15, S::Ieee, 0x7B, 0x7F};
  if (isa<Float6E2M3FNType>(t))
    return MiniFloat{2, 3, 1, S::None, 0x1F, 0};
  if (isa<Float6E3M2FNType>(t))
    return MiniFloat{3, 2, 3, S::None, 0x1F, 0};
  if (isa<Float4E2M1FNType>(t))
    return MiniFloat{2, 1, 1, S::None, 0x7, 0};
  return std::nullopt;
}

/// The raw bits of a storage element as an i32 (zero-extended).
Value codeBits(OpBuilder &b, Location loc, Value v) {
  Type t = v.getType();
  unsigned w = t.getIntOrFloatBitWidth();
  if (isa<FloatType>(t))
    v = arith::BitcastOp::create(b, loc, b.getIntegerType(w), v);
  if (w == 32)
    return v;
  return arith::ExtUIOp::create(b, loc, b.getI32Type(), v);
}

Value bitsToF32(OpBuilder &b, Location loc, Value i) {
  return arith::BitcastOp::create(b, loc, b.getF32Type(), i);
}

/// Exact value of minifloat code `c` (i32) as f32.
Value decodeMiniFloat(OpBuilder &b, Location loc, Value c,
                      const MiniFloat &fmt) {
  using S = MiniFloat::Special;
  auto c32 = [&](int64_t v) { return i32c(b, loc, v); };
  unsigned emask = (1u << fmt.ebits) - 1, mmask = (1u << fmt.mbits) - 1;
  Value sign = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, c, c32(fmt.ebits + fmt.mbits)),
      c32(1));
  Value e = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, c, c32(fmt.mbits)), c32(emask));
  Value m = arith::AndIOp::create(b, loc, c, c32(mmask));
  // Normal: 1.m * 2^(e - bias), built as f32 bits.
  Value expBits = arith::ShLIOp::create(
      b, loc, arith::AddIOp::create(b, loc, e, c32(127 - fmt.bias)), c32(23));
  Value manBits = arith::ShLIOp::create(b, loc, m, c32(23 - fmt.mbits));
  Value normal =
      bitsToF32(b, loc, arith::OrIOp::create(b, loc, expBits, manBits));
  // Subnormal: m * 2^(1 - bias - mbits).
  Value sub = arith::MulFOp::create(
      b, loc, arith::UIToFPOp::create(b, loc, b.getF32Type(), m),
      fconst(b, loc, b.getF32Type(),
             std::ldexp(1.0, 1 - fmt.bias - int(fmt.mbits))));
  Value isSub =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, c32(0));
  Value mag = arith::SelectOp::create(b, loc, isSub, sub, normal);
  Type f32 = b.getF32Type();
  if (fmt.special == S::Ieee) {
    Value top =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, c32(emask));
    Value mz =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, m, c32(0));
    Value special = arith::SelectOp::create(b, loc, mz, fconst(b, loc, f32, INFINITY),
                                            fconst(b, loc, f32, NAN));
    mag = arith::SelectOp::create(b, loc, top, special, mag);
  } else if (fmt.special == S::NanOnly) {
    Value low = arith::AndIOp::create(b, loc, c,
                                      c32((1u << (fmt.width() - 1)) - 1));
    Value isNan = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, low,
                                        c32((emask << fmt.mbits) | mmask));
    mag = arith::SelectOp::create(b, loc, isNan, fconst(b, loc, f32, NAN), mag);
  }
  Value neg =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, sign, c32(0));
  return arith::SelectOp::create(b, loc, neg, arith::NegFOp::create(b, loc, mag),
                                 mag);
}

/// Round-to-nearest-even, saturating encoding of f32 `v` as a minifloat code
/// (i32), with formats.h's NaN/Inf rules.
Value encodeMiniFloat(OpBuilder &b, Location loc, Value v,
                      const MiniFloat &fmt) {
  using S = MiniFloat::Special;
  auto c32 = [&](int64_t x) { return i32c(b, loc, x); };
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  int minExp = 1 - fmt.bias;
  double maxFinite = 0;
  {
    unsigned e = fmt.maxCode >> fmt.mbits, m = fmt.maxCode & ((1u << fmt.mbits) - 1);
    maxFinite = std::ldexp(double(m | (1u << fmt.mbits)),
                           int(e) - fmt.bias - int(fmt.mbits));
  }
  Value bits = arith::BitcastOp::create(b, loc, i32, v);
  Value signCode = arith::ShLIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, bits, c32(31)),
      c32(fmt.width() - 1));
  Value a = math::AbsFOp::create(b, loc, v);
  Value abits = arith::BitcastOp::create(b, loc, i32, a);
  Value exp = arith::SubIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, abits, c32(23)), c32(127));
  exp = arith::MaxSIOp::create(b, loc, exp, c32(minExp));
  // a * 2^(mbits - exp): exact, lands in [0, 2^(mbits+1)].
  Value pow = bitsToF32(
      b, loc,
      arith::ShLIOp::create(
          b, loc,
          arith::SubIOp::create(b, loc, c32(int(fmt.mbits) + 127), exp),
          c32(23)));
  Value qf = math::RoundEvenOp::create(b, loc, arith::MulFOp::create(b, loc, a, pow));
  Value q = arith::FPToUIOp::create(b, loc, i32, qf);
  // ((exp + bias - 1) << mbits) + q covers subnormals, normals and the carry
  // into the next binade alike.
  Value code = arith::AddIOp::create(
      b, loc,
      arith::ShLIOp::create(
          b, loc, arith::AddIOp::create(b, loc, exp, c32(fmt.bias - 1)),
          c32(fmt.mbits)),
      q);
  Value sat = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, a,
                                    fconst(b, loc, f32, maxFinite));
  code = arith::SelectOp::create(b, loc, sat, c32(fmt.maxCode), code);
  if (fmt.special == S::Ieee) {
    Value isInf = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, a,
                                        fconst(b, loc, f32, INFINITY));
    unsigned infCode = ((1u << fmt.ebits) - 1) << fmt.mbits;
    code = arith::SelectOp::create(b, loc, isInf, c32(infCode), code);
  }
  code = arith::OrIOp::create(b, loc, code, signCode);
  Value isNan =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, v, v);
  return arith::SelectOp::create(b, loc, isNan, c32(fmt.nanCode), code);
}

/// 2^(c - 127) for an E8M0 code `c` (i32); 255 is NaN, 0 is 2^-127.
Value decodeE8M0(OpBuilder &b, Location loc, Value c) {
  Value normal = arith::ShLIOp::create(b, loc, c, i32c(b, loc, 23));
  Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, c,
                                       i32c(b, loc, 0));
  Value isNan = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, c,
                                      i32c(b, loc, 255));
  Value bits = arith::SelectOp::create(b, loc, isZero,
                                       i32c(b, loc, 0x00400000), normal);
  bits = arith::SelectOp::create(b, loc, isNan, i32c(b, loc, 0x7FC00000), bits);
  return bitsToF32(b, loc, bits);
}

/// The f32 value of one scale element, whatever its type.
Value scaleToF32(OpBuilder &b, Location loc, Value s) {
  Type t = s.getType();
  if (isa<Float8E8M0FNUType>(t))
    return decodeE8M0(b, loc, codeBits(b, loc, s));
  if (auto mini = getMiniFloat(t))
    return decodeMiniFloat(b, loc, codeBits(b, loc, s), *mini);
  return castFloat(b, loc, s, b.getF32Type());
}

/// The map from the quantized tensor's loops to the scale (and zero-point)
/// tensor: dim i floordiv block size i, or 0 where one scale spans the dim.
AffineMap scaleMap(MLIRContext *ctx, SchemeAttr scheme,
                   ArrayRef<int64_t> shape, RankedTensorType scalesTy) {
  unsigned rank = shape.size();
  if (scalesTy.getRank() == 0)
    return AffineMap::get(rank, 0, {}, ctx);
  SmallVector<int64_t> block = scheme.getBlockShape(shape);
  SmallVector<AffineExpr> exprs;
  for (unsigned i = 0; i < rank; ++i) {
    AffineExpr d = getAffineDimExpr(i, ctx);
    if (scalesTy.getDimSize(i) == 1 || ShapedType::isDynamic(block[i]))
      exprs.push_back(getAffineConstantExpr(0, ctx));
    else if (block[i] == 1)
      exprs.push_back(d);
    else
      exprs.push_back(d.floorDiv(block[i]));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// A map from `rank` loops to element 0 of a one-element tensor of rank `r`.
AffineMap zeroMap(MLIRContext *ctx, unsigned rank, unsigned r) {
  SmallVector<AffineExpr> exprs(r, getAffineConstantExpr(0, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// A zero point as i32: zero-extended when it is no wider than the codes
/// (it shares their unsigned range), sign-extended otherwise.
Value zeroPointToI32(OpBuilder &b, Location loc, Value zp, unsigned codeBits) {
  unsigned w = zp.getType().getIntOrFloatBitWidth();
  if (w == 32)
    return zp;
  if (w > 32)
    return arith::TruncIOp::create(b, loc, b.getI32Type(), zp);
  if (w <= codeBits)
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), zp);
  return arith::ExtSIOp::create(b, loc, b.getI32Type(), zp);
}

/// Operands and maps shared by quantize and dequantize lowerings.
struct CodecOperands {
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  int zpIdx = -1, gsIdx = -1;
};

CodecOperands codecOperands(OpBuilder &b, Value data, Value scales, Value zp,
                            Value gs, SchemeAttr scheme,
                            ArrayRef<int64_t> shape) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = shape.size();
  CodecOperands ops;
  ops.inputs = {data, scales};
  auto scalesTy = cast<RankedTensorType>(scales.getType());
  AffineMap sMap = scaleMap(ctx, scheme, shape, scalesTy);
  ops.maps = {b.getMultiDimIdentityMap(rank), sMap};
  if (zp) {
    ops.zpIdx = ops.inputs.size();
    ops.inputs.push_back(zp);
    ops.maps.push_back(scaleMap(ctx, scheme, shape,
                                cast<RankedTensorType>(zp.getType())));
  }
  if (gs) {
    ops.gsIdx = ops.inputs.size();
    ops.inputs.push_back(gs);
    ops.maps.push_back(
        zeroMap(ctx, rank, cast<RankedTensorType>(gs.getType()).getRank()));
  }
  ops.maps.push_back(b.getMultiDimIdentityMap(rank));
  return ops;
}

/// The f32 NF4 codebook of <lq_rt/formats.h> as a constant tensor.
Value nf4Table(OpBuilder &b, Location loc) {
  auto ty = RankedTensorType::get({16}, b.getF32Type());
  return arith::ConstantOp::create(
      b, loc, ty,
      DenseElementsAttr::get(ty, ArrayRef<float>(lq_nf4_codebook, 16)));
}

/// result = (decode(code) - zp) * scale [* global scale], in f32.
struct DequantizeLowering : LQPattern<DequantizeOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(DequantizeOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    SchemeAttr scheme = op.getScheme();
    RankedTensorType quantTy = op.getInput().getType();
    RankedTensorType resTy = op.getResult().getType();
    Type elt = resTy.getElementType(), f32 = rewriter.getF32Type();
    Type storage = quantTy.getElementType();
    unsigned bits = scheme.getCodeBits();
    Format format = scheme.getFormat();
    std::optional<MiniFloat> mini = getMiniFloat(storage);
    if (format != Format::Int && format != Format::NF4 &&
        format != Format::BF16 && !mini)
      return rewriter.notifyMatchFailure(op, "unknown storage type");

    CodecOperands ops = codecOperands(
        rewriter, adaptor.getInput(), adaptor.getScales(),
        adaptor.getZeroPoint(), adaptor.getGlobalScale(), scheme,
        quantTy.getShape());
    Value table = format == Format::NF4 ? nf4Table(rewriter, loc) : Value();
    Value init = emptyTensor(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, adaptor.getInput()),
        elt);
    Value out = generic(
        rewriter, loc, init, ops.inputs, ops.maps,
        iterators(quantTy.getRank()),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value code = a[0];
          Value scale = scaleToF32(b, l, a[1]);
          Value v;
          if (format == Format::Int) {
            Value q = scheme.getSymmetric()
                          ? arith::ExtSIOp::create(b, l, b.getI32Type(), code)
                                .getResult()
                          : codeBits(b, l, code);
            if (ops.zpIdx >= 0)
              q = arith::SubIOp::create(
                  b, l, q, zeroPointToI32(b, l, a[ops.zpIdx], bits));
            v = arith::SIToFPOp::create(b, l, f32, q);
          } else if (format == Format::NF4) {
            Value i = arith::IndexCastUIOp::create(b, l, b.getIndexType(),
                                                   codeBits(b, l, code));
            v = tensor::ExtractOp::create(b, l, table, ValueRange{i});
          } else if (format == Format::BF16) {
            // Exact: the code is the top half of the f32.
            v = bitsToF32(b, l,
                          arith::ShLIOp::create(b, l, codeBits(b, l, code),
                                                i32c(b, l, 16)));
          } else {
            v = decodeMiniFloat(b, l, codeBits(b, l, code), *mini);
          }
          if (ops.gsIdx >= 0)
            scale = arith::MulFOp::create(
                b, l, scale, castFloat(b, l, a[ops.gsIdx], f32));
          v = arith::MulFOp::create(b, l, v, scale);
          return castFloat(b, l, v, elt);
        });
    return castTensor(rewriter, loc, out, resTy);
  }
};

/// codes = encode(x / scale [/ global scale] + zp), rounding half to even and
/// saturating, with the scale == 0 and NaN rules of <lq_rt/formats.h>.
struct QuantizeLowering : LQPattern<QuantizeOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(QuantizeOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    SchemeAttr scheme = op.getScheme();
    RankedTensorType quantTy = op.getResult().getType();
    RankedTensorType loweredTy = stripScheme(quantTy);
    Type storage = quantTy.getElementType(), f32 = rewriter.getF32Type();
    Type i32 = rewriter.getI32Type();
    unsigned bits = scheme.getCodeBits();
    Format format = scheme.getFormat();
    std::optional<MiniFloat> mini = getMiniFloat(storage);
    if (format != Format::Int && format != Format::NF4 &&
        format != Format::BF16 && !mini)
      return rewriter.notifyMatchFailure(op, "unknown storage type");

    CodecOperands ops = codecOperands(
        rewriter, adaptor.getInput(), adaptor.getScales(),
        adaptor.getZeroPoint(), adaptor.getGlobalScale(), scheme,
        quantTy.getShape());
    Value init = emptyTensor(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, adaptor.getInput()),
        storage);
    Value out = generic(
        rewriter, loc, init, ops.inputs, ops.maps,
        iterators(quantTy.getRank()),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value x = castFloat(b, l, a[0], f32);
          Value scale = scaleToF32(b, l, a[1]);
          if (ops.gsIdx >= 0)
            scale = arith::MulFOp::create(
                b, l, scale, castFloat(b, l, a[ops.gsIdx], f32));
          Value zero = fconst(b, l, f32, 0.0);
          Value scaleIsZero = arith::CmpFOp::create(
              b, l, arith::CmpFPredicate::OEQ, scale, zero);
          Value v = arith::DivFOp::create(b, l, x, scale);
          Value code;
          if (format == Format::Int) {
            bool sym = scheme.getSymmetric();
            int64_t qmin = lq_int_qmin(bits, sym), qmax = lq_int_qmax(bits, sym);
            Value zp = ops.zpIdx >= 0
                           ? arith::SIToFPOp::create(
                                 b, l, f32,
                                 zeroPointToI32(b, l, a[ops.zpIdx], bits))
                                 .getResult()
                           : zero;
            Value q = arith::AddFOp::create(
                b, l, math::RoundEvenOp::create(b, l, v), zp);
            Value missing = arith::OrIOp::create(
                b, l, scaleIsZero,
                arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, v, v));
            q = arith::SelectOp::create(b, l, missing, zp, q);
            q = arith::MaximumFOp::create(b, l, q, fconst(b, l, f32, qmin));
            q = arith::MinimumFOp::create(b, l, q, fconst(b, l, f32, qmax));
            code = arith::FPToSIOp::create(b, l, i32, q);
          } else {
            v = arith::SelectOp::create(b, l, scaleIsZero, zero, v);
            if (format == Format::NF4) {
              // Index of the nearest codebook entry: the number of midpoints
              // below v, compared in f64 as the reference does (a tie keeps
              // the lower index); NaN gives the 0.0 entry.
              Type f64 = b.getF64Type();
              Value vd = arith::ExtFOp::create(b, l, f64, v);
              code = i32c(b, l, 0);
              for (int i = 0; i < 15; ++i) {
                double mid = (double(lq_nf4_codebook[i]) +
                              double(lq_nf4_codebook[i + 1])) /
                             2.0;
                Value above = arith::CmpFOp::create(
                    b, l, arith::CmpFPredicate::OGT, vd, fconst(b, l, f64, mid));
                code = arith::AddIOp::create(
                    b, l, code, arith::ExtUIOp::create(b, l, i32, above));
              }
              Value isNan =
                  arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, v, v);
              code = arith::SelectOp::create(b, l, isNan, i32c(b, l, 7), code);
            } else if (format == Format::BF16) {
              // lq_bf16_from_f32: round the low 16 bits to nearest even
              // (bits + 0x7FFF + bit 16), NaN -> its top half, quieted.
              Value u = arith::BitcastOp::create(b, l, i32, v);
              Value hi = arith::ShRUIOp::create(b, l, u, i32c(b, l, 16));
              Value odd = arith::AndIOp::create(b, l, hi, i32c(b, l, 1));
              Value r = arith::AddIOp::create(
                  b, l, u, arith::AddIOp::create(b, l, odd, i32c(b, l, 0x7FFF)));
              r = arith::ShRUIOp::create(b, l, r, i32c(b, l, 16));
              Value qnan = arith::OrIOp::create(b, l, hi, i32c(b, l, 0x40));
              Value isNan =
                  arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, v, v);
              code = arith::SelectOp::create(b, l, isNan, qnan, r);
            } else {
              code = encodeMiniFloat(b, l, v, *mini);
            }
          }
          Value narrow =
              arith::TruncIOp::create(b, l, b.getIntegerType(bits), code);
          if (isa<FloatType>(storage))
            narrow = arith::BitcastOp::create(b, l, storage, narrow);
          return narrow;
        });
    return castTensor(rewriter, loc, out, loweredTy);
  }
};

//===----------------------------------------------------------------------===//
// lq.pack_codes / lq.unpack_codes
//===----------------------------------------------------------------------===//

/// `[..., D]` -> `[..., D/2, 2]`: the two codes of each byte side by side.
SmallVector<ReassociationIndices> pairDims(int64_t rank) {
  SmallVector<ReassociationIndices> r;
  for (int64_t i = 0; i + 1 < rank; ++i)
    r.push_back({i});
  r.push_back({rank - 1, rank});
  return r;
}

/// byte = code[2j] | code[2j+1] << 4 over the codes viewed as [..., D/2, 2].
struct PackCodesLowering : LQPattern<PackCodesOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(PackCodesOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto codesTy = cast<RankedTensorType>(adaptor.getInput().getType());
    auto outTy = op.getResult().getType();
    const int64_t rank = codesTy.getRank();
    SmallVector<int64_t> pairShape(outTy.getShape());
    pairShape.push_back(2);
    Value pairs = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get(pairShape, codesTy.getElementType()),
        adaptor.getInput(), pairDims(rank));
    auto half = [&](int64_t which) -> Value {
      SmallVector<OpFoldResult> offsets(rank + 1, rewriter.getIndexAttr(0));
      offsets.back() = rewriter.getIndexAttr(which);
      SmallVector<OpFoldResult> sizes, strides(rank + 1, rewriter.getIndexAttr(1));
      for (int64_t d : outTy.getShape())
        sizes.push_back(rewriter.getIndexAttr(d));
      sizes.push_back(rewriter.getIndexAttr(1));
      auto sliceTy = RankedTensorType::get(outTy.getShape(), codesTy.getElementType());
      return tensor::ExtractSliceOp::create(rewriter, loc, sliceTy, pairs,
                                            offsets, sizes, strides);
    };
    Value init = tensor::EmptyOp::create(rewriter, loc, outTy.getShape(),
                                         rewriter.getI8Type());
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, op.getContext());
    return generic(rewriter, loc, init, ValueRange{half(0), half(1)},
                   {id, id, id}, iterators(rank),
                   [](OpBuilder &b, Location l, ValueRange a) -> Value {
                     Value mask = i32c(b, l, 0xF);
                     Value lo = arith::AndIOp::create(b, l, codeBits(b, l, a[0]), mask);
                     Value hi = arith::AndIOp::create(b, l, codeBits(b, l, a[1]), mask);
                     hi = arith::ShLIOp::create(b, l, hi, i32c(b, l, 4));
                     Value v = arith::OrIOp::create(b, l, lo, hi);
                     return arith::TruncIOp::create(b, l, b.getI8Type(), v);
                   });
  }
};

//===----------------------------------------------------------------------===//
// KV window (KIVI's float residual)
//===----------------------------------------------------------------------===//

/// The four loop indices (b, h, s, d) inside a rank-4 linalg.generic body.
std::array<Value, 4> loopIndices4(OpBuilder &b, Location l) {
  return {linalg::IndexOp::create(b, l, 0), linalg::IndexOp::create(b, l, 1),
          linalg::IndexOp::create(b, l, 2), linalg::IndexOp::create(b, l, 3)};
}

/// result[b, h, j, :] = rows[b, h, t_j, :] for the latest row t_j of the step
/// that maps to slot j, i.e. (position + t_j) mod R == j, else window[j]:
/// with d = (j - position) mod R, a row maps iff d < T, and the latest is
/// t_j = d + R * floor((T - 1 - d) / R).
struct KVWindowAppendLowering : LQPattern<KVWindowAppendOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(KVWindowAppendOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto wTy = op.getWindow().getType();
    const int64_t R = wTy.getDimSize(2), T = op.getRows().getType().getDimSize(2);
    Value rows = adaptor.getRows();
    Value pos = arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                           adaptor.getPosition());
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, op.getContext());
    return generic(
        rewriter, loc, adaptor.getWindow(), ValueRange{}, {id}, iterators(4),
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          auto [bi, hi, j, di] = loopIndices4(b, l);
          Value cR = idx(b, l, R);
          // d = (j - pos mod R + R) mod R, in [0, R)
          Value pm = arith::RemSIOp::create(b, l, pos, cR);
          pm = arith::RemSIOp::create(
              b, l, arith::AddIOp::create(b, l, pm, cR), cR);
          Value d = arith::RemSIOp::create(
              b, l,
              arith::AddIOp::create(b, l, arith::SubIOp::create(b, l, j, pm), cR),
              cR);
          Value written = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                                d, idx(b, l, T));
          // t = d + R * ((T - 1 - d) / R), 0 when nothing maps (unread)
          Value rest = arith::SubIOp::create(b, l, idx(b, l, T - 1), d);
          rest = arith::MaxSIOp::create(b, l, rest, idx(b, l, 0));
          Value t = arith::AddIOp::create(
              b, l, d,
              arith::MulIOp::create(b, l, cR,
                                    arith::DivSIOp::create(b, l, rest, cR)));
          t = arith::SelectOp::create(b, l, written, t, idx(b, l, 0));
          Value row = tensor::ExtractOp::create(b, l, rows,
                                                ValueRange{bi, hi, t, di});
          return arith::SelectOp::create(b, l, written, row, a[0]);
        });
  }
};

/// result[b, h, s, :] = window[b, h, s mod R, :] for end - R <= s < end,
/// else cache[b, h, s, :].
struct KVWindowReadLowering : LQPattern<KVWindowReadOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(KVWindowReadOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto cTy = op.getCache().getType();
    const int64_t R = op.getWindow().getType().getDimSize(2);
    Value window = adaptor.getWindow();
    Value end = arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                           adaptor.getEnd());
    Value init = tensor::EmptyOp::create(rewriter, loc, cTy.getShape(),
                                         rewriter.getF32Type());
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, op.getContext());
    return generic(
        rewriter, loc, init, ValueRange{adaptor.getCache()}, {id, id},
        iterators(4), [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          auto [bi, hi, si, di] = loopIndices4(b, l);
          Value cR = idx(b, l, R);
          Value start = arith::SubIOp::create(b, l, end, cR);
          Value inWindow = arith::AndIOp::create(
              b, l,
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, si, start),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, si, end));
          Value slot = arith::RemSIOp::create(b, l, si, cR);
          Value w = tensor::ExtractOp::create(b, l, window,
                                              ValueRange{bi, hi, slot, di});
          return arith::SelectOp::create(b, l, inWindow, w, a[0]);
        });
  }
};

/// result[b, h, j, :] = window[b, h, (P0 + j) mod W, :] for P0 + j < end,
/// else 0, with P0 = (position / R) * R (KIVI's groups, see the op).
struct KVWindowGroupsLowering : LQPattern<KVWindowGroupsOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(KVWindowGroupsOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resTy = op.getResult().getType();
    const int64_t W = op.getWindow().getType().getDimSize(2),
                  R = int64_t(op.getGroup());
    Value window = adaptor.getWindow();
    Type index = rewriter.getIndexType();
    Value pos = arith::IndexCastOp::create(rewriter, loc, index,
                                           adaptor.getPosition());
    Value end = arith::IndexCastOp::create(rewriter, loc, index,
                                           adaptor.getEnd());
    Value cR = idx(rewriter, loc, R);
    Value p0 = arith::MulIOp::create(
        rewriter, loc, arith::DivSIOp::create(rewriter, loc, pos, cR), cR);
    Value init = tensor::EmptyOp::create(rewriter, loc, resTy.getShape(),
                                         rewriter.getF32Type());
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, op.getContext());
    return generic(
        rewriter, loc, init, ValueRange{}, {id}, iterators(4),
        [&](OpBuilder &b, Location l, ValueRange) -> Value {
          auto [bi, hi, j, di] = loopIndices4(b, l);
          Value u = arith::AddIOp::create(b, l, p0, j);
          Value slot = arith::RemSIOp::create(b, l, u, idx(b, l, W));
          Value v = tensor::ExtractOp::create(b, l, window,
                                              ValueRange{bi, hi, slot, di});
          Value written =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, u, end);
          return arith::SelectOp::create(
              b, l, written, v,
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0f)));
        });
  }
};

/// code[2j + k] = (byte[j] >> 4k) & 0xF over the result viewed as
/// [..., D/2, 2].
struct UnpackCodesLowering : LQPattern<UnpackCodesOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(UnpackCodesOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto bytesTy = op.getInput().getType();
    Type storage = op.getResult().getType().getElementType();
    const int64_t rank = bytesTy.getRank();
    SmallVector<int64_t> pairShape(bytesTy.getShape());
    pairShape.push_back(2);
    Value init = tensor::EmptyOp::create(rewriter, loc, pairShape, storage);
    Value pairs = generic(
        rewriter, loc, init, ValueRange{adaptor.getInput()},
        {prefixMap(ctx, rank + 1, rank),
         AffineMap::getMultiDimIdentityMap(rank + 1, ctx)},
        iterators(rank + 1), [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value k = linalg::IndexOp::create(b, l, rank);
          Value shift = arith::MulIOp::create(
              b, l, arith::IndexCastOp::create(b, l, b.getI32Type(), k),
              i32c(b, l, 4));
          Value v = arith::ShRUIOp::create(b, l, codeBits(b, l, a[0]), shift);
          v = arith::AndIOp::create(b, l, v, i32c(b, l, 0xF));
          Value narrow = arith::TruncIOp::create(b, l, b.getIntegerType(4), v);
          if (isa<FloatType>(storage))
            narrow = arith::BitcastOp::create(b, l, storage, narrow);
          return narrow;
        });
    return Value(tensor::CollapseShapeOp::create(
        rewriter, loc, stripScheme(op.getResult().getType()), pairs,
        pairDims(rank)));
  }
};

/// Dynamic scales: amax of each block of the scheme (a linalg reduction
/// over the input reshaped to [d0/b0, b0, d1/b1, b1, ...]), then the
/// format's rule of ComputeScalesOp elementwise. Static shapes only.
struct ComputeScalesLowering : LQPattern<ComputeScalesOp> {
  using LQPattern::LQPattern;
  FailureOr<Value> lower(ComputeScalesOp op, OpAdaptor adaptor,
                         ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    SchemeAttr scheme = op.getScheme();
    RankedTensorType xTy = op.getInput().getType();
    RankedTensorType sTy = op.getResult().getType();
    if (!xTy.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic input shape");
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    unsigned rank = xTy.getRank();
    SmallVector<int64_t> block = scheme.getBlockShape(xTy.getShape());
    SmallVector<int64_t> expanded, outer;
    SmallVector<ReassociationIndices> reassoc;
    for (unsigned i = 0; i < rank; ++i) {
      int64_t d = xTy.getDimSize(i);
      int64_t bl = ShapedType::isDynamic(block[i]) ? d : block[i];
      expanded.append({d / bl, bl});
      outer.push_back(d / bl);
      reassoc.push_back({int64_t(2 * i), int64_t(2 * i + 1)});
    }
    Value x = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get(expanded, xTy.getElementType()),
        adaptor.getInput(), reassoc);
    // amax over the inner (block) dims; rank-0 for a single tensor scale.
    bool scalar = sTy.getRank() == 0;
    SmallVector<AffineExpr> outExprs;
    SmallVector<IteratorType> its;
    for (unsigned i = 0; i < rank; ++i) {
      if (!scalar)
        outExprs.push_back(getAffineDimExpr(2 * i, ctx));
      its.push_back(scalar ? IteratorType::reduction : IteratorType::parallel);
      its.push_back(IteratorType::reduction);
    }
    SmallVector<int64_t> amaxShape = scalar ? SmallVector<int64_t>{} : outer;
    SmallVector<OpFoldResult> amaxSizes;
    for (int64_t d : amaxShape)
      amaxSizes.push_back(rewriter.getIndexAttr(d));
    Value init = filledTensor(rewriter, loc, amaxSizes, f32, 0.0);
    Value amax = generic(
        rewriter, loc, init, ValueRange{x},
        {rewriter.getMultiDimIdentityMap(2 * rank),
         AffineMap::get(2 * rank, 0, outExprs, ctx)},
        its, [&](OpBuilder &b, Location l, ValueRange a) {
          Value v = math::AbsFOp::create(b, l, castFloat(b, l, a[0], f32));
          return arith::MaximumFOp::create(b, l, a[1], v);
        });

    // The scale rule, elementwise over the scales.
    Format format = scheme.getFormat();
    Type elt = sTy.getElementType();
    SmallVector<Value> inputs{amax};
    unsigned r = amaxShape.size();
    SmallVector<AffineMap> maps{rewriter.getMultiDimIdentityMap(r)};
    if (Value g = adaptor.getGlobalScale()) {
      inputs.push_back(g);
      maps.push_back(
          zeroMap(ctx, r, cast<RankedTensorType>(g.getType()).getRank()));
    }
    maps.push_back(rewriter.getMultiDimIdentityMap(r));
    bool tensorScale = op.isTensorScale();
    auto fmt = static_cast<lq_format_t>(format);
    Value outInit = emptyTensor(rewriter, loc, amaxSizes, elt);
    Value out = generic(
        rewriter, loc, outInit, inputs, maps, iterators(r),
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value m = a[0];
          auto c32 = [&](int64_t v) { return i32c(b, l, v); };
          if (tensorScale) { // lq_nvfp4_tensor_scale
            Value bad = arith::CmpFOp::create(
                b, l, arith::CmpFPredicate::UEQ, m, fconst(b, l, f32, 0.0));
            bad = arith::OrIOp::create(
                b, l, bad,
                arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, m,
                                      fconst(b, l, f32, INFINITY)));
            Value s = arith::DivFOp::create(b, l, m,
                                            fconst(b, l, f32, 448.0 * 6.0));
            return arith::SelectOp::create(b, l, bad, fconst(b, l, f32, 1.0),
                                           s);
          }
          if (format == Format::NVFP4) { // E4M3(amax / 6 / tensor scale)
            Value g = castFloat(b, l, a[1], f32);
            Value v = arith::DivFOp::create(b, l, m, fconst(b, l, f32, 6.0));
            v = arith::DivFOp::create(b, l, v, g);
            Value code = encodeMiniFloat(b, l, v, *getMiniFloat(elt));
            Value narrow = arith::TruncIOp::create(b, l, b.getI8Type(), code);
            return arith::BitcastOp::create(b, l, elt, narrow);
          }
          if (isa<Float8E8M0FNUType>(elt)) { // lq_mx_shared_exponent
            Value bits = arith::BitcastOp::create(b, l, i32, m);
            Value e = arith::AndIOp::create(
                b, l, arith::ShRUIOp::create(b, l, bits, c32(23)), c32(255));
            Value code = arith::MaxSIOp::create(
                b, l,
                arith::SubIOp::create(b, l, e,
                                      c32(lq_format_element_emax(fmt))),
                c32(0));
            Value special = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::eq, e, c32(255));
            code = arith::SelectOp::create(b, l, special, c32(255), code);
            Value narrow = arith::TruncIOp::create(b, l, b.getI8Type(), code);
            return arith::BitcastOp::create(b, l, elt, narrow);
          }
          // int / fp8: amax / qmax, 1 for an all-zero block.
          double qmax = format == Format::Int
                            ? double(lq_int_qmax(scheme.getBits(), 1))
                        : format == Format::FP8E5M2 ? 57344.0
                                                    : 448.0;
          Value s = arith::DivFOp::create(b, l, m, fconst(b, l, f32, qmax));
          Value pos = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT,
                                            s, fconst(b, l, f32, 0.0));
          s = arith::SelectOp::create(b, l, pos, s, fconst(b, l, f32, 1.0));
          return castFloat(b, l, s, elt);
        });
    return castTensor(rewriter, loc, out, sTy);
  }
};

//===----------------------------------------------------------------------===//
// Quantized constants
//===----------------------------------------------------------------------===//

/// Re-types a constant of a quantized tensor type as a plain tensor of the
/// storage type. `dense` values keep their bits; packed `dense_resource` blobs
/// (see lq::buildCodesAttr) are unpacked to one element per code.
struct QuantizedConstantLowering : OpConversionPattern<arith::ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(arith::ConstantOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    RankedTensorType newTy = stripScheme(op.getType());
    if (!newTy)
      return rewriter.notifyMatchFailure(op, "not a quantized constant");
    Attribute value = op.getValue();
    DenseElementsAttr newValue;
    if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
      newValue = DenseElementsAttr::getFromRawBuffer(newTy, dense.getRawData());
    } else if (auto res = dyn_cast<DenseResourceElementsAttr>(value)) {
      AsmResourceBlob *blob = res.getRawHandle().getBlob();
      if (!blob)
        return rewriter.notifyMatchFailure(op, "resource blob is missing");
      ArrayRef<char> data = blob->getData();
      unsigned bits = newTy.getElementType().getIntOrFloatBitWidth();
      size_t n = newTy.getNumElements();
      std::vector<char> codes(n);
      if (data.size() == n) {
        llvm::copy(data, codes.begin());
      } else if (data.size() == lq_packed_size(n, bits)) {
        lq_unpack_bits(reinterpret_cast<const uint8_t *>(data.data()), n, bits,
                       reinterpret_cast<uint8_t *>(codes.data()));
      } else {
        return rewriter.notifyMatchFailure(op, "unexpected blob size");
      }
      newValue = DenseElementsAttr::getFromRawBuffer(newTy, codes);
    }
    if (!newValue)
      return rewriter.notifyMatchFailure(op, "unsupported constant attribute");
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, newTy, newValue);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

/// Any other op (tensor.insert_slice, tensor.concat, bufferization.to_buffer,
/// ...) carrying quantized tensors, e.g. a quantized KV cache, is recreated
/// with the storage types.
struct SchemeTypeConversion : ConversionPattern {
  SchemeTypeConversion(const TypeConverter &converter, MLIRContext *ctx)
      : ConversionPattern(converter, MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}
  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    if (isa<LQDialect>(op->getDialect()) || op->getNumRegions() != 0 ||
        isa<func::FuncOp, func::ReturnOp, func::CallOp>(op))
      return failure();
    SmallVector<Type> types;
    if (failed(getTypeConverter()->convertTypes(op->getResultTypes(), types)))
      return failure();
    OperationState state(op->getLoc(), op->getName(), operands, types,
                         op->getAttrs(), op->getSuccessors());
    rewriter.replaceOp(op, rewriter.create(state)->getResults());
    return success();
  }
};

struct ConvertLQToLinalgPass
    : lq::impl::ConvertLQToLinalgPassBase<ConvertLQToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ModuleOp module = getOperation();

    // Report every op the patterns would refuse, with the reason, rather than
    // a generic legalization failure.
    bool unsupported = false;
    module.walk([&](Operation *op) {
      if (auto reason = unsupportedReason(op)) {
        op->emitOpError() << *reason;
        unsupported = true;
      }
    });
    if (unsupported)
      return signalPassFailure();

    TypeConverter converter;
    populateLQTypeConversions(converter);

    RewritePatternSet patterns(ctx);
    populateLQToLinalgConversionPatterns(patterns);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   converter);
    populateCallOpTypeConversionPattern(patterns, converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    patterns.add<SchemeTypeConversion>(converter, ctx);

    ConversionTarget target(*ctx);
    target.addIllegalDialect<LQDialect>();
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp f) {
      return converter.isSignatureLegal(f.getFunctionType()) &&
             converter.isLegal(&f.getBody());
    });
    target.markUnknownOpDynamicallyLegal(
        [&](Operation *op) { return converter.isLegal(op); });

    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::lq::populateLQTypeConversions(TypeConverter &converter) {
  converter.addConversion([](Type t) { return t; });
  converter.addConversion([](RankedTensorType t) -> std::optional<Type> {
    if (RankedTensorType stripped = stripScheme(t))
      return stripped;
    return std::nullopt;
  });
}

void mlir::lq::populateLQToLinalgConversionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LinearLowering, RMSNormLowering, LayerNormLowering,
               RotaryLowering, AttentionLowering, EmbeddingLowering,
               DequantizeLowering, QuantizeLowering,
               QuantizedConstantLowering, ComputeScalesLowering,
               PackCodesLowering, UnpackCodesLowering, KVWindowAppendLowering,
               KVWindowReadLowering, KVWindowGroupsLowering>(patterns.getContext());
  patterns.add<HadamardLowering>(patterns.getContext());
}
