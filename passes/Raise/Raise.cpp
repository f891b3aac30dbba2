//===- Raise.cpp - Raise exporter patterns to lq building blocks --*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Exporters (torch.onnx, optimum) decompose RMSNorm, linear layers, RoPE and
// attention into elementwise ops, reductions and matmuls. Quantization passes
// need the building blocks back: which tensor is a weight, which activation
// feeds which linear, where attention reads K and V. The patterns below match
// the decomposed forms as the importer emits them (elementwise
// linalg.generic ops whose body is one arith/math op, linalg.matmul,
// tensor.concat / extract_slice) and rebuild exact equivalents.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <limits>

#define DEBUG_TYPE "lq-raise"

namespace mlir::lq {
#define GEN_PASS_DEF_LQRAISEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

//===----------------------------------------------------------------------===//
// Matchers over the importer's IR
//===----------------------------------------------------------------------===//

/// The values of a constant float tensor, or nullopt.
std::optional<SmallVector<float>> constantFloats(Value v) {
  Attribute attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  SmallVector<float> out;
  if (failed(lq::readFloatElements(attr, out)))
    return std::nullopt;
  return out;
}

/// The value of a constant tensor whose elements are all equal.
std::optional<float> constantSplat(Value v) {
  auto vals = constantFloats(v);
  if (!vals || vals->empty())
    return std::nullopt;
  for (float f : *vals)
    if (f != (*vals)[0])
      return std::nullopt;
  return (*vals)[0];
}

/// An elementwise linalg.generic (all loops parallel) whose body is a single
/// `OpTy` applied to its block arguments; returns its inputs in body order.
template <typename OpTy>
std::optional<SmallVector<Value>> matchElementwise(Value v) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInits() != 1 ||
      g.getNumParallelLoops() != g.getNumLoops())
    return std::nullopt;
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 2)
    return std::nullopt;
  auto op = dyn_cast<OpTy>(body.front());
  auto yield = cast<linalg::YieldOp>(body.back());
  if (!op || yield.getOperand(0) != op->getResult(0))
    return std::nullopt;
  SmallVector<Value> ins;
  for (Value operand : op->getOperands()) {
    auto arg = dyn_cast<BlockArgument>(operand);
    if (!arg || arg.getOwner() != &body ||
        arg.getArgNumber() >= g.getNumDpsInputs())
      return std::nullopt;
    ins.push_back(g.getDpsInputOperand(arg.getArgNumber())->get());
  }
  return ins;
}

/// Both orders of a commutative binary elementwise op.
template <typename OpTy>
std::optional<std::pair<Value, Value>> matchCommutative(Value v, Value known) {
  auto ins = matchElementwise<OpTy>(v);
  if (!ins || ins->size() != 2)
    return std::nullopt;
  if ((*ins)[0] == known)
    return std::make_pair((*ins)[0], (*ins)[1]);
  if ((*ins)[1] == known)
    return std::make_pair((*ins)[1], (*ins)[0]);
  return std::nullopt;
}

/// A new f32 constant of `type` holding `values` (dense when small, blob
/// otherwise, like the importer's weights).
Value makeConstant(PatternRewriter &rewriter, Location loc,
                   RankedTensorType type, ArrayRef<float> values,
                   StringRef name) {
  ElementsAttr attr;
  if (values.size() <= 256) {
    attr = DenseElementsAttr::get(type, values);
  } else {
    AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        ArrayRef<char>(reinterpret_cast<const char *>(values.data()),
                       values.size() * sizeof(float)),
        alignof(uint64_t));
    attr = DenseResourceElementsAttr::get(type, name, std::move(blob));
  }
  return arith::ConstantOp::create(rewriter, loc, type, cast<TypedAttr>(attr));
}

//===----------------------------------------------------------------------===//
// linalg.matmul(x, W const [K, N]) -> lq.linear(x, Wᵀ)
//===----------------------------------------------------------------------===//

