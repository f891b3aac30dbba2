//===- Emit.cpp - Building blocks for ONNX op translators ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "Emit.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;

namespace lq::onnx_import {

static std::string shapeString(ArrayRef<int64_t> s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      out += ", ";
    out += ShapedType::isDynamic(s[i]) ? "?" : std::to_string(s[i]);
  }
  return out + "]";
}

FailureOr<SmallVector<int64_t>>
broadcastShapes(ArrayRef<ArrayRef<int64_t>> shapes, Location loc) {
  size_t rank = 0;
  for (ArrayRef<int64_t> s : shapes)
    rank = std::max(rank, s.size());
  SmallVector<int64_t> out(rank, 1);
  for (ArrayRef<int64_t> s : shapes) {
    for (size_t j = 0; j < s.size(); ++j) {
      size_t k = rank - s.size() + j;
      int64_t d = s[j];
      if (d == 1)
        continue;
      if (out[k] == 1 || (ShapedType::isDynamic(out[k]) && !ShapedType::isDynamic(d)))
        out[k] = d;
      else if (!ShapedType::isDynamic(d) && out[k] != d) {
        auto diag = emitError(loc) << "shapes ";
        llvm::interleaveComma(shapes, diag,
                              [&](ArrayRef<int64_t> x) { diag << shapeString(x); });
        diag << " do not broadcast";
        return diag;
      }
    }
  }
  return out;
}

SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

HostTensor hostMap(ArrayRef<const HostTensor *> ins, ArrayRef<int64_t> outShape,
                   int outDtype, function_ref<double(ArrayRef<double>)> fn) {
  HostTensor out;
  out.dtype = outDtype;
  out.shape.assign(outShape.begin(), outShape.end());
  int64_t n = out.numel();
  out.data.resize(n);
  size_t rank = outShape.size();
  // Per input: stride per output dim (0 where broadcast).
  SmallVector<SmallVector<int64_t>> bstrides;
  for (const HostTensor *in : ins) {
    SmallVector<int64_t> s = stridesOf(in->shape), bs(rank, 0);
    for (size_t j = 0; j < in->shape.size(); ++j) {
      size_t k = rank - in->shape.size() + j;
      bs[k] = in->shape[j] == 1 ? 0 : s[j];
    }
    bstrides.push_back(bs);
  }
  SmallVector<int64_t> idx(rank, 0);
  SmallVector<double> args(ins.size());
  for (int64_t i = 0; i < n; ++i) {
    for (size_t a = 0; a < ins.size(); ++a) {
      int64_t off = 0;
      for (size_t k = 0; k < rank; ++k)
        off += idx[k] * bstrides[a][k];
      args[a] = ins[a]->data[off];
    }
    out.data[i] = fn(args);
    for (int64_t k = int64_t(rank) - 1; k >= 0; --k) {
      if (++idx[k] < outShape[k])
        break;
      idx[k] = 0;
    }
  }
  return out;
}

HostTensor hostGather(const HostTensor &src, ArrayRef<int64_t> shape,
                      function_ref<int64_t(ArrayRef<int64_t>)> index) {
  HostTensor out;
  out.dtype = src.dtype;
  out.shape.assign(shape.begin(), shape.end());
  int64_t n = out.numel();
  out.data.resize(n);
  SmallVector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    out.data[i] = src.data[index(idx)];
    for (int64_t k = int64_t(shape.size()) - 1; k >= 0; --k) {
      if (++idx[k] < shape[k])
        break;
      idx[k] = 0;
    }
  }
  return out;
}

Value emitEmpty(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elt,
                Value like) {
  SmallVector<Value> dyn;
  for (size_t i = 0; i < shape.size(); ++i)
    if (ShapedType::isDynamic(shape[i]))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  return tensor::EmptyOp::create(b, loc, shape, elt, dyn);
}

Value emitMap(OpBuilder &b, Location loc, ValueRange ins,
              ArrayRef<int64_t> outShape, Type outElt, BodyFn body) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = outShape.size();
  SmallVector<AffineMap> maps;
  SmallVector<Value> dynSizes;
  for (Value in : ins) {
    auto ty = cast<RankedTensorType>(in.getType());
    SmallVector<AffineExpr> exprs;
    for (int64_t j = 0; j < ty.getRank(); ++j) {
      unsigned k = rank - ty.getRank() + j;
      if (ty.getDimSize(j) == 1 && outShape[k] != 1)
        exprs.push_back(getAffineConstantExpr(0, ctx));
      else
        exprs.push_back(getAffineDimExpr(k, ctx));
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  for (unsigned k = 0; k < rank; ++k) {
    if (!ShapedType::isDynamic(outShape[k]))
      continue;
    for (Value in : ins) {
      auto ty = cast<RankedTensorType>(in.getType());
      int64_t j = int64_t(k) - (int64_t(rank) - ty.getRank());
      if (j >= 0 && ty.getDimSize(j) != 1) {
        dynSizes.push_back(tensor::DimOp::create(b, loc, in, j));
        break;
      }
    }
  }
  Value init = tensor::EmptyOp::create(b, loc, outShape, outElt, dynSizes);
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ins, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value r = body(nb, nl, args.drop_back());
        linalg::YieldOp::create(nb, nl, r);
      });
  return generic.getResult(0);
}

