//===- LQAttrs.cpp - #lq.scheme -----------------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "dialects/LQ/IR/LQDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <lq_rt/formats.h>

using namespace mlir;
using namespace mlir::lq;

#include "dialects/LQ/IR/LQEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "dialects/LQ/IR/LQAttrs.cpp.inc"

// The enum is the compiler's spelling of the runtime's lq_format_t.
static_assert(static_cast<int>(Format::Int) == LQ_FORMAT_INT &&
                  static_cast<int>(Format::NF4) == LQ_FORMAT_NF4 &&
                  static_cast<int>(Format::FP8E4M3) == LQ_FORMAT_FP8_E4M3 &&
                  static_cast<int>(Format::FP8E5M2) == LQ_FORMAT_FP8_E5M2 &&
                  static_cast<int>(Format::MXFP4) == LQ_FORMAT_MXFP4 &&
                  static_cast<int>(Format::MXFP6E2M3) == LQ_FORMAT_MXFP6_E2M3 &&
                  static_cast<int>(Format::MXFP6E3M2) == LQ_FORMAT_MXFP6_E3M2 &&
                  static_cast<int>(Format::MXFP8E4M3) == LQ_FORMAT_MXFP8_E4M3 &&
                  static_cast<int>(Format::MXFP8E5M2) == LQ_FORMAT_MXFP8_E5M2 &&
                  static_cast<int>(Format::NVFP4) == LQ_FORMAT_NVFP4 &&
                  static_cast<int>(Format::BF16) == LQ_FORMAT_BF16,
              "lq::Format must mirror lq_format_t");

void LQDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/LQ/IR/LQAttrs.cpp.inc"
      >();
}

static unsigned naturalBits(Format format) {
  return lq_format_element_bits(static_cast<lq_format_t>(format), 0);
}

LogicalResult SchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 Format format, unsigned bits, int64_t axis,
                                 int64_t group, ArrayRef<int64_t> block,
                                 bool symmetric) {
  StringRef name = stringifyFormat(format);
  if (format == Format::Int) {
    if (bits < 2 || bits > 8)
      return emitError() << "'bits' must be in [2, 8] for format 'int', got "
                         << bits;
  } else if (bits != 0 && bits != naturalBits(format)) {
    return emitError() << "'bits' is implied by format '" << name << "' ("
                       << naturalBits(format) << "), got " << bits;
  }
  if (!symmetric && format != Format::Int)
    return emitError() << "'symmetric = false' needs format 'int', got '"
                       << name << "'";
  if (axis < -1)
    return emitError() << "'axis' must be >= 0, got " << axis;
  if (format == Format::BF16 && (axis >= 0 || group != 0 || !block.empty()))
    return emitError() << "format 'bf16' is per tensor (one scale, 1.0 from "
                          "RTN): it takes no 'axis', 'group' or 'block'";
  if (group < 0)
    return emitError() << "'group' must be positive, got " << group;
  if (group > 0 && axis < 0)
    return emitError() << "'group' needs an 'axis' to group along";
  if (!block.empty()) {
    if (group > 0 || axis >= 0)
      return emitError() << "'block' excludes 'group' and 'axis'";
    for (int64_t b : block)
      if (b < 0)
        return emitError() << "'block' sizes must be positive (or 0: the "
                              "whole dimension), got "
                           << b;
  }
  int64_t required =
      lq_format_required_group(static_cast<lq_format_t>(format));
  if (required > 0 && group != required)
    return emitError() << "format '" << name << "' needs 'group = "
                       << required << "', got " << group;
  return success();
}

SchemeAttr::Granularity SchemeAttr::getGranularity() const {
  if (!getBlock().empty())
    return Granularity::Block;
  if (getGroup() > 0)
    return Granularity::Group;
  if (getAxis() >= 0)
    return Granularity::Channel;
  return Granularity::Tensor;
}

unsigned SchemeAttr::getCodeBits() const {
  return getFormat() == Format::Int ? getBits() : naturalBits(getFormat());
}