struct RaiseLinear : OpRewritePattern<linalg::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::MatmulOp mm,
                                PatternRewriter &rewriter) const override {
    if (!mm.hasPureTensorSemantics() || mm.hasUserDefinedMaps())
      return rewriter.notifyMatchFailure(mm, "not a plain tensor matmul");
    Value x = mm.getDpsInputOperand(0)->get();
    Value w = mm.getDpsInputOperand(1)->get();
    if (!matchPattern(mm.getDpsInitOperand(0)->get(), m_Op<linalg::FillOp>()))
      return rewriter.notifyMatchFailure(mm, "accumulates into a tensor");
    auto fill = mm.getDpsInitOperand(0)->get().getDefiningOp<linalg::FillOp>();
    if (constantSplat(fill.getInputs()[0]).value_or(1.0f) != 0.0f &&
        !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
      return rewriter.notifyMatchFailure(mm, "init is not zero");
    // A quantized weight as QDQ exports write it: DequantizeLinear of the
    // [N, K] codes, then Transpose to MatMul's [K, N]. The dequantized
    // tensor is already lq.linear's weight.
    if (auto tr = w.getDefiningOp<linalg::TransposeOp>()) {
      if (tr.getPermutation() == ArrayRef<int64_t>{1, 0})
        if (auto dq = tr.getInput().getDefiningOp<lq::DequantizeOp>()) {
          rewriter.replaceOpWithNewOp<lq::LinearOp>(mm, mm.getResultTypes()[0],
                                                    x, dq.getResult(), Value());
          return success();
        }
    }
    auto wTy = cast<RankedTensorType>(w.getType());
    if (!wTy.getElementType().isF32() || !wTy.hasStaticShape())
      return rewriter.notifyMatchFailure(mm, "weight is not static f32");
    std::optional<SmallVector<float>> vals = constantFloats(w);
    if (!vals)
      return rewriter.notifyMatchFailure(mm, "weight is not constant");
    int64_t K = wTy.getDimSize(0), N = wTy.getDimSize(1);
    SmallVector<float> t(N * K);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n)
        t[n * K + k] = (*vals)[k * N + n];
    auto wtTy = RankedTensorType::get({N, K}, wTy.getElementType());
    // Tied embeddings: the output projection is the embedding table
    // transposed. Reuse an identical constant rather than storing (and, at
    // run time, streaming) the weights twice.
    Value wt;
    mm->getParentOfType<FunctionOpInterface>()->walk([&](arith::ConstantOp c) {
      if (wt || c.getType() != wtTy)
        return;
      SmallVector<float> other;
      if (succeeded(lq::readFloatElements(c.getValue(), other)) && other == t)
        wt = c.getResult();
    });
    if (wt && !wt.getParentBlock()->findAncestorOpInBlock(*mm)) {
      wt = {};
    }
    if (!wt) {
      std::string name = "weight";
      if (auto res = dyn_cast<DenseResourceElementsAttr>(
              w.getDefiningOp<arith::ConstantOp>().getValue()))
        name = res.getRawHandle().getKey().str();
      wt = makeConstant(rewriter, w.getLoc(), wtTy, t, name);
    }
    rewriter.replaceOpWithNewOp<lq::LinearOp>(mm, mm.getResultTypes()[0], x, wt,
                                              Value());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// x * (1 / sqrt(mean(x^2) + eps)) * gamma -> lq.rms_norm
//===----------------------------------------------------------------------===//

/// `mean(p, axis=-1, keepdims)` as the importer emits ReduceMean: a sum
/// reduction over the last dimension followed by a division by its size.
Value matchMeanLastDim(Value m) {
  auto div = m.getDefiningOp<linalg::GenericOp>();
  if (!div || div.getNumDpsInputs() != 1 ||
      div.getNumParallelLoops() != div.getNumLoops())
    return {};
  Block &body = div.getRegion().front();
  auto d = dyn_cast<arith::DivFOp>(body.front());
  if (!d || body.getOperations().size() != 2 ||
      d.getLhs() != body.getArgument(0))
    return {};
  FloatAttr count;
  if (!matchPattern(d.getRhs(), m_Constant(&count)))
    return {};
  auto red = div.getDpsInputOperand(0)->get().getDefiningOp<linalg::GenericOp>();
  if (!red || red.getNumDpsInputs() != 1 || red.getNumReductionLoops() != 1)
    return {};
  auto iters = red.getIteratorTypesArray();
  if (iters.back() != utils::IteratorType::reduction)
    return {};
  Block &rb = red.getRegion().front();
  auto add = dyn_cast<arith::AddFOp>(rb.front());
  if (!add || rb.getOperations().size() != 2)
    return {};
  Value p = red.getDpsInputOperand(0)->get();
  auto pTy = cast<RankedTensorType>(p.getType());
  if (count.getValueAsDouble() != double(pTy.getShape().back()))
    return {};
  return p;
}

struct RaiseRMSNorm : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp root,
                                PatternRewriter &rewriter) const override {
    Value z = root->getResult(0);
    auto outer = matchElementwise<arith::MulFOp>(z);
    if (!outer || outer->size() != 2)
      return rewriter.notifyMatchFailure(root, "not a multiply");
    auto zTy = cast<RankedTensorType>(z.getType());
    int64_t d = zTy.getShape().back();
    // One side is gamma: a constant [D].
    for (int side = 0; side < 2; ++side) {
      Value gamma = (*outer)[side], y = (*outer)[1 - side];
      auto gTy = cast<RankedTensorType>(gamma.getType());
      if (gTy.getRank() != 1 || gTy.getDimSize(0) != d ||
          !matchPattern(gamma, m_Constant()))
        continue;
      // y = x * r, r = 1/s | rsqrt(e);  or y = x / s.
      Value x, s, e;
      if (auto mul = matchElementwise<arith::MulFOp>(y)) {
        for (int k = 0; k < 2 && !x; ++k) {
          Value r = (*mul)[1 - k];
          if (auto rec = matchElementwise<arith::DivFOp>(r);
              rec && constantSplat((*rec)[0]) == 1.0f) {
            x = (*mul)[k];
            s = (*rec)[1];
          } else if (auto rs = matchElementwise<math::RsqrtOp>(r)) {
            x = (*mul)[k];
            e = (*rs)[0];
          }
        }
      } else if (auto div = matchElementwise<arith::DivFOp>(y)) {
        x = (*div)[0];
        s = (*div)[1];
      }
      if (!x || x.getType() != z.getType())
        continue;
      if (s) {
        auto sq = matchElementwise<math::SqrtOp>(s);
        if (!sq)
          continue;
        e = (*sq)[0];
      }
      auto add = matchElementwise<arith::AddFOp>(e);
      if (!add)
        continue;
      std::optional<float> eps;
      Value mean;
      for (int k = 0; k < 2 && !eps; ++k)
        if ((eps = constantSplat((*add)[1 - k])))
          mean = (*add)[k];
      if (!eps || *eps < 0)
        continue;
      Value p = matchMeanLastDim(mean);
      if (!p)
        continue;
      bool square = false;
      if (auto pw = matchElementwise<math::PowFOp>(p))
        square = (*pw)[0] == x && constantSplat((*pw)[1]) == 2.0f;
      else if (auto sq2 = matchElementwise<arith::MulFOp>(p))
        square = (*sq2)[0] == x && (*sq2)[1] == x;
      if (!square)
        continue;
      rewriter.replaceOpWithNewOp<lq::RMSNormOp>(root, zTy, x, gamma,
                                                 rewriter.getF32FloatAttr(*eps));
      return success();
    }
    return rewriter.notifyMatchFailure(root, "not an RMS norm");
  }
};