Value scalarConst(OpBuilder &b, Location loc, Type elt, double v) {
  if (auto ft = dyn_cast<FloatType>(elt))
    return arith::ConstantOp::create(b, loc, elt, b.getFloatAttr(ft, v));
  return arith::ConstantOp::create(
      b, loc, elt, b.getIntegerAttr(elt, static_cast<int64_t>(v)));
}

FailureOr<Value> emitReshape(OpBuilder &b, Location loc, Value v,
                             ArrayRef<int64_t> shape) {
  auto ty = cast<RankedTensorType>(v.getType());
  if (ty.getShape() == shape)
    return v;
  if (!ty.hasStaticShape() || ShapedType::isDynamicShape(shape))
    return emitError(loc) << "reshape of a dynamically shaped tensor needs "
                             "static shapes; pin input dims with --input-shape";
  Type elt = ty.getElementType();
  Value flat = v;
  int64_t n = ty.getNumElements();
  auto flatTy = RankedTensorType::get({n}, elt);
  if (ty.getRank() == 0)
    flat = tensor::ExpandShapeOp::create(b, loc, flatTy, v,
                                         ArrayRef<ReassociationIndices>{});
  else if (ty.getRank() > 1) {
    ReassociationIndices all;
    for (int64_t i = 0; i < ty.getRank(); ++i)
      all.push_back(i);
    flat = tensor::CollapseShapeOp::create(b, loc, flatTy, v,
                                           ArrayRef<ReassociationIndices>{all});
  }
  auto outTy = RankedTensorType::get(shape, elt);
  if (shape.size() == 1)
    return flat;
  if (shape.empty())
    return Value(tensor::CollapseShapeOp::create(
        b, loc, outTy, flat, ArrayRef<ReassociationIndices>{}));
  ReassociationIndices all;
  for (size_t i = 0; i < shape.size(); ++i)
    all.push_back(i);
  return Value(tensor::ExpandShapeOp::create(
      b, loc, outTy, flat, ArrayRef<ReassociationIndices>{all}));
}

Value convertScalar(OpBuilder &b, Location loc, Value v, Type to,
                    bool srcUnsigned) {
  Type from = v.getType();
  if (from == to)
    return v;
  bool fromF = isa<FloatType>(from), toF = isa<FloatType>(to);
  if (fromF && toF)
    return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
               ? Value(arith::ExtFOp::create(b, loc, to, v))
               : Value(arith::TruncFOp::create(b, loc, to, v));
  if (fromF) {
    if (to.isInteger(1)) {
      Value zero = scalarConst(b, loc, from, 0.0);
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v, zero);
    }
    return arith::FPToSIOp::create(b, loc, to, v);
  }
  if (toF)
    return srcUnsigned || from.isInteger(1)
               ? Value(arith::UIToFPOp::create(b, loc, to, v))
               : Value(arith::SIToFPOp::create(b, loc, to, v));
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (tw == 1) {
    Value zero = scalarConst(b, loc, from, 0);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  }
  if (fw < tw)
    return srcUnsigned || fw == 1 ? Value(arith::ExtUIOp::create(b, loc, to, v))
                                  : Value(arith::ExtSIOp::create(b, loc, to, v));
  return arith::TruncIOp::create(b, loc, to, v);
}

FailureOr<std::vector<uint8_t>> constantBytes(Val &v, Location loc,
                                              StringRef what) {
  if (v.host) {
    std::vector<uint8_t> out;
    out.reserve(v.host->numel());
    for (int64_t i = 0; i < v.host->numel(); ++i)
      out.push_back(v.host->code(i));
    return out;
  }
  if (auto res = dyn_cast_or_null<DenseResourceElementsAttr>(v.weight)) {
    if (AsmResourceBlob *blob = res.getRawHandle().getBlob()) {
      ArrayRef<char> d = blob->getData();
      return std::vector<uint8_t>(d.begin(), d.end());
    }
  }
  return emitError(loc) << what << " must be a constant";
}

} // namespace lq::onnx_import
