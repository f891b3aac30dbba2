//===- WeightQuantizer.cpp - Codes, scales and IR for quantized weights -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "passes/Quantize/WeightQuantizer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringSwitch.h"

#include <lq_rt/formats.h>

#include <algorithm>
#include <cassert>
#include <cmath>

namespace mlir::lq {

FailureOr<SchemeAttr> weightScheme(MLIRContext *ctx, Location loc,
                                   StringRef format, unsigned bits,
                                   int64_t group, bool symmetric, int64_t K) {
  std::optional<Format> f = llvm::StringSwitch<std::optional<Format>>(format)
                                .Case("int", Format::Int)
                                .Case("nf4", Format::NF4)
                                .Case("fp8-e4m3", Format::FP8E4M3)
                                .Case("fp8-e5m2", Format::FP8E5M2)
                                .Case("mxfp4", Format::MXFP4)
                                .Case("mxfp6-e2m3", Format::MXFP6E2M3)
                                .Case("mxfp6-e3m2", Format::MXFP6E3M2)
                                .Case("mxfp8-e4m3", Format::MXFP8E4M3)
                                .Case("mxfp8-e5m2", Format::MXFP8E5M2)
                                .Case("nvfp4", Format::NVFP4)
                                .Case("bf16", Format::BF16)
                                .Default(std::nullopt);
  if (!f)
    return emitError(loc) << "unknown weight format '" << format
                          << "' (int, nf4, fp8-e4m3, fp8-e5m2, mxfp4, "
                             "mxfp6-e2m3, mxfp6-e3m2, mxfp8-e4m3, mxfp8-e5m2, "
                             "nvfp4, bf16)";
  auto diag = [&] { return emitError(loc); };
  if (*f == Format::BF16) {
    // One per-tensor scale (1.0): bfloat16 needs no groups.
    if (group != 0)
      return emitError(loc) << "format 'bf16' is per tensor: it takes no "
                               "group, got group="
                            << group;
    SchemeAttr s = SchemeAttr::getChecked(diag, ctx, *f, 0u, int64_t(-1),
                                          int64_t(0), ArrayRef<int64_t>{},
                                          symmetric);
    if (!s) // getChecked emitted why
      return failure();
    return s;
  }
  int64_t required = lq_format_required_group(static_cast<lq_format_t>(*f));
  if (required > 0 && group > 0 && group != required)
    return emitError(loc) << "format '" << format << "' uses groups of "
                          << required << ", got group=" << group;
  if (required > 0)
    group = required;
  else if (group == 0)
    group = (*f == Format::FP8E4M3 || *f == Format::FP8E5M2) ? -1 : 128;
  if (group > 0 && K % group != 0)
    return emitError(loc) << "group " << group
                          << " does not divide the weight's K (" << K << ")";
  int64_t axis = group > 0 ? 1 : 0;
  SchemeAttr s = SchemeAttr::getChecked(diag, ctx, *f,
                                        *f == Format::Int ? bits : 0, axis,
                                        group > 0 ? group : 0,
                                        ArrayRef<int64_t>{}, symmetric);
  if (!s) // getChecked emitted why (e.g. sym=false on a float format)
    return failure();
  return s;
}

int64_t groupSizeOf(SchemeAttr scheme, int64_t K) {
  return scheme.getGroup() > 0 ? scheme.getGroup() : K;
}

QuantizedWeight quantizeRTN(SchemeAttr scheme, ArrayRef<float> w, int64_t rows,
                            int64_t cols, ArrayRef<float> clip) {
  QuantizedWeight q;
  q.rows = rows;
  q.cols = cols;
  q.groupSize = groupSizeOf(scheme, cols);
  if (scheme.getFormat() == Format::BF16) {
    q.codes16.resize(w.size());
    for (size_t i = 0; i < w.size(); ++i)
      q.codes16[i] = lq_bf16_from_f32(w[i]);
    q.scales.assign(1, 1.0f);
    return q;
  }
  int64_t groups = rows * q.groupsPerRow();
  q.codes.resize(rows * cols);
  auto format = static_cast<lq_format_t>(scheme.getFormat());
  switch (scheme.getFormat()) {
  case Format::Int:
    q.scales.resize(groups);
    if (!scheme.getSymmetric())
      q.zeroPoints.resize(groups);
    break;
  case Format::NF4:
  case Format::FP8E4M3:
  case Format::FP8E5M2:
    q.scales.resize(groups);
    break;
  default:
    q.scaleCodes.resize(groups);
  }
  if (scheme.getFormat() == Format::NVFP4) {
    float amax = 0;
    for (float x : w)
      amax = std::max(amax, std::fabs(x));
    q.globalScale = lq_nvfp4_tensor_scale(amax);
  }
  assert((clip.empty() || int64_t(clip.size()) == groups) &&
         "one clip ratio per group");
  std::vector<float> clipped;
  for (int64_t g = 0; g < groups; ++g) {
    const float *x = w.data() + g * q.groupSize;
    uint8_t *c = q.codes.data() + g * q.groupSize;
    size_t n = q.groupSize;
    if (!clip.empty() && clip[g] < 1.0f) {
      float lo = 0.0f, hi = 0.0f;
      for (size_t i = 0; i < n; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
      }
      lo *= clip[g];
      hi *= clip[g];
      clipped.assign(x, x + n);
      for (float &v : clipped)
        v = std::clamp(v, lo, hi);
      x = clipped.data();
    }
    switch (scheme.getFormat()) {
    case Format::Int: {
      int32_t zp = 0;
      lq_quantize_group_int(x, n, scheme.getBits(), scheme.getSymmetric(),
                            &q.scales[g], &zp, c);
      if (!scheme.getSymmetric())
        q.zeroPoints[g] = zp;
      break;
    }
    case Format::NF4:
      lq_quantize_group_nf4(x, n, &q.scales[g], c);
      break;
    case Format::FP8E4M3:
    case Format::FP8E5M2:
      lq_quantize_group_fp8(format, x, n, &q.scales[g], c);
      break;
    case Format::NVFP4:
      lq_quantize_group_nvfp4(x, n, q.globalScale, &q.scaleCodes[g], c);
      break;
    default:
      lq_quantize_group_mx(format, x, n, &q.scaleCodes[g], c);
    }
  }
  return q;
}

/// The float scale of group `g` as the dequantizer applies it.
static float groupScale(SchemeAttr scheme, const QuantizedWeight &q, int64_t g) {
  switch (scheme.getFormat()) {
  case Format::Int:
  case Format::NF4:
  case Format::FP8E4M3:
  case Format::FP8E5M2:
    return q.scales[g];
  case Format::NVFP4:
    return lq_fp8_e4m3fn_to_f32(q.scaleCodes[g]) * q.globalScale;
  default:
    return lq_e8m0_to_f32(q.scaleCodes[g]);
  }
}

uint8_t quantizeWithScale(SchemeAttr scheme, const QuantizedWeight &q,
                          int64_t row, int64_t group, float x, float &deq) {
  int64_t g = row * q.groupsPerRow() + group;
  float s = groupScale(scheme, q, g);
  auto format = static_cast<lq_format_t>(scheme.getFormat());
  uint8_t code;
  if (scheme.getFormat() == Format::Int) {
    int32_t zp = q.zeroPoints.empty() ? 0 : q.zeroPoints[g];
    int32_t v = lq_int_quantize(x, s, zp, scheme.getBits(), scheme.getSymmetric());
    code = uint8_t(v) & uint8_t((1u << scheme.getBits()) - 1);
    deq = lq_int_dequantize(v, s, zp);
    return code;
  }
  if (scheme.getFormat() == Format::NF4) {
    code = lq_nf4_from_f32(s == 0 ? 0 : x / s);
    deq = lq_nf4_to_f32(code) * s;
    return code;
  }
  code = lq_encode_element(format, s == 0 ? 0 : x / s);
  deq = lq_decode_element(format, code) * s;
  return code;
}

std::vector<float> dequantize(SchemeAttr scheme, const QuantizedWeight &q) {
  if (scheme.getFormat() == Format::BF16) {
    std::vector<float> out(q.codes16.size());
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = lq_bf16_to_f32(q.codes16[i]) * q.scales[0];
    return out;
  }
  std::vector<float> out(q.codes.size());
  auto format = static_cast<lq_format_t>(scheme.getFormat());
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t g = int64_t(i) / q.groupSize;
    float s = groupScale(scheme, q, g);
    uint8_t c = q.codes[i];
    if (scheme.getFormat() == Format::Int) {
      int32_t v = scheme.getSymmetric() ? lq_sign_extend(c, scheme.getBits()) : c;
      out[i] = lq_int_dequantize(v, s, q.zeroPoints.empty() ? 0 : q.zeroPoints[g]);
    } else if (scheme.getFormat() == Format::NF4) {
      out[i] = lq_nf4_to_f32(c) * s;
    } else {
      out[i] = lq_decode_element(format, c) * s;
    }
  }
  return out;
}

