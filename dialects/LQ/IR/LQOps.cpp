//===- LQOps.cpp - lq operation verifiers -------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

#include <lq_rt/hadamard.h>

using namespace mlir;
using namespace mlir::lq;

#define GET_OP_CLASSES
#include "dialects/LQ/IR/LQOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static bool dimsCompatible(int64_t a, int64_t b) {
  return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b);
}

static bool shapesCompatible(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  return a.size() == b.size() &&
         llvm::all_of(llvm::zip(a, b), [](auto p) {
           return dimsCompatible(std::get<0>(p), std::get<1>(p));
         });
}

/// Formats a shape as "[2, ?, 4]" for diagnostics.
static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string str = "[";
  llvm::raw_string_ostream os(str);
  llvm::interleave(
      shape,
      [&](int64_t d) {
        if (ShapedType::isDynamic(d))
          os << "?";
        else
          os << d;
      },
      [&] { os << ", "; });
  os << "]";
  return str;
}

/// Checks that `scalesTy` has the scale shape of `scheme` for a tensor of
/// `shape` (a rank-0 tensor also stands for one per-tensor scale); `what`
/// names the value in the error.
static LogicalResult verifyScaleShape(Operation *op, SchemeAttr scheme,
                                      ArrayRef<int64_t> shape,
                                      RankedTensorType scalesTy,
                                      StringRef what) {
  bool perTensor = scheme.getGranularity() == SchemeAttr::Granularity::Tensor;
  SmallVector<int64_t> expected = scheme.getScaleShape(shape);
  if (!(perTensor && scalesTy.getRank() == 0) &&
      !shapesCompatible(scalesTy.getShape(), expected))
    return op->emitOpError() << what << " must have shape "
                             << shapeStr(expected) << ", got "
                             << shapeStr(scalesTy.getShape());
  return success();
}

/// Checks the element type of a scheme's (block) scales: E8M0 for the MX
/// formats, E4M3 for NVFP4, a float type for the others.
static LogicalResult verifyScaleElementType(Operation *op, Format format,
                                            Type elt) {
  StringRef name = stringifyFormat(format);
  switch (format) {
  case Format::MXFP4:
  case Format::MXFP6E2M3:
  case Format::MXFP6E3M2:
  case Format::MXFP8E4M3:
  case Format::MXFP8E5M2:
    if (!isa<Float8E8M0FNUType>(elt))
      return op->emitOpError("scales of format '")
             << name << "' must be f8E8M0FNU, got " << elt;
    break;
  case Format::NVFP4:
    if (!isa<Float8E4M3FNType>(elt))
      return op->emitOpError("scales of format '")
             << name << "' must be f8E4M3FN, got " << elt;
    break;
  default:
    if (!isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(elt))
      return op->emitOpError("scales of format '")
             << name << "' must be f16, bf16, f32 or f64, got " << elt;
  }
  return success();
}