Type SchemeAttr::getStorageType(MLIRContext *ctx) const {
  switch (getFormat()) {
  case Format::Int:
    return IntegerType::get(ctx, getBits());
  case Format::NF4:
    return IntegerType::get(ctx, 4);
  case Format::FP8E4M3:
  case Format::MXFP8E4M3:
    return Float8E4M3FNType::get(ctx);
  case Format::FP8E5M2:
  case Format::MXFP8E5M2:
    return Float8E5M2Type::get(ctx);
  case Format::MXFP6E2M3:
    return Float6E2M3FNType::get(ctx);
  case Format::MXFP6E3M2:
    return Float6E3M2FNType::get(ctx);
  case Format::MXFP4:
  case Format::NVFP4:
    return Float4E2M1FNType::get(ctx);
  case Format::BF16:
    return BFloat16Type::get(ctx);
  }
  return {};
}

SmallVector<int64_t> SchemeAttr::getBlockShape(ArrayRef<int64_t> shape) const {
  SmallVector<int64_t> blockShape(shape.begin(), shape.end());
  switch (getGranularity()) {
  case Granularity::Tensor:
    break;
  case Granularity::Channel:
    blockShape[getAxis()] = 1;
    break;
  case Granularity::Group:
    std::fill(blockShape.begin(), blockShape.end(), 1);
    blockShape[getAxis()] = getGroup();
    break;
  case Granularity::Block:
    // A block size of 0 spans the whole dimension (one scale along it,
    // whatever its size, so one scheme fits tensors of different lengths).
    blockShape.assign(getBlock().begin(), getBlock().end());
    for (size_t i = 0; i < blockShape.size() && i < shape.size(); ++i)
      if (blockShape[i] == 0)
        blockShape[i] = shape[i];
    break;
  }
  return blockShape;
}

SmallVector<int64_t> SchemeAttr::getScaleShape(ArrayRef<int64_t> shape) const {
  SmallVector<int64_t> blockShape = getBlockShape(shape);
  SmallVector<int64_t> scaleShape;
  for (auto [i, dim, blk] : llvm::enumerate(shape, blockShape)) {
    if (i < getBlock().size() && getBlock()[i] == 0)
      scaleShape.push_back(1);
    else if (ShapedType::isDynamic(dim))
      scaleShape.push_back(getGranularity() == Granularity::Tensor
                               ? 1
                               : ShapedType::kDynamic);
    else
      scaleShape.push_back(ShapedType::isDynamic(blk) ? 1 : dim / blk);
  }
  return scaleShape;
}

LogicalResult
SchemeAttr::verifyEncoding(ArrayRef<int64_t> shape, Type elementType,
                           function_ref<InFlightDiagnostic()> emitError) const {
  Type storage = getStorageType(elementType.getContext());
  if (elementType != storage)
    return emitError() << "element type " << elementType
                       << " does not match the storage type " << storage
                       << " of format '" << stringifyFormat(getFormat())
                       << "'";
  int64_t rank = shape.size();
  if (getAxis() >= rank)
    return emitError() << "'axis' " << getAxis()
                       << " is out of range for a tensor of rank " << rank;
  if (getGroup() > 0 && !ShapedType::isDynamic(shape[getAxis()]) &&
      shape[getAxis()] % getGroup() != 0)
    return emitError() << "'group' " << getGroup()
                       << " does not divide dimension " << getAxis() << " ("
                       << shape[getAxis()] << ")";
  if (!getBlock().empty()) {
    if (static_cast<int64_t>(getBlock().size()) != rank)
      return emitError() << "'block' has " << getBlock().size()
                         << " sizes for a tensor of rank " << rank;
    for (auto [i, dim, blk] : llvm::enumerate(shape, getBlock()))
      if (blk != 0 && !ShapedType::isDynamic(dim) && dim % blk != 0)
        return emitError() << "'block' size " << blk
                           << " does not divide dimension " << i << " (" << dim
                           << ")";
  }
  return success();
}