Value buildDequantize(OpBuilder &b, Location loc, SchemeAttr scheme,
                      const QuantizedWeight &q, Type floatType) {
  MLIRContext *ctx = b.getContext();
  int64_t N = q.rows, K = q.cols, G = q.groupsPerRow();
  auto codesTy =
      RankedTensorType::get({N, K}, scheme.getStorageType(ctx), scheme);
  if (scheme.getFormat() == Format::BF16) {
    // bfloat16 codes and one f32 scale [1, 1].
    Value codes = arith::ConstantOp::create(
        b, loc, codesTy, cast<TypedAttr>(buildBf16CodesAttr(codesTy, q.codes16)));
    auto ty = RankedTensorType::get({1, 1}, b.getF32Type());
    Value scales = arith::ConstantOp::create(
        b, loc, ty, DenseElementsAttr::get(ty, ArrayRef<float>(q.scales)));
    return DequantizeOp::create(b, loc, RankedTensorType::get({N, K}, floatType),
                                codes, scales, Value(), Value());
  }
  Value codes = arith::ConstantOp::create(
      b, loc, codesTy, cast<TypedAttr>(buildCodesAttr(codesTy, q.codes)));
  SmallVector<int64_t> scaleShape = {N, G};
  Value scales, zp, global;
  if (!q.scales.empty()) {
    auto ty = RankedTensorType::get(scaleShape, b.getF32Type());
    scales = arith::ConstantOp::create(
        b, loc, ty, DenseElementsAttr::get(ty, ArrayRef<float>(q.scales)));
  } else {
    Type elt = scheme.getFormat() == Format::NVFP4
                   ? Type(Float8E4M3FNType::get(ctx))
                   : Type(Float8E8M0FNUType::get(ctx));
    auto ty = RankedTensorType::get(scaleShape, elt);
    const llvm::fltSemantics &sem = cast<FloatType>(elt).getFloatSemantics();
    SmallVector<APFloat> vals;
    for (uint8_t c : q.scaleCodes)
      vals.push_back(APFloat(sem, APInt(8, c)));
    scales = arith::ConstantOp::create(b, loc, ty,
                                       DenseElementsAttr::get(ty, vals));
  }
  if (!q.zeroPoints.empty()) {
    auto ty = RankedTensorType::get(scaleShape, b.getI32Type());
    zp = arith::ConstantOp::create(
        b, loc, ty, DenseElementsAttr::get(ty, ArrayRef<int32_t>(q.zeroPoints)));
  }
  if (scheme.getFormat() == Format::NVFP4) {
    auto ty = RankedTensorType::get({}, b.getF32Type());
    global = arith::ConstantOp::create(
        b, loc, ty, DenseElementsAttr::get(ty, ArrayRef<float>{q.globalScale}));
  }
  return DequantizeOp::create(b, loc, RankedTensorType::get({N, K}, floatType),
                              codes, scales, zp, global);
}

