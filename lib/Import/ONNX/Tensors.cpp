//===- Tensors.cpp - ONNX tensors as the importer sees them -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "Tensors.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace lq::onnx_import {

const char *dtypeName(int dtype) {
  switch (dtype) {
  case kFloat: return "float";
  case kUInt8: return "uint8";
  case kInt8: return "int8";
  case kUInt16: return "uint16";
  case kInt16: return "int16";
  case kInt32: return "int32";
  case kInt64: return "int64";
  case kString: return "string";
  case kBool: return "bool";
  case kFloat16: return "float16";
  case kDouble: return "double";
  case kUInt32: return "uint32";
  case kUInt64: return "uint64";
  case kBFloat16: return "bfloat16";
  case kFloat8E4M3FN: return "float8e4m3fn";
  case kFloat8E4M3FNUZ: return "float8e4m3fnuz";
  case kFloat8E5M2: return "float8e5m2";
  case kFloat8E5M2FNUZ: return "float8e5m2fnuz";
  case kUInt4: return "uint4";
  case kInt4: return "int4";
  case kFloat4E2M1: return "float4e2m1";
  case kFloat8E8M0: return "float8e8m0";
  default: return "unknown";
  }
}

bool isFloatDType(int dtype) {
  switch (dtype) {
  case kFloat: case kFloat16: case kDouble: case kBFloat16:
  case kFloat8E4M3FN: case kFloat8E4M3FNUZ: case kFloat8E5M2:
  case kFloat8E5M2FNUZ: case kFloat4E2M1: case kFloat8E8M0:
    return true;
  default:
    return false;
  }
}

bool isUnsignedDType(int dtype) {
  return dtype == kUInt8 || dtype == kUInt16 || dtype == kUInt32 ||
         dtype == kUInt64 || dtype == kUInt4;
}

unsigned dtypeBits(int dtype) {
  switch (dtype) {
  case kBool: return 1;
  case kUInt4: case kInt4: case kFloat4E2M1: return 4;
  case kUInt8: case kInt8: case kFloat8E4M3FN: case kFloat8E4M3FNUZ:
  case kFloat8E5M2: case kFloat8E5M2FNUZ: case kFloat8E8M0: return 8;
  case kUInt16: case kInt16: case kFloat16: case kBFloat16: return 16;
  case kUInt32: case kInt32: case kFloat: return 32;
  case kUInt64: case kInt64: case kDouble: return 64;
  default: return 0;
  }
}

Type dtypeToMLIR(int dtype, MLIRContext *ctx) {
  switch (dtype) {
  case kFloat: return Float32Type::get(ctx);
  case kFloat16: return Float16Type::get(ctx);
  case kBFloat16: return BFloat16Type::get(ctx);
  case kDouble: return Float64Type::get(ctx);
  case kFloat8E4M3FN: return Float8E4M3FNType::get(ctx);
  case kFloat8E4M3FNUZ: return Float8E4M3FNUZType::get(ctx);
  case kFloat8E5M2: return Float8E5M2Type::get(ctx);
  case kFloat8E5M2FNUZ: return Float8E5M2FNUZType::get(ctx);
  case kFloat4E2M1: return Float4E2M1FNType::get(ctx);
  case kFloat8E8M0: return Float8E8M0FNUType::get(ctx);
  case kBool: return IntegerType::get(ctx, 1);
  case kUInt4: case kInt4: return IntegerType::get(ctx, 4);
  case kUInt8: case kInt8: return IntegerType::get(ctx, 8);
  case kUInt16: case kInt16: return IntegerType::get(ctx, 16);
  case kUInt32: case kInt32: return IntegerType::get(ctx, 32);
  case kUInt64: case kInt64: return IntegerType::get(ctx, 64);
  default: return {};
  }
}

int64_t HostTensor::asInt(int64_t i) const {
  double v = data[i];
  if (v >= 9.2e18)
    return std::numeric_limits<int64_t>::max();
  if (v <= -9.2e18)
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

const llvm::fltSemantics *smallFloatSemantics(int dtype) {
  switch (dtype) {
  case kFloat8E4M3FN: return &APFloat::Float8E4M3FN();
  case kFloat8E4M3FNUZ: return &APFloat::Float8E4M3FNUZ();
  case kFloat8E5M2: return &APFloat::Float8E5M2();
  case kFloat8E5M2FNUZ: return &APFloat::Float8E5M2FNUZ();
  case kFloat8E8M0: return &APFloat::Float8E8M0FNU();
  case kFloat4E2M1: return &APFloat::Float4E2M1FN();
  default: return nullptr;
  }
}

uint8_t HostTensor::code(int64_t i) const {
  if (const llvm::fltSemantics *sem = smallFloatSemantics(dtype)) {
    APFloat v(data[i]);
    bool lost = false;
    v.convert(*sem, APFloat::rmNearestTiesToEven, &lost);
    return uint8_t(v.bitcastToAPInt().getZExtValue());
  }
  return uint8_t(asInt(i));
}

DenseElementsAttr hostToAttr(const HostTensor &t, RankedTensorType type) {
  Type elt = type.getElementType();
  if (auto ft = dyn_cast<FloatType>(elt)) {
    SmallVector<APFloat> values;
    values.reserve(t.data.size());
    for (double d : t.data) {
      APFloat v(d);
      bool lost = false;
      v.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      values.push_back(v);
    }
    return DenseElementsAttr::get(type, values);
  }
  unsigned width = elt.getIntOrFloatBitWidth();
  SmallVector<APInt> values;
  values.reserve(t.data.size());
  for (size_t i = 0; i < t.data.size(); ++i) {
    if (width == 1)
      values.push_back(APInt(1, t.data[i] != 0.0));
    else
      values.push_back(APInt(width, static_cast<uint64_t>(t.asInt(i)),
                             /*isSigned=*/true, /*implicitTrunc=*/true));
  }
  return DenseElementsAttr::get(type, values);
}

} // namespace lq::onnx_import