//===----------------------------------------------------------------------===//
// x * cos + concat(-x[h:], x[:h]) * sin -> lq.rotary (rotate-half layout)
//===----------------------------------------------------------------------===//

/// If `v` is concat(-x[..., h:2h], x[..., :h]) along the last dim, returns x.
Value matchRotateHalf(Value v) {
  auto cat = v.getDefiningOp<tensor::ConcatOp>();
  if (!cat || cat.getInputs().size() != 2)
    return {};
  auto ty = cast<RankedTensorType>(v.getType());
  if (int64_t(cat.getDim()) != ty.getRank() - 1 || !ty.hasStaticShape())
    return {};
  int64_t d = ty.getShape().back(), h = d / 2;
  auto neg = matchElementwise<arith::NegFOp>(cat.getInputs()[0]);
  if (!neg)
    return {};
  auto hi = (*neg)[0].getDefiningOp<tensor::ExtractSliceOp>();
  auto lo = cat.getInputs()[1].getDefiningOp<tensor::ExtractSliceOp>();
  if (!hi || !lo || hi.getSource() != lo.getSource() ||
      hi.getSource().getType() != ty || !hi.hasUnitStride() ||
      !lo.hasUnitStride())
    return {};
  int64_t r = ty.getRank();
  for (int64_t i = 0; i < r; ++i) {
    int64_t full = ty.getDimSize(i);
    int64_t loOff = lo.getStaticOffsets()[i], hiOff = hi.getStaticOffsets()[i];
    int64_t loSz = lo.getStaticSizes()[i], hiSz = hi.getStaticSizes()[i];
    if (i < r - 1) {
      if (loOff != 0 || hiOff != 0 || loSz != full || hiSz != full)
        return {};
    } else if (loOff != 0 || hiOff != h || loSz != h || hiSz != h) {
      return {};
    }
  }
  return lo.getSource();
}