/// Checks the scale, zero-point and tensor-scale operands of a quantize or
/// dequantize against the scheme of the quantized side.
static LogicalResult verifyScaleOperands(Operation *op, RankedTensorType floatTy,
                                         RankedTensorType quantTy,
                                         RankedTensorType scalesTy,
                                         Value zeroPoint, Value globalScale) {
  auto scheme = cast<SchemeAttr>(quantTy.getEncoding());
  if (!shapesCompatible(floatTy.getShape(), quantTy.getShape()))
    return op->emitOpError("float shape ")
           << shapeStr(floatTy.getShape()) << " differs from quantized shape "
           << shapeStr(quantTy.getShape());

  if (failed(verifyScaleShape(op, scheme, quantTy.getShape(), scalesTy,
                              "scales")) ||
      failed(verifyScaleElementType(op, scheme.getFormat(),
                                    scalesTy.getElementType())))
    return failure();

  if (scheme.hasZeroPoint() && !zeroPoint)
    return op->emitOpError(
        "asymmetric scheme ('symmetric = false') needs a 'zero_point'");
  if (!scheme.hasZeroPoint() && zeroPoint)
    return op->emitOpError("symmetric scheme takes no 'zero_point'");
  if (zeroPoint) {
    auto zpTy = cast<RankedTensorType>(zeroPoint.getType());
    if (!shapesCompatible(zpTy.getShape(), scalesTy.getShape()))
      return op->emitOpError("'zero_point' shape ")
             << shapeStr(zpTy.getShape()) << " differs from scales shape "
             << shapeStr(scalesTy.getShape());
  }

  if (scheme.hasGlobalScale() && !globalScale)
    return op->emitOpError("format 'nvfp4' needs a 'global_scale'");
  if (!scheme.hasGlobalScale() && globalScale)
    return op->emitOpError("only format 'nvfp4' takes a 'global_scale'");
  if (globalScale) {
    auto gTy = cast<RankedTensorType>(globalScale.getType());
    if (gTy.getNumElements() != 1 || !gTy.getElementType().isF32())
      return op->emitOpError("'global_scale' must be one f32, got ") << gTy;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  return verifyScaleOperands(*this, getInput().getType(), getResult().getType(),
                             getScales().getType(), getZeroPoint(),
                             getGlobalScale());
}

LogicalResult DequantizeOp::verify() {
  return verifyScaleOperands(*this, getResult().getType(), getInput().getType(),
                             getScales().getType(), getZeroPoint(),
                             getGlobalScale());
}

//===----------------------------------------------------------------------===//
// ComputeScalesOp
//===----------------------------------------------------------------------===//

LogicalResult ComputeScalesOp::verify() {
  SchemeAttr scheme = getScheme();
  Format format = scheme.getFormat();
  RankedTensorType xTy = getInput().getType(), sTy = getResult().getType();
  Type elt = sTy.getElementType();
  if (scheme.hasZeroPoint())
    return emitOpError("asymmetric schemes need a zero point: compute_scales "
                       "supports symmetric ones only");
  if (format == Format::NF4)
    return emitOpError("format 'nf4' has no absmax scale rule");
  if (isTensorScale()) {
    if (getGlobalScale())
      return emitOpError("an nvfp4 tensor scale (rank-0 result) takes no "
                         "'global_scale'");
    if (!elt.isF32())
      return emitOpError("an nvfp4 tensor scale must be f32, got ") << elt;
    return success();
  }
  if (failed(scheme.verifyEncoding(
          xTy.getShape(), scheme.getStorageType(getContext()),
          [&] { return emitOpError("scheme does not fit the input: "); })) ||
      failed(verifyScaleShape(*this, scheme, xTy.getShape(), sTy, "result")) ||
      failed(verifyScaleElementType(*this, format, elt)))
    return failure();
  if (scheme.hasGlobalScale() != bool(getGlobalScale()))
    return emitOpError(scheme.hasGlobalScale()
                           ? "nvfp4 block scales need a 'global_scale'"
                           : "only nvfp4 block scales take a 'global_scale'");
  if (getGlobalScale()) {
    auto gTy = cast<RankedTensorType>(getGlobalScale().getType());
    if (gTy.getNumElements() != 1 || !gTy.getElementType().isF32())
      return emitOpError("'global_scale' must be one f32, got ") << gTy;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

/// Checks that `codes` (4-bit, with a scheme) and `bytes` (i8) have the
/// same shape except that the last dimension of `bytes` is half.
static LogicalResult verifyPackedCodes(Operation *op, RankedTensorType codes,
                                       RankedTensorType bytes) {
  if (codes.getElementType().getIntOrFloatBitWidth() != 4)
    return op->emitOpError("packs 4-bit codes, got ") << codes.getElementType();
  if (codes.getRank() < 1 || codes.getRank() != bytes.getRank())
    return op->emitOpError("codes and bytes must have the same rank >= 1");
  for (int64_t d = 0; d < codes.getRank(); ++d) {
    int64_t c = codes.getDimSize(d), b = bytes.getDimSize(d);
    if (ShapedType::isDynamic(c) || ShapedType::isDynamic(b))
      return op->emitOpError("needs static shapes");
    bool last = d + 1 == codes.getRank();
    if (last ? (c % 2 != 0 || b != c / 2) : b != c)
      return op->emitOpError("bytes must have the codes' shape with the last "
                             "dimension halved (an even number of codes), got ")
             << codes << " and " << bytes;
  }
  return success();
}

/// `window` [B, H, R, D] beside `other` [B, H, *, D]: same batch, heads
/// and head dimension, R > 0 (the KV-window ops).
static LogicalResult verifyKVWindow(Operation *op, RankedTensorType window,
                                    RankedTensorType other, StringRef what) {
  if (window.getRank() != 4 || other.getRank() != 4)
    return op->emitOpError("expects rank-4 [B, H, S, D] tensors, got ")
           << window << " and " << other;
  for (int i : {0, 1, 3})
    if (!dimsCompatible(window.getDimSize(i), other.getDimSize(i)))
      return op->emitOpError("window ")
             << window << " and " << what << " " << other << " differ in dimension "
             << i;
  if (window.getDimSize(2) == 0)
    return op->emitOpError("the window must hold at least one position");
  return success();
}

LogicalResult KVWindowAppendOp::verify() {
  return verifyKVWindow(*this, getWindow().getType(), getRows().getType(),
                        "rows");
}

LogicalResult KVWindowReadOp::verify() {
  return verifyKVWindow(*this, getWindow().getType(), getCache().getType(),
                        "cache");
}

LogicalResult KVWindowGroupsOp::verify() {
  RankedTensorType window = getWindow().getType(),
                   result = getResult().getType();
  if (failed(verifyKVWindow(*this, window, result, "result")))
    return failure();
  const int64_t R = getGroup(), W = window.getDimSize(2),
                G = result.getDimSize(2);
  if (!ShapedType::isDynamic(W) && W < R)
    return emitOpError("the window (")
           << W << " slots) must hold a group of " << R << " positions";
  if (!ShapedType::isDynamic(G) && (G == 0 || G % R != 0))
    return emitOpError("result must hold whole groups of ")
           << R << " positions, got " << G;
  return success();
}

LogicalResult PackCodesOp::verify() {
  return verifyPackedCodes(*this, getInput().getType(), getResult().getType());
}

LogicalResult UnpackCodesOp::verify() {
  return verifyPackedCodes(*this, getResult().getType(), getInput().getType());
}

LogicalResult LinearOp::verify() {
  RankedTensorType xTy = getInput().getType(), wTy = getWeight().getType(),
                   yTy = getResult().getType();
  if (xTy.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  if (wTy.getRank() != 2)
    return emitOpError("weight must be [N, K], got rank ") << wTy.getRank();
  if (!dimsCompatible(xTy.getShape().back(), wTy.getDimSize(1)))
    return emitOpError("input feature size ")
           << xTy.getShape().back() << " differs from weight K "
           << wTy.getDimSize(1);
  if (getBias()) {
    auto bTy = cast<RankedTensorType>(getBias().getType());
    if (bTy.getRank() != 1 || !dimsCompatible(bTy.getDimSize(0), wTy.getDimSize(0)))
      return emitOpError("bias must be [N] = ")
             << shapeStr({wTy.getDimSize(0)}) << ", got "
             << shapeStr(bTy.getShape());
  }
  SmallVector<int64_t> expected(xTy.getShape().drop_back());
  expected.push_back(wTy.getDimSize(0));
  if (!shapesCompatible(yTy.getShape(), expected))
    return emitOpError("result must have shape ")
           << shapeStr(expected) << ", got " << shapeStr(yTy.getShape());
  return success();
}

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

static LogicalResult verifyNormParam(Operation *op, RankedTensorType xTy,
                                     Value param, StringRef what) {
  auto pTy = cast<RankedTensorType>(param.getType());
  if (xTy.getRank() < 1)
    return op->emitOpError("input must have rank >= 1");
  if (pTy.getRank() != 1 || !dimsCompatible(pTy.getDimSize(0), xTy.getShape().back()))
    return op->emitOpError("'")
           << what << "' must be [" << xTy.getShape().back() << "], got "
           << shapeStr(pTy.getShape());
  return success();
}

LogicalResult RMSNormOp::verify() {
  if (getEpsilon().isNegative())
    return emitOpError("'epsilon' must be >= 0");
  return verifyNormParam(*this, getInput().getType(), getWeight(), "weight");
}

LogicalResult LayerNormOp::verify() {
  if (getEpsilon().isNegative())
    return emitOpError("'epsilon' must be >= 0");
  if (failed(verifyNormParam(*this, getInput().getType(), getWeight(), "weight")))
    return failure();
  if (getBias())
    return verifyNormParam(*this, getInput().getType(), getBias(), "bias");
  return success();
}

//===----------------------------------------------------------------------===//
// RotaryOp
//===----------------------------------------------------------------------===//

LogicalResult RotaryOp::verify() {
  RankedTensorType xTy = getInput().getType();
  RankedTensorType cosTy = getCos().getType(), sinTy = getSin().getType();
  if (xTy.getRank() < 2)
    return emitOpError("input must be [..., T, D]");
  if (cosTy != sinTy)
    return emitOpError("cos and sin types differ: ") << cosTy << " vs " << sinTy;
  if (cosTy.getRank() != 2)
    return emitOpError("cos and sin must be [T, R], got ")
           << shapeStr(cosTy.getShape());
  int64_t t = xTy.getDimSize(xTy.getRank() - 2), d = xTy.getShape().back();
  if (!dimsCompatible(cosTy.getDimSize(0), t))
    return emitOpError("cos has ") << cosTy.getDimSize(0)
                                   << " positions, input has " << t;
  int64_t r = cosTy.getDimSize(1);
  if (!ShapedType::isDynamic(r) && !ShapedType::isDynamic(d) && 2 * r > d)
    return emitOpError("rotary pairs 2*") << r << " exceed the feature size " << d;
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  RankedTensorType q = getQuery().getType(), k = getKey().getType(),
                   v = getValue().getType(), o = getResult().getType();
  for (auto [ty, name] : {std::pair{q, "query"}, {k, "key"}, {v, "value"}})
    if (ty.getRank() != 4)
      return emitOpError("'") << name << "' must be [B, H, T, D], got rank "
                              << ty.getRank();
  if (!dimsCompatible(q.getDimSize(0), k.getDimSize(0)) ||
      !dimsCompatible(k.getDimSize(0), v.getDimSize(0)))
    return emitOpError("batch sizes of query, key and value differ");
  if (!dimsCompatible(k.getDimSize(1), v.getDimSize(1)))
    return emitOpError("key and value head counts differ");
  int64_t hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      (hkv == 0 || hq % hkv != 0))
    return emitOpError("query heads (")
           << hq << ") must be a multiple of key/value heads (" << hkv << ")";
  if (!dimsCompatible(q.getDimSize(3), k.getDimSize(3)))
    return emitOpError("query and key head sizes differ (")
           << q.getDimSize(3) << " vs " << k.getDimSize(3) << ")";
  if (!dimsCompatible(k.getDimSize(2), v.getDimSize(2)))
    return emitOpError("key and value lengths differ");
  SmallVector<int64_t> expected = {q.getDimSize(0), hq, q.getDimSize(2),
                                   v.getDimSize(3)};
  if (!shapesCompatible(o.getShape(), expected))
    return emitOpError("result must have shape ")
           << shapeStr(expected) << ", got " << shapeStr(o.getShape());
  if (getMask()) {
    auto m = cast<RankedTensorType>(getMask().getType());
    SmallVector<int64_t> full = {q.getDimSize(0), hq, q.getDimSize(2),
                                 k.getDimSize(2)};
    if (m.getRank() > 4)
      return emitOpError("mask rank must be <= 4");
    for (int64_t i = 0; i < m.getRank(); ++i) {
      int64_t md = m.getDimSize(m.getRank() - 1 - i), fd = full[3 - i];
      if (md != 1 && !dimsCompatible(md, fd))
        return emitOpError("mask shape ") << shapeStr(m.getShape())
                                          << " does not broadcast to "
                                          << shapeStr(full);
    }
  }
  if (getScale() && !(getScale()->convertToFloat() > 0.0f))
    return emitOpError("'scale' must be positive");
  return success();
}

float AttentionOp::getEffectiveScale() {
  if (auto s = getScale())
    return s->convertToFloat();
  int64_t d = getQuery().getType().getDimSize(3);
  return ShapedType::isDynamic(d) ? 1.0f : 1.0f / std::sqrt(float(d));
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  RankedTensorType t = getTable().getType(), ids = getIds().getType(),
                   r = getResult().getType();
  if (t.getRank() != 2)
    return emitOpError("table must be [V, D], got rank ") << t.getRank();
  if (t.getElementType() != r.getElementType())
    return emitOpError("result element type ")
           << r.getElementType() << " differs from the table's "
           << t.getElementType();
  SmallVector<int64_t> expected(ids.getShape());
  expected.push_back(t.getDimSize(1));
  if (!shapesCompatible(r.getShape(), expected))
    return emitOpError("result must have shape ")
           << shapeStr(expected) << ", got " << shapeStr(r.getShape());
  return success();
}

//===----------------------------------------------------------------------===//
// HadamardOp
//===----------------------------------------------------------------------===//

int64_t HadamardOp::getBlockSize() {
  int64_t block = getBlock();
  return block > 0 ? block : getInput().getType().getShape().back();
}

LogicalResult HadamardOp::verify() {
  RankedTensorType xTy = getInput().getType();
  if (xTy.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  int64_t n = xTy.getShape().back();
  if (ShapedType::isDynamic(n))
    return emitOpError("the transformed (last) dimension must be static");
  if (getBlock() < 0)
    return emitOpError("'block' must be >= 0, got ") << getBlock();
  int64_t block = getBlockSize();
  if (block == 0 || n % block)
    return emitOpError("'block' ") << block << " does not divide the last dimension " << n;
  if (lq_rt_hadamard_factor(block) == 0) {
    InFlightDiagnostic diag = emitOpError("unsupported Hadamard size ")
                              << block << ": must be 2^k * m with m in {1";
    for (int k = 0; k < LQ_RT_HADAMARD_NUM_ORDERS; ++k)
      diag << ", " << lq_rt_hadamard_orders[k];
    return diag << "}";
  }
  return success();
}