bool feedsReturn(Value v) {
  for (Operation *user : v.getUsers()) {
    if (isa<func::ReturnOp>(user))
      return true;
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user) &&
        feedsReturn(user->getResult(0)))
      return true;
  }
  return false;
}

std::string opName(Operation *op) {
  Location loc = op->getLoc();
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      if (auto n = dyn_cast<NameLoc>(l))
        return n.getName().str();
  return "";
}

FailureOr<std::vector<llvm::Regex>> compileKeep(Operation *anchor,
                                                ArrayRef<std::string> keep) {
  std::vector<llvm::Regex> out;
  for (const std::string &k : keep) {
    out.emplace_back(k);
    std::string err;
    if (!out.back().isValid(err))
      return anchor->emitError() << "bad 'keep' regex '" << k << "': " << err;
  }
  return out;
}

bool isKept(Operation *op, ArrayRef<llvm::Regex> keep) {
  if (keep.empty())
    return false;
  std::string name = opName(op);
  return llvm::any_of(keep, [&](const llvm::Regex &r) { return r.match(name); });
}

bool collectLinearUsers(Value v, SmallVectorImpl<LinearOp> &out) {
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (auto lin = dyn_cast<LinearOp>(user)) {
      if (use.getOperandNumber() != 0)
        return false;
      out.push_back(lin);
    } else if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user)) {
      if (!collectLinearUsers(user->getResult(0), out))
        return false;
    } else {
      return false;
    }
  }
  return true;
}