/// A constant table of `x`'s trailing [T, D] shape whose two halves along D
/// are equal; returns its first half as [T, D/2] values.
std::optional<SmallVector<float>> halfTable(Value table, RankedTensorType xTy) {
  auto tTy = cast<RankedTensorType>(table.getType());
  int64_t t = xTy.getDimSize(xTy.getRank() - 2), d = xTy.getShape().back();
  if (tTy.getNumElements() != t * d || tTy.getShape().back() != d)
    return std::nullopt;
  for (int64_t i = 0; i + 2 < tTy.getRank(); ++i)
    if (tTy.getDimSize(i) != 1)
      return std::nullopt;
  auto vals = constantFloats(table);
  if (!vals)
    return std::nullopt;
  SmallVector<float> half;
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = 0; j < d / 2; ++j) {
      float a = (*vals)[i * d + j], b = (*vals)[i * d + j + d / 2];
      if (a != b)
        return std::nullopt;
      half.push_back(a);
    }
  return half;
}

struct RaiseRotary : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp root,
                                PatternRewriter &rewriter) const override {
    auto sum = matchElementwise<arith::AddFOp>(root->getResult(0));
    if (!sum || sum->size() != 2)
      return rewriter.notifyMatchFailure(root, "not an add");
    auto yTy = cast<RankedTensorType>(root->getResult(0).getType());
    if (yTy.getRank() < 2 || !yTy.hasStaticShape() || yTy.getShape().back() % 2)
      return rewriter.notifyMatchFailure(root, "not [..., T, even D]");
    for (int side = 0; side < 2; ++side) {
      auto rotMul = matchElementwise<arith::MulFOp>((*sum)[side]);
      auto cosMul = matchElementwise<arith::MulFOp>((*sum)[1 - side]);
      if (!rotMul || !cosMul)
        continue;
      for (int k = 0; k < 2; ++k) {
        Value x = matchRotateHalf((*rotMul)[k]);
        if (!x || x.getType() != yTy)
          continue;
        Value sinT = (*rotMul)[1 - k], cosT;
        if ((*cosMul)[0] == x)
          cosT = (*cosMul)[1];
        else if ((*cosMul)[1] == x)
          cosT = (*cosMul)[0];
        else
          continue;
        auto cosH = halfTable(cosT, yTy), sinH = halfTable(sinT, yTy);
        if (!cosH || !sinH)
          continue;
        int64_t t = yTy.getDimSize(yTy.getRank() - 2), h = yTy.getShape().back() / 2;
        auto tabTy = RankedTensorType::get({t, h}, yTy.getElementType());
        Value c = makeConstant(rewriter, root.getLoc(), tabTy, *cosH, "rope_cos");
        Value s = makeConstant(rewriter, root.getLoc(), tabTy, *sinH, "rope_sin");
        rewriter.replaceOpWithNewOp<lq::RotaryOp>(root, yTy, x, c, s,
                                                  /*interleaved=*/false);
        return success();
      }
    }
    return rewriter.notifyMatchFailure(root, "not a rotate-half RoPE");
  }
};

