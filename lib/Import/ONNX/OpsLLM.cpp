//===- OpsLLM.cpp - Norms and quantization ops of ai.onnx and ORT -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Ops that map straight onto lq's building blocks: layer/RMS norms (ONNX-17
// LayerNormalization, ONNX-23 RMSNormalization, ORT's (Skip)Simplified-
// LayerNormalization and SkipLayerNormalization), QuantizeLinear and
// DequantizeLinear (per tensor, per axis, blocked; int/uint 4 and 8, FP8,
// FP4 with E8M0 scales) and ORT's MatMulNBits, which becomes a quantized
// lq.linear: the formats today's compilers cannot import.
//
//===----------------------------------------------------------------------===//

#include "Emit.h"
#include "Ops.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <lq_rt/formats.h>

using namespace mlir;
using namespace ::lq::onnx_import;
namespace lqd = mlir::lq;

namespace {


/// Reshapes a norm's scale/bias to the 1-D [D] lq expects.
FailureOr<Value> normParam(Importer &im, Location loc, Val &p, int64_t d,
                           StringRef what) {
  if (p.type.getNumElements() != d)
    return emitError(loc) << "norm '" << what << "' has "
                          << p.type.getNumElements() << " elements, expected "
                          << d;
  return emitReshape(im.b, loc, im.get(p, loc), {d});
}

LogicalResult checkLastAxis(Importer &, const onnx::NodeProto &node,
                            Location loc, int64_t rank) {
  if (rank == 0)
    return emitError(loc) << "'" << node.op_type() << "' of a scalar";
  int64_t axis = attrInt(node, "axis", -1);
  if (axis < 0)
    axis += rank;
  if (axis != rank - 1)
    return emitError(loc) << "'" << node.op_type()
                          << "' over axis " << axis
                          << " (not the last) is not supported";
  return success();
}

LogicalResult rejectStatOutputs(Importer &im, const onnx::NodeProto &node,
                                Location loc, ArrayRef<int> outputs) {
  for (int o : outputs)
    if (im.hasOutput(node, o))
      return emitError(loc) << "'" << node.op_type() << "' output #" << o
                            << " (normalization statistics) is not supported";
  return success();
}

LogicalResult translateLayerNorm(Importer &im, const onnx::NodeProto &node,
                                 Location loc) {
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(scale, 1);
  if (failed(checkLastAxis(im, node, loc, x.rank())) ||
      failed(rejectStatOutputs(im, node, loc, {1, 2})))
    return failure();
  int64_t d = x.shape().back();
  FailureOr<Value> g = normParam(im, loc, scale, d, "scale");
  if (failed(g))
    return failure();
  Value bias;
  if (im.hasInput(node, 2)) {
    LQ_GET_INPUT(bv, 2);
    FailureOr<Value> bb = normParam(im, loc, bv, d, "bias");
    if (failed(bb))
      return failure();
    bias = *bb;
  }
  Value r = lqd::LayerNormOp::create(
      im.b, loc, x.type, im.get(x, loc), *g, bias,
      im.b.getF32FloatAttr(attrFloat(node, "epsilon", 1e-5f)));
  im.setOutput(node, 0, r, x.dtype);
  return success();
}

LogicalResult translateRMSNorm(Importer &im, const onnx::NodeProto &node,
                               Location loc) {
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(scale, 1);
  if (failed(checkLastAxis(im, node, loc, x.rank())) ||
      failed(rejectStatOutputs(im, node, loc, {1})))
    return failure();
  FailureOr<Value> g = normParam(im, loc, scale, x.shape().back(), "scale");
  if (failed(g))
    return failure();
  Value r = lqd::RMSNormOp::create(
      im.b, loc, x.type, im.get(x, loc), *g,
      im.b.getF32FloatAttr(attrFloat(node, "epsilon", 1e-5f)));
  im.setOutput(node, 0, r, x.dtype);
  return success();
}

/// SkipSimplifiedLayerNormalization / SkipLayerNormalization (com.microsoft):
/// sum = input + skip (+ bias); out = norm(sum); output #3 is the sum.
LogicalResult translateSkipNorm(Importer &im, const onnx::NodeProto &node,
                                Location loc) {
  bool simplified = node.op_type() == "SkipSimplifiedLayerNormalization";
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(skip, 1);
  LQ_GET_INPUT(gamma, 2);
  if (failed(rejectStatOutputs(im, node, loc, {1, 2})) ||
      failed(checkLastAxis(im, node, loc, x.rank())))
    return failure();
  int64_t d = x.shape().back();
  int biasIdx = simplified ? 3 : 4;
  SmallVector<Value> addends = {im.get(x, loc), im.get(skip, loc)};
  if (im.hasInput(node, biasIdx)) {
    LQ_GET_INPUT(bias, biasIdx);
    addends.push_back(im.get(bias, loc));
  }
  SmallVector<ArrayRef<int64_t>> shapes;
  for (Value v : addends)
    shapes.push_back(cast<RankedTensorType>(v.getType()).getShape());
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(shapes, loc);
  if (failed(shape))
    return failure();
  Value sum = emitMap(im.b, loc, addends, *shape, x.type.getElementType(),
                      [](OpBuilder &b, Location l, ValueRange a) -> Value {
                        Value s = arith::AddFOp::create(b, l, a[0], a[1]);
                        if (a.size() > 2)
                          s = arith::AddFOp::create(b, l, s, a[2]);
                        return s;
                      });
  FailureOr<Value> g = normParam(im, loc, gamma, d, "gamma");
  if (failed(g))
    return failure();
  FloatAttr eps = im.b.getF32FloatAttr(attrFloat(node, "epsilon", 1e-5f));
  Value out;
  if (simplified) {
    out = lqd::RMSNormOp::create(im.b, loc, sum.getType(), sum, *g, eps);
  } else {
    Value beta;
    if (im.hasInput(node, 3)) {
      LQ_GET_INPUT(bv, 3);
      FailureOr<Value> bb = normParam(im, loc, bv, d, "beta");
      if (failed(bb))
        return failure();
      beta = *bb;
    }
    out = lqd::LayerNormOp::create(im.b, loc, sum.getType(), sum, *g, beta, eps);
  }
  im.setOutput(node, 0, out, x.dtype);
  im.setOutput(node, 3, sum, x.dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeLinear / DequantizeLinear
//===----------------------------------------------------------------------===//

/// The #lq.scheme of an ONNX Q/DQ pair, plus the scale and zero-point
/// operands reshaped to lq's convention (same rank as the data).
struct QuantOperands {
  lqd::SchemeAttr scheme;
  Value scales;
  Value zeroPoint;
  /// Signed codes of an asymmetric scheme are stored offset by 2^(b-1).
  bool shiftCodes = false;
};

FailureOr<QuantOperands> deriveScheme(Importer &im, const onnx::NodeProto &node,
                                      Location loc, ArrayRef<int64_t> shape,
                                      int codeDtype, Val &scale, Val *zp) {
  QuantOperands q;
  MLIRContext *ctx = im.ctx;
  int64_t rank = shape.size();
  int64_t blockSize = attrInt(node, "block_size", 0);
  int64_t axis = attrInt(node, "axis", 1);
  if (axis < 0)
    axis += rank;
  bool perTensor = scale.type.getNumElements() == 1 && scale.rank() <= 1 &&
                   blockSize == 0;
  if (!perTensor && (axis < 0 || axis >= rank))
    return emitError(loc) << "'axis' " << attrInt(node, "axis", 1)
                          << " is out of range for rank " << rank;

  // Element format.
  lqd::Format format;
  unsigned bits = 0;
  bool e8m0 = scale.dtype == kFloat8E8M0;
  switch (codeDtype) {
  case kInt8: case kUInt8: bits = 8; format = lqd::Format::Int; break;
  case kInt4: case kUInt4: bits = 4; format = lqd::Format::Int; break;
  case kFloat8E4M3FN:
    format = e8m0 ? lqd::Format::MXFP8E4M3 : lqd::Format::FP8E4M3;
    break;
  case kFloat8E5M2:
    format = e8m0 ? lqd::Format::MXFP8E5M2 : lqd::Format::FP8E5M2;
    break;
  case kFloat4E2M1:
    if (!e8m0 || blockSize != 32)
      return emitError(loc)
             << "float4e2m1 data is supported as MXFP4 (float8e8m0 scales, "
                "block_size 32); got "
             << dtypeName(scale.dtype) << " scales, block_size " << blockSize;
    format = lqd::Format::MXFP4;
    break;
  default:
    return emitError(loc) << "'" << node.op_type() << "' of "
                          << dtypeName(codeDtype) << " data is not supported";
  }
  if (e8m0 && format == lqd::Format::Int)
    return emitError(loc) << "float8e8m0 scales need float8/float4 data";

  // Zero point: symmetric when absent (signed) or all zero (signed).
  bool isSigned = codeDtype == kInt8 || codeDtype == kInt4;
  bool symmetric = format != lqd::Format::Int || (isSigned && !zp);
  SmallVector<int64_t> zpValues;
  if (zp) {
    if (!zp->host)
      return emitError(loc) << "'" << node.op_type()
                            << "' zero point must be a constant";
    for (int64_t i = 0; i < zp->host->numel(); ++i)
      zpValues.push_back(zp->host->asInt(i));
    if (format != lqd::Format::Int) {
      if (llvm::any_of(zpValues, [](int64_t v) { return v != 0; }))
        return emitError(loc) << "float formats take no zero point";
    } else if (isSigned && llvm::all_of(zpValues, [](int64_t v) { return v == 0; })) {
      symmetric = true;
    }
  }
  if (format == lqd::Format::Int && !symmetric && isSigned) {
    // lq's asymmetric codes are unsigned: shift codes and zero points.
    q.shiftCodes = true;
    for (int64_t &v : zpValues)
      v += int64_t(1) << (bits - 1);
  }

  int64_t schemeAxis = -1, group = 0;
  SmallVector<int64_t> scaleShape(rank, 1);
  if (blockSize > 0) {
    schemeAxis = axis;
    group = blockSize;
    if (scale.rank() != rank)
      return emitError(loc) << "blocked scales must have rank " << rank;
    scaleShape.assign(scale.shape().begin(), scale.shape().end());
  } else if (!perTensor) {
    schemeAxis = axis;
    if (scale.rank() != 1 || scale.shape()[0] != shape[axis])
      return emitError(loc) << "per-axis scales must be [" << shape[axis]
                            << "]";
    scaleShape[axis] = shape[axis];
  } else {
    scaleShape.clear(); // rank-0 per-tensor scale
  }
  auto schemeOrErr = lqd::SchemeAttr::getChecked(
      [&] { return emitError(loc); }, ctx, format,
      format == lqd::Format::Int ? bits : 0, schemeAxis, group,
      ArrayRef<int64_t>{}, symmetric);
  if (!schemeOrErr)
    return failure();
  q.scheme = schemeOrErr;

  FailureOr<Value> s = emitReshape(im.b, loc, im.get(scale, loc), scaleShape);
  if (failed(s))
    return failure();
  q.scales = *s;
  if (!symmetric) {
    HostTensor z;
    z.dtype = kInt32;
    z.shape = scaleShape;
    int64_t n = z.numel();
    if (zpValues.empty())
      z.data.assign(n, 0.0);
    else if (int64_t(zpValues.size()) == n)
      for (int64_t v : zpValues)
        z.data.push_back(double(v));
    else
      return emitError(loc) << "zero point has " << zpValues.size()
                            << " elements, scales " << n;
    auto zTy = RankedTensorType::get(scaleShape, im.b.getI32Type());
    q.zeroPoint = arith::ConstantOp::create(im.b, loc, zTy, hostToAttr(z, zTy));
  }
  return q;
}

LogicalResult translateDequantizeLinear(Importer &im,
                                        const onnx::NodeProto &node,
                                        Location loc) {
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(scale, 1);
  Val *zp = nullptr;
  if (im.hasInput(node, 2)) {
    LQ_GET_INPUT(z, 2);
    zp = &z;
  }
  if (!isFloatDType(scale.dtype) || scale.dtype == kFloat8E4M3FN)
    return emitError(loc) << "'DequantizeLinear' scale type "
                          << dtypeName(scale.dtype) << " is not supported";
  FailureOr<QuantOperands> q =
      deriveScheme(im, node, loc, x.shape(), x.dtype, scale, zp);
  if (failed(q))
    return failure();
  auto qTy = RankedTensorType::get(
      x.shape(), q->scheme.getStorageType(im.ctx), q->scheme);
  Value codes;
  if (auto enc = dyn_cast_or_null<lqd::SchemeAttr>(x.type.getEncoding())) {
    if (x.type != qTy)
      return emitError(loc) << "'DequantizeLinear' scheme differs from the "
                               "'QuantizeLinear' that produced its input";
    codes = im.get(x, loc);
  } else if (x.isConstant()) {
    if (!x.type.hasStaticShape())
      return emitError(loc) << "dynamic constant";
    FailureOr<std::vector<uint8_t>> raw = constantBytes(x, loc);
    if (failed(raw))
      return failure();
    unsigned bits = q->scheme.getCodeBits();
    std::vector<uint8_t> c;
    int64_t n = x.type.getNumElements();
    if (x.host) {
      c = std::move(*raw); // host values are already one code per element
    } else {
      c.resize(n);
      lq_unpack_bits(raw->data(), n, bits, c.data());
    }
    uint8_t mask = uint8_t((1u << bits) - 1);
    for (uint8_t &v : c) {
      v &= mask;
      if (q->shiftCodes)
        v = uint8_t((v + (1u << (bits - 1))) & mask);
    }
    codes = arith::ConstantOp::create(im.b, loc, qTy,
                                      cast<TypedAttr>(lqd::buildCodesAttr(qTy, c)));
  } else {
    return emitError(loc) << "'DequantizeLinear' input must be a constant or "
                             "the result of 'QuantizeLinear'";
  }
  // The result has the scale's type unless `output_dtype` (opset 24) says
  // otherwise; E8M0 scales are exponents, so their default is float.
  int outDtype = attrInt(node, "output_dtype", 0);
  if (outDtype == 0)
    outDtype = scale.dtype == kFloat8E8M0 ? kFloat : scale.dtype;
  if (!isFloatDType(outDtype) || dtypeBits(outDtype) < 16)
    return emitError(loc) << "'DequantizeLinear' output type "
                          << dtypeName(outDtype) << " is not supported";
  auto outTy = RankedTensorType::get(x.shape(), dtypeToMLIR(outDtype, im.ctx));
  Value r = lqd::DequantizeOp::create(im.b, loc, outTy, codes, q->scales,
                                      q->zeroPoint, Value());
  im.setOutput(node, 0, r, outDtype);
  return success();
}

LogicalResult translateQuantizeLinear(Importer &im, const onnx::NodeProto &node,
                                      Location loc) {
  LQ_GET_INPUT(x, 0);
  LQ_GET_INPUT(scale, 1);
  Val *zp = nullptr;
  int outDtype = attrInt(node, "output_dtype", 0);
  if (im.hasInput(node, 2)) {
    LQ_GET_INPUT(z, 2);
    zp = &z;
    outDtype = z.dtype;
  }
  if (outDtype == 0)
    outDtype = kUInt8;
  if (!isFloatDType(x.dtype))
    return emitError(loc) << "'QuantizeLinear' of non-float input";
  FailureOr<QuantOperands> q =
      deriveScheme(im, node, loc, x.shape(), outDtype, scale, zp);
  if (failed(q))
    return failure();
  if (q->shiftCodes)
    return emitError(loc) << "'QuantizeLinear' to a signed type with a "
                             "nonzero zero point is not supported";
  auto qTy = RankedTensorType::get(
      x.shape(), q->scheme.getStorageType(im.ctx), q->scheme);
  Value r = lqd::QuantizeOp::create(im.b, loc, qTy, im.get(x, loc), q->scales,
                                    q->zeroPoint, Value());
  im.setOutput(node, 0, r, outDtype);
  return success();
}

//===----------------------------------------------------------------------===//
// com.microsoft MatMulNBits
//===----------------------------------------------------------------------===//

/// Y = A · dequant(B)ᵀ (+ bias): B is [N, ceil(K/block), block*bits/8] packed
/// codes (little-endian bit stream per block), scales [N * blocks], optional
/// packed zero points (default 2^(bits-1)).
LogicalResult translateMatMulNBits(Importer &im, const onnx::NodeProto &node,
                                   Location loc) {
  LQ_GET_INPUT(a, 0);
  LQ_GET_INPUT(bq, 1);
  LQ_GET_INPUT(scales, 2);
  int64_t K = attrInt(node, "K", 0), N = attrInt(node, "N", 0);
  int64_t bits = attrInt(node, "bits", 4), block = attrInt(node, "block_size", 0);
  if (K <= 0 || N <= 0 || block < 16 || (block & (block - 1)))
    return emitError(loc) << "'MatMulNBits' needs K, N > 0 and a power-of-two "
                             "block_size >= 16";
  if (bits < 2 || bits > 8)
    return emitError(loc) << "'MatMulNBits' bits " << bits << " unsupported";
  if (K % block != 0)
    return emitError(loc) << "'MatMulNBits' K (" << K
                          << ") must be a multiple of block_size (" << block
                          << ")";
  if (im.hasInput(node, 4) && !node.input(4).empty())
    return emitError(loc) << "'MatMulNBits' with g_idx (act-order) is not "
                             "supported";
  if (a.rank() == 0 || a.shape().back() != K)
    return emitError(loc) << "'MatMulNBits' input has "
                          << (a.rank() ? a.shape().back() : 0)
                          << " features, K is " << K;
  int64_t blocks = K / block, blob = block * bits / 8;
  if (bq.type.getNumElements() != N * blocks * blob)
    return emitError(loc) << "'MatMulNBits' B has " << bq.type.getNumElements()
                          << " bytes, expected " << N * blocks * blob;
  if (scales.type.getNumElements() != N * blocks)
    return emitError(loc) << "'MatMulNBits' scales have "
                          << scales.type.getNumElements() << " elements, expected "
                          << N * blocks;
  FailureOr<std::vector<uint8_t>> raw = constantBytes(bq, loc);
  if (failed(raw))
    return failure();
  std::vector<uint8_t> codes(N * K);
  lq_unpack_bits(raw->data(), N * K, bits, codes.data());

  HostTensor zp;
  zp.dtype = kInt32;
  zp.shape = {N, blocks};
  zp.data.assign(N * blocks, double(1 << (bits - 1)));
  if (im.hasInput(node, 3)) {
    LQ_GET_INPUT(z, 3);
    if (isFloatDType(z.dtype))
      return emitError(loc) << "'MatMulNBits' float zero points are not "
                               "supported";
    FailureOr<std::vector<uint8_t>> zraw = constantBytes(z, loc);
    if (failed(zraw))
      return failure();
    int64_t perRow = (blocks * bits + 7) / 8;
    if (int64_t(zraw->size()) != N * perRow)
      return emitError(loc) << "'MatMulNBits' zero points have "
                            << zraw->size() << " bytes, expected " << N * perRow;
    std::vector<uint8_t> zc(blocks);
    for (int64_t n = 0; n < N; ++n) {
      lq_unpack_bits(zraw->data() + n * perRow, blocks, bits, zc.data());
      for (int64_t j = 0; j < blocks; ++j)
        zp.data[n * blocks + j] = zc[j];
    }
  }
  MLIRContext *ctx = im.ctx;
  auto scheme = lqd::SchemeAttr::get(ctx, lqd::Format::Int, bits, 1, block,
                                     ArrayRef<int64_t>{}, /*symmetric=*/false);
  auto qTy = RankedTensorType::get({N, K}, IntegerType::get(ctx, bits), scheme);
  Value q = arith::ConstantOp::create(
      im.b, loc, qTy, cast<TypedAttr>(lqd::buildCodesAttr(qTy, codes)));
  FailureOr<Value> s = emitReshape(im.b, loc, im.get(scales, loc), {N, blocks});
  if (failed(s))
    return failure();
  auto zTy = RankedTensorType::get({N, blocks}, im.b.getI32Type());
  Value z = arith::ConstantOp::create(im.b, loc, zTy, hostToAttr(zp, zTy));
  Type elt = a.type.getElementType();
  Value w = lqd::DequantizeOp::create(
      im.b, loc, RankedTensorType::get({N, K}, elt), q, *s, z, Value());
  Value bias;
  if (im.hasInput(node, 5)) {
    LQ_GET_INPUT(bv, 5);
    bias = im.get(bv, loc);
  }
  SmallVector<int64_t> outShape(a.shape().drop_back());
  outShape.push_back(N);
  Value y = lqd::LinearOp::create(im.b, loc, RankedTensorType::get(outShape, elt),
                                  im.get(a, loc), w, bias);
  im.setOutput(node, 0, y, a.dtype);
  return success();
}

} // namespace

void ::lq::onnx_import::registerLLMOps(llvm::StringMap<Translator> &table) {
  table["LayerNormalization"] = translateLayerNorm;
  table["RMSNormalization"] = translateRMSNorm;
  table["SimplifiedLayerNormalization"] = translateRMSNorm;
  table["QuantizeLinear"] = translateQuantizeLinear;
  table["DequantizeLinear"] = translateDequantizeLinear;
}

void ::lq::onnx_import::registerMicrosoftOps(llvm::StringMap<Translator> &table) {
  table["SkipSimplifiedLayerNormalization"] = translateSkipNorm;
  table["SkipLayerNormalization"] = translateSkipNorm;
  table["MatMulNBits"] = translateMatMulNBits;
  table["QuantizeLinear"] = translateQuantizeLinear;
  table["DequantizeLinear"] = translateDequantizeLinear;
}
