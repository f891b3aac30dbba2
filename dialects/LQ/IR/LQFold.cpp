//===- LQFold.cpp - Constant folding of lq.quantize ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Quantizing a constant folds to a constant of the storage type. The element
// codecs are the runtime's (<lq_rt/formats.h>), so the compiler and the
// kernels that later decode these bits agree by construction.
//
//===----------------------------------------------------------------------===//

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/AsmState.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/Support/Endian.h"

#include <lq_rt/formats.h>

using namespace mlir;
using namespace mlir::lq;

static float toFloat(APFloat v) {
  bool lost = false;
  v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
  return v.convertToFloat();
}

LogicalResult mlir::lq::readFloatElements(Attribute attr,
                                          SmallVectorImpl<float> &out) {
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(attr)) {
    if (!isa<FloatType>(dense.getElementType()))
      return failure();
    out.reserve(dense.getNumElements());
    for (APFloat v : dense.getValues<APFloat>())
      out.push_back(toFloat(v));
    return success();
  }
  auto res = dyn_cast_or_null<DenseResourceElementsAttr>(attr);
  if (!res)
    return failure();
  AsmResourceBlob *blob = res.getRawHandle().getBlob();
  if (!blob)
    return failure();
  ArrayRef<char> data = blob->getData();
  Type elt = res.getType().getElementType();
  int64_t n = res.getType().getNumElements();
  out.reserve(n);
  if (elt.isF32()) {
    if (data.size() != size_t(n) * 4)
      return failure();
    for (int64_t i = 0; i < n; ++i)
      out.push_back(llvm::support::endian::read<float, llvm::endianness::little>(
          data.data() + 4 * i));
    return success();
  }
  if (elt.isF16() || elt.isBF16()) {
    if (data.size() != size_t(n) * 2)
      return failure();
    const llvm::fltSemantics &sem = cast<FloatType>(elt).getFloatSemantics();
    for (int64_t i = 0; i < n; ++i) {
      uint16_t bits = llvm::support::endian::read16le(data.data() + 2 * i);
      out.push_back(toFloat(APFloat(sem, APInt(16, bits))));
    }
    return success();
  }
  return failure();
}

LogicalResult mlir::lq::readIntElements(Attribute attr,
                                        SmallVectorImpl<int64_t> &out) {
  auto dense = dyn_cast_or_null<DenseIntElementsAttr>(attr);
  if (!dense)
    return failure();
  out.reserve(dense.getNumElements());
  for (APInt v : dense.getValues<APInt>())
    out.push_back(v.getSExtValue());
  return success();
}

ElementsAttr mlir::lq::buildCodesAttr(RankedTensorType type,
                                      ArrayRef<uint8_t> codes) {
  Type elt = type.getElementType();
  unsigned bits = elt.getIntOrFloatBitWidth();
  if (type.getNumElements() <= kMaxInlineCodes) {
    if (auto ft = dyn_cast<FloatType>(elt)) {
      SmallVector<APFloat> values;
      for (uint8_t c : codes)
        values.push_back(APFloat(ft.getFloatSemantics(), APInt(bits, c)));
      return DenseElementsAttr::get(type, values);
    }
    SmallVector<APInt> values;
    for (uint8_t c : codes)
      values.push_back(APInt(bits, c));
    return DenseElementsAttr::get(type, values);
  }
  std::vector<uint8_t> packed(lq_packed_size(codes.size(), bits));
  lq_pack_bits(codes.data(), codes.size(), bits, packed.data());
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      ArrayRef<char>(reinterpret_cast<const char *>(packed.data()),
                     packed.size()),
      alignof(uint64_t));
  return DenseResourceElementsAttr::get(type, "lq_codes", std::move(blob));
}