//===----------------------------------------------------------------------===//
// Interleaved RoPE (Meta / llama2.c layout) -> lq.rotary {interleaved}
//===----------------------------------------------------------------------===//

/// `collapse(extract_slice(x5, [..., c], [..., 1]))`: returns x5 and c.
std::optional<std::pair<Value, int64_t>> matchLane(Value v) {
  auto col = v.getDefiningOp<tensor::CollapseShapeOp>();
  if (!col)
    return std::nullopt;
  auto sl = col.getSrc().getDefiningOp<tensor::ExtractSliceOp>();
  if (!sl || !sl.hasUnitStride())
    return std::nullopt;
  auto srcTy = cast<RankedTensorType>(sl.getSource().getType());
  int64_t r = srcTy.getRank();
  if (srcTy.getShape().back() != 2 || !srcTy.hasStaticShape())
    return std::nullopt;
  for (int64_t i = 0; i < r - 1; ++i)
    if (sl.getStaticOffsets()[i] != 0 ||
        sl.getStaticSizes()[i] != srcTy.getDimSize(i))
      return std::nullopt;
  if (sl.getStaticSizes()[r - 1] != 1)
    return std::nullopt;
  return std::make_pair(sl.getSource(), sl.getStaticOffsets()[r - 1]);
}

/// a * b with a == `x` (either order); returns b.
Value mulBy(Value v, Value x) {
  auto m = matchElementwise<arith::MulFOp>(v);
  if (!m || m->size() != 2)
    return {};
  if ((*m)[0] == x)
    return (*m)[1];
  if ((*m)[1] == x)
    return (*m)[0];
  return {};
}