std::pair<uint64_t, uint64_t> countModelWeights(func::FuncOp f) {
  enum Role { None, Weight, Overhead };
  auto roleOf = [](OpOperand &use) -> Role {
    Operation *user = use.getOwner();
    unsigned i = use.getOperandNumber();
    if (isa<lq::LinearOp>(user))
      return i >= 1 ? Weight : None;
    if (isa<lq::EmbeddingOp>(user))
      return i == 0 ? Weight : None;
    if (isa<lq::RMSNormOp, lq::LayerNormOp>(user))
      return i >= 1 ? Weight : None;
    if (isa<lq::DequantizeOp, lq::QuantizeOp>(user))
      return i == 0 ? Weight : Overhead;
    return None;
  };
  SmallVector<std::pair<Type, ArrayRef<char>>> seen;
  uint64_t params = 0, bits = 0;
  f.walk([&](arith::ConstantOp c) {
    auto type = dyn_cast<RankedTensorType>(c.getType());
    if (!type || !type.getElementType().isIntOrFloat())
      return;
    bool quantized = type.getEncoding() != nullptr;
    bool isFloat = isa<FloatType>(type.getElementType());
    Role role = None;
    bool usedByLQ = false;
    for (OpOperand &use : c->getUses()) {
      if (isa<LQDialect>(use.getOwner()->getDialect()))
        usedByLQ = true;
      Role r = roleOf(use);
      if (r == Weight || (r == Overhead && role == None))
        role = r;
    }
    if (role == None && !usedByLQ && type.getRank() >= 2 &&
        (isFloat || quantized))
      role = Weight;
    if (role == None)
      return;
    ArrayRef<char> bytes;
    if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue()))
      bytes = dense.getRawData();
    else if (auto res = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
      if (AsmResourceBlob *blob = res.getRawHandle().getBlob())
        bytes = blob->getData();
    if (!bytes.empty()) {
      for (auto &[t, b] : seen)
        if (t == type && b.size() == bytes.size() &&
            std::equal(b.begin(), b.end(), bytes.begin()))
          return;
      seen.push_back({type, bytes});
    }
    uint64_t numel = type.getNumElements();
    bits += numel * type.getElementType().getIntOrFloatBitWidth();
    if (role == Weight)
      params += numel;
  });
  return {params, bits};
}

} // namespace mlir::lq