ElementsAttr mlir::lq::buildBf16CodesAttr(RankedTensorType type,
                                          ArrayRef<uint16_t> codes) {
  if (type.getNumElements() <= kMaxInlineCodes) {
    SmallVector<APFloat> values;
    for (uint16_t c : codes)
      values.push_back(APFloat(APFloat::BFloat(), APInt(16, c)));
    return DenseElementsAttr::get(type, values);
  }
  std::vector<char> bytes(codes.size() * 2);
  for (size_t i = 0; i < codes.size(); ++i)
    llvm::support::endian::write16le(bytes.data() + 2 * i, codes[i]);
  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(uint64_t));
  return DenseResourceElementsAttr::get(type, "lq_codes", std::move(blob));
}

/// Folds quantize(dequantize(q, s, zp, g), s, zp, g) to q: decoding and
/// re-encoding with the same scales is exact. The reverse round trip,
/// dequantize(quantize(x)), is lossy and never folded.
static Value foldQuantizeOfDequantize(QuantizeOp op) {
  auto dq = op.getInput().getDefiningOp<DequantizeOp>();
  if (!dq || dq.getInput().getType() != op.getResult().getType() ||
      dq.getScales() != op.getScales() ||
      dq.getZeroPoint() != op.getZeroPoint() ||
      dq.getGlobalScale() != op.getGlobalScale())
    return {};
  return dq.getInput();
}

OpFoldResult QuantizeOp::fold(FoldAdaptor adaptor) {
  if (Value q = foldQuantizeOfDequantize(*this))
    return q;

  RankedTensorType resultTy = getResult().getType();
  if (!resultTy.hasStaticShape())
    return {};
  SmallVector<float> x, scales, global;
  SmallVector<int64_t> zeroPoints;
  if (failed(readFloatElements(adaptor.getInput(), x)) ||
      failed(readFloatElements(adaptor.getScales(), scales)))
    return {};
  if (getZeroPoint() && failed(readIntElements(adaptor.getZeroPoint(), zeroPoints)))
    return {};
  if (getGlobalScale() && failed(readFloatElements(adaptor.getGlobalScale(), global)))
    return {};

  SchemeAttr scheme = getScheme();
  if (scheme.getFormat() == Format::BF16) {
    // Per tensor: codes = bf16(x / scale), the runtime's codec.
    if (scales.size() != 1)
      return {};
    std::vector<uint16_t> codes(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      codes[i] = lq_bf16_from_f32(scales[0] == 0.0f ? 0.0f : x[i] / scales[0]);
    return buildBf16CodesAttr(resultTy, codes);
  }
  ArrayRef<int64_t> shape = resultTy.getShape();
  SmallVector<int64_t> blockShape = scheme.getBlockShape(shape);
  SmallVector<int64_t> scaleShape = scheme.getScaleShape(shape);
  int64_t rank = shape.size();
  auto format = static_cast<lq_format_t>(scheme.getFormat());
  unsigned bits = scheme.getCodeBits();
  uint8_t mask = uint8_t((1u << bits) - 1);

  std::vector<uint8_t> codes(x.size());
  SmallVector<int64_t> idx(rank, 0);
  for (size_t i = 0; i < x.size(); ++i) {
    // Index of this element's scale in the (row-major) scale tensor.
    int64_t s = 0;
    for (int64_t d = 0; d < rank; ++d)
      s = s * scaleShape[d] + idx[d] / blockShape[d];
    if (scales.size() == 1)
      s = 0;
    float scale = scales[s];
    switch (scheme.getFormat()) {
    case Format::Int: {
      int32_t zp = zeroPoints.empty() ? 0 : int32_t(zeroPoints[s]);
      int32_t q = lq_int_quantize(x[i], scale, zp, bits, scheme.getSymmetric());
      codes[i] = uint8_t(q) & mask;
      break;
    }
    case Format::NF4:
      codes[i] = lq_nf4_from_f32(scale == 0.0f ? 0.0f : x[i] / scale);
      break;
    case Format::NVFP4:
      scale *= global[0];
      [[fallthrough]];
    default:
      codes[i] = lq_encode_element(format, scale == 0.0f ? 0.0f : x[i] / scale);
      break;
    }
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
  return buildCodesAttr(resultTy, codes);
}