struct RaiseInterleavedRotary : OpRewritePattern<tensor::CollapseShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(tensor::CollapseShapeOp root,
                                PatternRewriter &rewriter) const override {
    auto cat = root.getSrc().getDefiningOp<tensor::ConcatOp>();
    auto outTy = root.getResultType();
    if (!cat || cat.getInputs().size() != 2 || !outTy.hasStaticShape())
      return rewriter.notifyMatchFailure(root, "not concat of two lanes");
    auto catTy = cast<RankedTensorType>(cat.getType());
    int64_t r = catTy.getRank();
    if (int64_t(cat.getDim()) != r - 1 || catTy.getShape().back() != 2 ||
        outTy.getRank() != r - 1)
      return rewriter.notifyMatchFailure(root, "not [..., h, 2] -> [..., 2h]");
    auto lane = [](Value v) -> Value {
      auto e = v.getDefiningOp<tensor::ExpandShapeOp>();
      return e ? e.getSrc() : Value();
    };
    Value re = lane(cat.getInputs()[0]), im = lane(cat.getInputs()[1]);
    if (!re || !im)
      return rewriter.notifyMatchFailure(root, "lanes are not expanded");
    // re = xr*c - xi*s ; im = xr*s + xi*c (either operand order).
    auto sub = matchElementwise<arith::SubFOp>(re);
    auto add = matchElementwise<arith::AddFOp>(im);
    if (!sub || !add)
      return rewriter.notifyMatchFailure(root, "not a rotation");
    auto mulIns = matchElementwise<arith::MulFOp>((*sub)[0]);
    if (!mulIns)
      return rewriter.notifyMatchFailure(root, "not a rotation");
    for (int k = 0; k < 2; ++k) {
      Value xr = (*mulIns)[k], c = (*mulIns)[1 - k];
      auto laneR = matchLane(xr);
      if (!laneR || laneR->second != 0)
        continue;
      Value x5 = laneR->first;
      auto subR = matchElementwise<arith::MulFOp>((*sub)[1]);
      if (!subR)
        continue;
      Value xi, s;
      for (int j = 0; j < 2; ++j) {
        auto l = matchLane((*subR)[j]);
        if (l && l->first == x5 && l->second == 1) {
          xi = (*subR)[j];
          s = (*subR)[1 - j];
        }
      }
      if (!xi)
        continue;
      // im must be xr*s + xi*c.
      bool ok = false;
      for (int j = 0; j < 2 && !ok; ++j)
        ok = mulBy((*add)[j], xr) == s && mulBy((*add)[1 - j], xi) == c;
      if (!ok || !matchPattern(c, m_Constant()) || !matchPattern(s, m_Constant()))
        continue;
      // Tables: all dims 1 except the position dim and the last (h).
      auto xTy = cast<RankedTensorType>(xr.getType());
      auto cTy = cast<RankedTensorType>(c.getType());
      if (cTy != s.getType() || cTy.getRank() > xTy.getRank())
        continue;
      int64_t h = xTy.getShape().back(), xr4 = xTy.getRank();
      int64_t tDim = xr4 - 2;
      int64_t off = xr4 - cTy.getRank();
      bool shapeOk = cTy.getShape().back() == h;
      for (int64_t i = 0; i + 1 < cTy.getRank(); ++i)
        if (cTy.getDimSize(i) != 1) {
          if (cTy.getDimSize(i) != xTy.getDimSize(i + off))
            shapeOk = false;
          tDim = i + off;
        }
      auto cv = constantFloats(c), sv = constantFloats(s);
      if (!shapeOk || !cv || !sv)
        continue;
      int64_t t = xTy.getDimSize(tDim);
      if (int64_t(cv->size()) != t * h)
        continue;
      Location loc = root.getLoc();
      auto tabTy = RankedTensorType::get({t, h}, xTy.getElementType());
      Value cosT = makeConstant(rewriter, loc, tabTy, *cv, "rope_cos");
      Value sinT = makeConstant(rewriter, loc, tabTy, *sv, "rope_sin");
      // x in [..., 2h] layout: merge the last two dims of x5.
      SmallVector<ReassociationIndices> reassoc;
      for (int64_t i = 0; i < r - 2; ++i)
        reassoc.push_back({i});
      reassoc.push_back({r - 2, r - 1});
      Value x = tensor::CollapseShapeOp::create(rewriter, loc, outTy, x5, reassoc);
      // lq.rotary wants positions at dim -2: swap them there and back.
      SmallVector<int64_t> perm;
      for (int64_t i = 0; i < r - 1; ++i)
        perm.push_back(i);
      std::swap(perm[tDim], perm[r - 3]);
      auto transpose = [&](Value v) -> Value {
        if (tDim == r - 3)
          return v;
        auto vTy = cast<RankedTensorType>(v.getType());
        SmallVector<int64_t> shape;
        for (int64_t i : perm)
          shape.push_back(vTy.getDimSize(i));
        Value init = tensor::EmptyOp::create(rewriter, loc, shape,
                                             vTy.getElementType());
        return linalg::TransposeOp::create(rewriter, loc, v, init, perm)
            .getResult()[0];
      };
      Value xt = transpose(x);
      Value rot = lq::RotaryOp::create(rewriter, loc, xt.getType(), xt, cosT,
                                       sinT, /*interleaved=*/true);
      rewriter.replaceOp(root, transpose(rot));
      return success();
    }
    return rewriter.notifyMatchFailure(root, "not an interleaved RoPE");
  }
};

//===----------------------------------------------------------------------===//
// softmax(Q Kᵀ * scale + mask) V -> lq.attention
//===----------------------------------------------------------------------===//

/// A 4-D batched matmul as the importer emits it: (b, h, m, k) x (b, h, k, n).
std::optional<std::pair<Value, Value>> matchBatchMatmul(Value v) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInputs() != 2 || g.getNumLoops() != 5 ||
      g.getNumReductionLoops() != 1)
    return std::nullopt;
  MLIRContext *ctx = g.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  SmallVector<AffineMap> want = {
      AffineMap::get(5, 0, {d(0), d(1), d(2), d(4)}, ctx),
      AffineMap::get(5, 0, {d(0), d(1), d(4), d(3)}, ctx),
      AffineMap::get(5, 0, {d(0), d(1), d(2), d(3)}, ctx)};
  if (g.getIndexingMapsArray() != want)
    return std::nullopt;
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 3 || !isa<arith::MulFOp>(body.front()) ||
      !isa<arith::AddFOp>(*std::next(body.begin())))
    return std::nullopt;
  auto fill = g.getDpsInitOperand(0)->get().getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return std::nullopt;
  return std::make_pair(g.getDpsInputOperand(0)->get(),
                        g.getDpsInputOperand(1)->get());
}

Value skipReshapes(Value v) {
  while (true) {
    if (auto c = v.getDefiningOp<tensor::CollapseShapeOp>())
      v = c.getSrc();
    else if (auto e = v.getDefiningOp<tensor::ExpandShapeOp>())
      v = e.getSrc();
    else
      return v;
  }
}

/// Undoes GQA's repeat_kv (Unsqueeze -> Expand -> Reshape): returns the
/// [B, Hkv, S, D] tensor whose heads `v` ([B, Hkv*rep, S, D]) repeats, or
/// `v` itself.
Value unrepeatKV(Value v) {
  auto vTy = cast<RankedTensorType>(v.getType());
  auto g = skipReshapes(v).getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInputs() != 1 || g.getNumLoops() != 5 ||
      g.getNumParallelLoops() != 5)
    return v;
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 1 ||
      cast<linalg::YieldOp>(body.back()).getOperand(0) != body.getArgument(0))
    return v;
  AffineMap inMap = g.getIndexingMapsArray()[0];
  MLIRContext *ctx = g.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  if (inMap != AffineMap::get(5, 0,
                              {d(0), d(1), getAffineConstantExpr(0, ctx), d(3), d(4)},
                              ctx))
    return v;
  Value kv = skipReshapes(g.getDpsInputOperand(0)->get());
  auto kvTy = cast<RankedTensorType>(kv.getType());
  auto gTy = cast<RankedTensorType>(g->getResult(0).getType());
  if (kvTy.getRank() != 4 || !kvTy.hasStaticShape() || !vTy.hasStaticShape())
    return v;
  int64_t rep = gTy.getDimSize(2);
  if (kvTy.getDimSize(0) != vTy.getDimSize(0) ||
      kvTy.getDimSize(1) * rep != vTy.getDimSize(1) ||
      kvTy.getDimSize(2) != vTy.getDimSize(2) ||
      kvTy.getDimSize(3) != vTy.getDimSize(3) ||
      gTy.getDimSize(1) != kvTy.getDimSize(1))
    return v;
  return kv;
}

enum class MaskKind { None, Causal, Other };

/// Classifies a constant additive mask over [T, S] scores.
MaskKind classifyMask(ArrayRef<float> m, int64_t t, int64_t s) {
  bool zero = true, causal = true;
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = 0; j < s; ++j) {
      float v = m[i * s + j];
      bool visible = j <= i + (s - t);
      zero &= v == 0.0f;
      causal &= visible ? v == 0.0f : (v <= -1e9f);
    }
  return zero ? MaskKind::None : causal ? MaskKind::Causal : MaskKind::Other;
}

struct RaiseAttention : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp root,
                                PatternRewriter &rewriter) const override {
    Value out = root->getResult(0);
    auto pv = matchBatchMatmul(out);
    if (!pv)
      return rewriter.notifyMatchFailure(root, "not a batched matmul");
    auto sm = pv->first.getDefiningOp<linalg::SoftmaxOp>();
    if (!sm || sm.getDimension() != 3)
      return rewriter.notifyMatchFailure(root, "not softmax(..) x V");
    Value scores = sm.getInput();
    auto sTy = cast<RankedTensorType>(scores.getType());
    int64_t t = sTy.getDimSize(2), s = sTy.getDimSize(3);

    // Optional additive mask.
    Value mask;
    MaskKind maskKind = MaskKind::None;
    if (auto add = matchElementwise<arith::AddFOp>(scores)) {
      for (int k = 0; k < 2; ++k) {
        Value m = (*add)[1 - k];
        auto mTy = cast<RankedTensorType>(m.getType());
        if (mTy == sTy || !matchPattern(m, m_Constant()))
          continue;
        auto vals = constantFloats(m);
        if (vals && int64_t(vals->size()) == t * s)
          maskKind = classifyMask(*vals, t, s);
        else
          maskKind = MaskKind::Other;
        mask = m;
        scores = (*add)[k];
        break;
      }
    }
    // Optional scale.
    float scale = 1.0f;
    if (auto div = matchElementwise<arith::DivFOp>(scores)) {
      if (auto c = constantSplat((*div)[1])) {
        scale = 1.0f / *c;
        scores = (*div)[0];
      }
    } else if (auto mul = matchElementwise<arith::MulFOp>(scores)) {
      for (int k = 0; k < 2; ++k)
        if (auto c = constantSplat((*mul)[1 - k])) {
          scale = *c;
          scores = (*mul)[k];
          break;
        }
    }
    auto qk = matchBatchMatmul(scores);
    if (!qk)
      return rewriter.notifyMatchFailure(root, "scores are not Q x K^T");
    auto tr = qk->second.getDefiningOp<linalg::TransposeOp>();
    if (!tr)
      return rewriter.notifyMatchFailure(root, "K is not transposed");
    // Kᵀ = transpose(K', p) is [B, H, D, S]; K = transpose(K', p') with the
    // last two entries of p swapped is [B, H, S, D].
    ArrayRef<int64_t> p = tr.getPermutation();
    SmallVector<int64_t> kPerm = {p[0], p[1], p[3], p[2]};
    Value kIn = tr.getInput();
    if (kPerm != ArrayRef<int64_t>{0, 1, 2, 3}) {
      auto inTy = cast<RankedTensorType>(kIn.getType());
      SmallVector<int64_t> shape;
      for (int64_t i : kPerm)
        shape.push_back(inTy.getDimSize(i));
      Value init = tensor::EmptyOp::create(rewriter, root.getLoc(), shape,
                                           inTy.getElementType());
      kIn = linalg::TransposeOp::create(rewriter, root.getLoc(), kIn, init, kPerm)
                .getResult()[0];
    }
    Value q = qk->first;
    Value k = unrepeatKV(kIn);
    Value v = unrepeatKV(pv->second);
    if (cast<RankedTensorType>(k.getType()).getDimSize(1) !=
        cast<RankedTensorType>(v.getType()).getDimSize(1)) {
      k = kIn;
      v = pv->second;
    }
    Value maskOperand;
    if (maskKind == MaskKind::Other) {
      // lq.attention broadcasts the mask to [B, H, T, S] from the right.
      auto mTy = cast<RankedTensorType>(mask.getType());
      if (mTy.getRank() > 4)
        return rewriter.notifyMatchFailure(root, "mask rank > 4");
      maskOperand = mask;
    }
    auto attn = lq::AttentionOp::create(
        rewriter, root.getLoc(), out.getType(), q, k, v, maskOperand, /*position=*/Value(),
        rewriter.getF32FloatAttr(scale), maskKind == MaskKind::Causal);
    rewriter.replaceOp(root, attn.getResult());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct LQRaisePass : lq::impl::LQRaisePassBase<LQRaisePass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseLinear, RaiseRMSNorm, RaiseRotary, RaiseInterleavedRotary,
                 RaiseAttention>(
        &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
