//===- OpsFused.cpp - Fused LLM ops of ai.onnx and ORT ------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The fused ops that LLM exporters write instead of primitive subgraphs:
//  - RotaryEmbedding (ONNX-23 and com.microsoft) -> lq.rotary
//  - Attention (ONNX-23) and com.microsoft GroupQueryAttention ->
//    tensor.concat of the KV cache + lq.attention (+ lq.rotary for GQA)
//  - com.microsoft GatherBlockQuantized -> lq.dequantize + lq.embedding
//  - DynamicQuantizeLinear, MatMulInteger, QLinearMatMul -> linalg/arith on
//    plain integer tensors (uint8 travels as i8 with dtype kUInt8 in the Val)
//
// lq ops take static head layouts ([B, H, T, D]) and one rotary table per
// position ([T, R]); whatever those cannot express is rejected with a
// diagnostic naming the op instead of being approximated.
//
//===----------------------------------------------------------------------===//

#include "Emit.h"
#include "Ops.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <lq_rt/formats.h>

#include <cmath>

using namespace mlir;
using namespace ::lq::onnx_import;
namespace lqd = mlir::lq;

namespace {


/// Optional input `i`: null when the name is absent or empty.
#define GET_OPTIONAL_INPUT(var, idx)                                           \
  Val *var = nullptr;                                                          \
  if (im.hasInput(node, idx)) {                                                \
    FailureOr<Val *> var##OrErr = im.input(node, idx, loc);                    \
    if (failed(var##OrErr))                                                    \
      return failure();                                                        \
    var = *var##OrErr;                                                         \
  }

std::string shapeStr(ArrayRef<int64_t> s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      out += ", ";
    out += ShapedType::isDynamic(s[i]) ? "?" : std::to_string(s[i]);
  }
  return out + "]";
}

/// The quoted op name for diagnostics: 'com.microsoft.RotaryEmbedding'.
std::string opName(const onnx::NodeProto &node) {
  if (node.domain().empty() || node.domain() == "ai.onnx")
    return "'" + node.op_type() + "'";
  return "'" + node.domain() + "." + node.op_type() + "'";
}

bool isEmptyTensor(const Val *v) {
  return v && v->type.hasStaticShape() && v->type.getNumElements() == 0;
}

/// Rejects outputs this translator does not produce.
LogicalResult rejectOutputs(Importer &im, const onnx::NodeProto &node,
                            Location loc, int from, StringRef what) {
  for (int o = from; o < node.output_size(); ++o)
    if (im.hasOutput(node, o))
      return emitError(loc) << opName(node) << " output #" << o << " (" << what
                            << ") is not supported";
  return success();
}

Value constant(OpBuilder &b, Location loc, const HostTensor &t, Type elt) {
  auto ty = RankedTensorType::get(t.shape, elt);
  return arith::ConstantOp::create(b, loc, ty, hostToAttr(t, ty));
}

Value transpose(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> perm) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(ty.getDimSize(p));
  Value init = emitEmpty(b, loc, shape, ty.getElementType());
  return linalg::TransposeOp::create(b, loc, v, init, perm).getResult()[0];
}

/// [B, S, H*D] -> [B, H, S, D] (reshape to [B, S, H, D], then transpose).
FailureOr<Value> toHeads(OpBuilder &b, Location loc, Value v, int64_t heads) {
  auto ty = cast<RankedTensorType>(v.getType());
  int64_t bs = ty.getDimSize(0), s = ty.getDimSize(1), hidden = ty.getDimSize(2);
  FailureOr<Value> r =
      emitReshape(b, loc, v, {bs, s, heads, hidden / heads});
  if (failed(r))
    return failure();
  return transpose(b, loc, *r, {0, 2, 1, 3});
}

/// [B, H, S, D] -> [B, S, H*D].
FailureOr<Value> fromHeads(OpBuilder &b, Location loc, Value v) {
  auto ty = cast<RankedTensorType>(v.getType());
  if (!ty.hasStaticShape())
    return emitError(loc) << "merging heads needs static shapes, got "
                          << shapeStr(ty.getShape());
  Value t = transpose(b, loc, v, {0, 2, 1, 3});
  return emitReshape(b, loc, t,
                     {ty.getDimSize(0), ty.getDimSize(2),
                      ty.getDimSize(1) * ty.getDimSize(3)});
}

/// A static slice [off, off+size) of dimension `dim` of `v`.
Value sliceDim(OpBuilder &b, Location loc, Value v, int64_t dim, int64_t off,
               int64_t size) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> offs, sizes, strides;
  SmallVector<int64_t> shape(ty.getShape());
  shape[dim] = size;
  for (int64_t d = 0; d < ty.getRank(); ++d) {
    offs.push_back(b.getIndexAttr(d == dim ? off : 0));
    sizes.push_back(b.getIndexAttr(shape[d]));
    strides.push_back(b.getIndexAttr(1));
  }
  return tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(shape, ty.getElementType()), v, offs, sizes,
      strides);
}

//===----------------------------------------------------------------------===//
// Rotary tables
//===----------------------------------------------------------------------===//

/// Where a rotary op reads its positions.
struct Positions {
  Val *ids = nullptr;  ///< [B, S] (or ORT's [1] offset when `isOffset`)
  bool isOffset = false;
  int64_t offset = 0;  ///< positions offset .. offset+S-1 when `ids` is null
};

struct RotaryTables {
  Value cos, sin;
};

/// Builds the [S, R] cos/sin tables lq.rotary applies to every batch row and
/// head. `cache` is [maxPos, >=R] (or ONNX-23's [B, S, >=R] when there are
/// no position ids). Positions must be the same for every batch row: lq has
/// one table per op.
FailureOr<RotaryTables> rotaryTables(Importer &im, const onnx::NodeProto &node,
                                     Location loc, Val &cosC, Val &sinC,
                                     Positions pos, int64_t batch, int64_t seq,
                                     int64_t r) {
  OpBuilder &b = im.b;
  std::string op = opName(node);
  if (cosC.type != sinC.type)
    return emitError(loc) << op << " cos_cache and sin_cache types differ";
  if (!cosC.type.hasStaticShape())
    return emitError(loc) << op << " needs statically shaped cos/sin caches";
  Type elt = cosC.type.getElementType();
  ArrayRef<int64_t> cs = cosC.shape();
  if (cs.size() != 2 && cs.size() != 3)
    return emitError(loc) << op << " cos/sin caches must be 2-D or 3-D, got "
                          << shapeStr(cs);
  if (cs.back() < r)
    return emitError(loc) << op << " cos/sin caches have " << cs.back()
                          << " columns, the rotary dimension needs " << r;

  // 1. The positions, as host values when they are known.
  std::optional<SmallVector<int64_t>> hostPos;
  Value runtimeIds; // [S] integer ids when positions are only known at run time
  if (!pos.ids) {
    if (cs.size() == 3) {
      // ONNX-23 without position_ids: the caches are already [B, S, R'].
      if (cs[1] != seq || (cs[0] != 1 && cs[0] != batch))
        return emitError(loc) << op << " cos/sin caches without position ids "
                              << "must be [" << batch << ", " << seq
                              << ", R], got " << shapeStr(cs);
      SmallVector<Value> tabs;
      for (Val *c : {&cosC, &sinC}) {
        if (c->host) {
          const HostTensor &h = *c->host;
          int64_t rowLen = seq * cs[2];
          for (int64_t bi = 1; bi < cs[0]; ++bi)
            for (int64_t i = 0; i < rowLen; ++i)
              if (h.data[bi * rowLen + i] != h.data[i])
                return emitError(loc)
                       << op << " cos/sin caches differ between batch rows; "
                       << "lq.rotary applies one table to every row";
          HostTensor t = hostGather(h, {seq, r}, [&](ArrayRef<int64_t> i) {
            return i[0] * cs[2] + i[1];
          });
          tabs.push_back(constant(b, loc, t, elt));
          continue;
        }
        if (cs[0] != 1)
          return emitError(loc)
                 << op << " with batch " << cs[0]
                 << " needs constant cos/sin caches (lq.rotary applies one "
                    "table to every batch row)";
        FailureOr<Value> t = emitReshape(b, loc, im.get(*c, loc), {seq, cs[2]});
        if (failed(t))
          return failure();
        tabs.push_back(cs[2] == r ? *t : sliceDim(b, loc, *t, 1, 0, r));
      }
      return RotaryTables{tabs[0], tabs[1]};
    }
    hostPos.emplace();
    for (int64_t s = 0; s < seq; ++s)
      hostPos->push_back(pos.offset + s);
  } else if (pos.isOffset) {
    if (!pos.ids->host)
      return emitError(loc) << op << " 'position_ids' offset must be a "
                                     "compile-time constant";
    hostPos.emplace();
    int64_t off = pos.ids->host->asInt(0);
    for (int64_t s = 0; s < seq; ++s)
      hostPos->push_back(off + s);
  } else {
    Val &ids = *pos.ids;
    if (ids.rank() != 2 || ids.shape()[1] != seq ||
        (ids.shape()[0] != 1 && ids.shape()[0] != batch))
      return emitError(loc) << op << " 'position_ids' must be [" << batch
                            << ", " << seq << "], got "
                            << shapeStr(ids.shape());
    if (ids.host) {
      hostPos.emplace();
      for (int64_t s = 0; s < seq; ++s)
        hostPos->push_back(ids.host->asInt(s));
      for (int64_t bi = 1; bi < ids.shape()[0]; ++bi)
        for (int64_t s = 0; s < seq; ++s)
          if (ids.host->asInt(bi * seq + s) != (*hostPos)[s])
            return emitError(loc)
                   << op << " 'position_ids' differ between batch rows; "
                   << "lq.rotary applies one table to every row";
    } else {
      if (ids.shape()[0] != 1)
        return emitError(loc)
               << op << " run-time 'position_ids' need batch 1 (lq.rotary "
               << "applies one table to every batch row); make them constant "
               << "or pin the batch with --input-shape";
      if (isFloatDType(ids.dtype))
        return emitError(loc) << op << " 'position_ids' must be integers";
      FailureOr<Value> flat = emitReshape(b, loc, im.get(ids, loc), {seq});
      if (failed(flat))
        return failure();
      runtimeIds = *flat;
    }
  }
  if (cs.size() != 2)
    return emitError(loc) << op << " cos/sin caches must be [max_position, R] "
                          << "with position ids, got " << shapeStr(cs);

  // 2. Rows of the caches at those positions.
  int64_t rows = cs[0], cols = cs[1];
  if (hostPos)
    for (int64_t p : *hostPos)
      if (p < 0 || p >= rows)
        return emitError(loc) << op << " position " << p
                              << " is outside the cos/sin caches (" << rows
                              << " rows)";
  SmallVector<Value> tabs;
  for (Val *c : {&cosC, &sinC}) {
    if (c->host && hostPos) {
      HostTensor t = hostGather(*c->host, {seq, r}, [&](ArrayRef<int64_t> i) {
        return (*hostPos)[i[0]] * cols + i[1];
      });
      tabs.push_back(constant(b, loc, t, elt));
      continue;
    }
    Value cache = im.get(*c, loc);
    Value t;
    bool contiguous =
        hostPos && llvm::all_of(llvm::seq<int64_t>(0, seq), [&](int64_t s) {
          return (*hostPos)[s] == (*hostPos)[0] + s;
        });
    if (contiguous) {
      t = sliceDim(b, loc, cache, 0, (*hostPos)[0], seq);
    } else {
      Value ids = runtimeIds;
      if (!ids) {
        HostTensor h;
        h.dtype = kInt64;
        h.shape = {seq};
        for (int64_t p : *hostPos)
          h.data.push_back(double(p));
        ids = constant(b, loc, h, b.getI64Type());
      }
      t = lqd::EmbeddingOp::create(b, loc, RankedTensorType::get({seq, cols}, elt),
                                   cache, ids);
    }
    tabs.push_back(cols == r ? t : sliceDim(b, loc, t, 1, 0, r));
  }
  return RotaryTables{tabs[0], tabs[1]};
}

//===----------------------------------------------------------------------===//
// RotaryEmbedding
//===----------------------------------------------------------------------===//

/// ONNX-23: (X, cos_cache, sin_cache[, position_ids]); X is [B, H, S, D] or
/// [B, S, H*D] with `num_heads`. com.microsoft: (input, position_ids,
/// cos_cache, sin_cache); position_ids is [B, S] or a [1] offset.
LogicalResult translateRotaryEmbedding(Importer &im, const onnx::NodeProto &node,
                                       Location loc) {
  bool ms = node.domain() == "com.microsoft";
  std::string op = opName(node);
  LQ_GET_INPUT(x, 0);
  Val *cosC, *sinC;
  Positions pos;
  if (ms) {
    LQ_GET_INPUT(p, 1);
    LQ_GET_INPUT(c, 2);
    LQ_GET_INPUT(s, 3);
    cosC = &c;
    sinC = &s;
    pos.ids = &p;
    pos.isOffset = p.rank() <= 1;
    if (pos.isOffset && p.type.getNumElements() != 1)
      return emitError(loc) << op << " 1-D 'position_ids' must have one "
                            << "element (an offset), got "
                            << shapeStr(p.shape());
    if (attrInt(node, "is_packed_batching", 0) != 0)
      return emitError(loc) << op << " with 'is_packed_batching' (ragged "
                                     "batches) is not supported";
    float scale = attrFloat(node, "scale", 1.0f);
    if (scale != 1.0f)
      return emitError(loc) << op << " 'scale' " << scale
                            << " is not supported (lq.rotary has no scale)";
  } else {
    LQ_GET_INPUT(c, 1);
    LQ_GET_INPUT(s, 2);
    cosC = &c;
    sinC = &s;
    GET_OPTIONAL_INPUT(p, 3);
    pos.ids = p;
  }
  if (!isFloatDType(x.dtype))
    return emitError(loc) << op << " input must be a float tensor, got "
                          << dtypeName(x.dtype);
  if (cosC->rank() < 2 || cosC->rank() > 3)
    return emitError(loc) << op << " cos/sin caches must be 2-D or 3-D, got "
                          << shapeStr(cosC->shape());
  if (x.rank() != 3 && x.rank() != 4)
    return emitError(loc) << op << " input must be [B, S, hidden] or "
                          << "[B, H, S, D], got " << shapeStr(x.shape());
  if (!x.type.hasStaticShape())
    return emitError(loc) << op << " needs a statically shaped input; pin its "
                                   "dims with --input-shape";
  int64_t numHeads = attrInt(node, "num_heads", 0);
  int64_t rotDim = attrInt(node, "rotary_embedding_dim", 0);
  bool interleaved = attrInt(node, "interleaved", 0) != 0;
  if (numHeads < 0 || rotDim < 0)
    return emitError(loc) << op << " 'num_heads' and 'rotary_embedding_dim' "
                                   "must not be negative";
  int64_t batch = x.shape()[0], heads, seq, headSize;
  if (x.rank() == 4) {
    heads = x.shape()[1];
    seq = x.shape()[2];
    headSize = x.shape()[3];
    if (numHeads != 0 && numHeads != heads)
      return emitError(loc) << op << " 'num_heads' " << numHeads
                            << " differs from the input's " << heads;
  } else {
    seq = x.shape()[1];
    int64_t hidden = x.shape()[2];
    if (numHeads == 0) {
      // ORT infers the head size from the caches; ONNX requires num_heads.
      if (!ms || rotDim != 0)
        return emitError(loc) << op << " with a 3-D input needs 'num_heads'";
      headSize = 2 * cosC->shape().back();
      if (headSize == 0 || hidden % headSize != 0)
        return emitError(loc) << op << " hidden size " << hidden
                              << " is not a multiple of the head size "
                              << headSize << " implied by the caches";
      numHeads = hidden / headSize;
    }
    if (hidden % numHeads != 0)
      return emitError(loc) << op << " hidden size " << hidden
                            << " is not a multiple of 'num_heads' "
                            << numHeads;
    heads = numHeads;
    headSize = hidden / numHeads;
  }
  if (rotDim == 0)
    rotDim = headSize;
  if (rotDim > headSize || rotDim % 2 != 0)
    return emitError(loc) << op << " 'rotary_embedding_dim' " << rotDim
                          << " must be even and at most the head size "
                          << headSize;
  FailureOr<RotaryTables> tabs = rotaryTables(im, node, loc, *cosC, *sinC, pos,
                                              batch, seq, rotDim / 2);
  if (failed(tabs))
    return failure();
  Value in = im.get(x, loc);
  if (x.rank() == 3) {
    FailureOr<Value> h = toHeads(im.b, loc, in, heads);
    if (failed(h))
      return failure();
    in = *h;
  }
  Value y = lqd::RotaryOp::create(im.b, loc, in.getType(), in, tabs->cos,
                                  tabs->sin, interleaved);
  if (x.rank() == 3) {
    FailureOr<Value> f = fromHeads(im.b, loc, y);
    if (failed(f))
      return failure();
    y = *f;
  }
  im.setOutput(node, 0, y, x.dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// Attention (ONNX-23)
//===----------------------------------------------------------------------===//

/// Concatenates the KV cache in front of the new keys/values (dim 2).
FailureOr<Value> withPast(Importer &im, const onnx::NodeProto &node,
                          Location loc, Val *past, Value cur, StringRef what) {
  if (!past || isEmptyTensor(past))
    return cur;
  auto curTy = cast<RankedTensorType>(cur.getType());
  if (past->rank() != 4)
    return emitError(loc) << opName(node) << " '" << what
                          << "' must be [B, H, P, D], got "
                          << shapeStr(past->shape());
  for (int d : {0, 1, 3})
    if (past->shape()[d] != curTy.getDimSize(d))
      return emitError(loc) << opName(node) << " '" << what << "' shape "
                            << shapeStr(past->shape())
                            << " does not match the new entries "
                            << shapeStr(curTy.getShape()) << " in dim " << d;
  if (past->type.getElementType() != curTy.getElementType())
    return emitError(loc) << opName(node) << " '" << what
                          << "' element type differs from the new entries";
  return Value(tensor::ConcatOp::create(
      im.b, loc, 2, ValueRange{im.get(*past, loc), cur}));
}

/// Checks an attention mask against [B, Hq, T, S] (right-aligned broadcast).
LogicalResult checkMask(const onnx::NodeProto &node, Location loc, Val &mask,
                        ArrayRef<int64_t> full) {
  if (mask.dtype != kBool && !isFloatDType(mask.dtype))
    return emitError(loc) << opName(node) << " mask must be bool or float, got "
                          << dtypeName(mask.dtype);
  if (mask.rank() > 4)
    return emitError(loc) << opName(node) << " mask rank must be <= 4, got "
                          << mask.rank();
  if (mask.rank() >= 1) {
    int64_t last = mask.shape().back();
    if (last != 1 && !ShapedType::isDynamic(last) &&
        !ShapedType::isDynamic(full[3]) && last < full[3])
      return emitError(loc)
             << opName(node) << " mask covers " << last << " of " << full[3]
             << " keys; padding a short mask is not supported";
  }
  for (int64_t i = 0; i < mask.rank(); ++i) {
    int64_t md = mask.shape()[mask.rank() - 1 - i], fd = full[3 - i];
    if (md != 1 && md != fd && !ShapedType::isDynamic(md) &&
        !ShapedType::isDynamic(fd))
      return emitError(loc) << opName(node) << " mask shape "
                            << shapeStr(mask.shape())
                            << " does not broadcast to " << shapeStr(full);
  }
  return success();
}

LogicalResult translateAttention(Importer &im, const onnx::NodeProto &node,
                                 Location loc) {
  std::string op = opName(node);
  LQ_GET_INPUT(q, 0);
  LQ_GET_INPUT(k, 1);
  LQ_GET_INPUT(v, 2);
  GET_OPTIONAL_INPUT(mask, 3);
  GET_OPTIONAL_INPUT(pastK, 4);
  GET_OPTIONAL_INPUT(pastV, 5);
  if (im.hasInput(node, 6))
    return emitError(loc) << op << " 'nonpad_kv_seqlen' (padded KV cache) is "
                                   "not supported";
  if (failed(rejectOutputs(im, node, loc, 3, "qk_matmul_output")))
    return failure();
  if (float softcap = attrFloat(node, "softcap", 0.0f); softcap != 0.0f)
    return emitError(loc) << op << " 'softcap' " << softcap
                          << " is not supported (lq.attention has no softcap)";
  if (int64_t mode = attrInt(node, "qk_matmul_output_mode", 0); mode != 0)
    return emitError(loc) << op << " 'qk_matmul_output_mode' " << mode
                          << " is not supported";
  // softmax_precision only asks for at least that precision; lq.attention
  // chooses its own accumulation precision, so the attribute is ignored.
  for (Val *t : {&q, &k, &v})
    if (!isFloatDType(t->dtype))
      return emitError(loc) << op << " Q, K and V must be float tensors";
  if (q.rank() != k.rank() || q.rank() != v.rank() ||
      (q.rank() != 3 && q.rank() != 4))
    return emitError(loc) << op << " Q, K and V must all be 3-D or all 4-D, "
                          << "got ranks " << q.rank() << ", " << k.rank()
                          << ", " << v.rank();
  if (q.type.getElementType() != k.type.getElementType() ||
      q.type.getElementType() != v.type.getElementType())
    return emitError(loc) << op << " Q, K and V element types differ";
  if (bool(pastK) != bool(pastV))
    return emitError(loc) << op << " needs both 'past_key' and 'past_value' "
                                   "or neither";

  Value qv = im.get(q, loc), kv = im.get(k, loc), vv = im.get(v, loc);
  bool is3d = q.rank() == 3;
  if (is3d) {
    int64_t hq = attrInt(node, "q_num_heads", 0),
            hkv = attrInt(node, "kv_num_heads", 0);
    if (hq <= 0 || hkv <= 0)
      return emitError(loc) << op << " with 3-D inputs needs positive "
                                     "'q_num_heads' and 'kv_num_heads'";
    for (auto [t, h, name] : {std::tuple{&q, hq, "Q"}, {&k, hkv, "K"},
                              {&v, hkv, "V"}}) {
      if (!t->type.hasStaticShape())
        return emitError(loc) << op << " with 3-D inputs needs static shapes; "
                                       "pin dims with --input-shape";
      if (t->shape()[2] % h != 0)
        return emitError(loc) << op << " " << name << " hidden size "
                              << t->shape()[2] << " is not a multiple of "
                              << h << " heads";
    }
    FailureOr<Value> q4 = toHeads(im.b, loc, qv, hq),
                     k4 = toHeads(im.b, loc, kv, hkv),
                     v4 = toHeads(im.b, loc, vv, hkv);
    if (failed(q4) || failed(k4) || failed(v4))
      return failure();
    qv = *q4;
    kv = *k4;
    vv = *v4;
  } else {
    int64_t hq = attrInt(node, "q_num_heads", 0),
            hkv = attrInt(node, "kv_num_heads", 0);
    if ((hq && hq != q.shape()[1]) || (hkv && hkv != k.shape()[1]))
      return emitError(loc) << op << " 'q_num_heads'/'kv_num_heads' differ "
                                     "from the 4-D inputs' head dims";
  }
  auto qTy = cast<RankedTensorType>(qv.getType()),
       kTy = cast<RankedTensorType>(kv.getType()),
       vTy = cast<RankedTensorType>(vv.getType());
  int64_t hq = qTy.getDimSize(1), hkv = kTy.getDimSize(1);
  if (qTy.getDimSize(0) != kTy.getDimSize(0) ||
      qTy.getDimSize(0) != vTy.getDimSize(0))
    return emitError(loc) << op << " Q, K and V batch sizes differ";
  if (vTy.getDimSize(1) != hkv || kTy.getDimSize(2) != vTy.getDimSize(2))
    return emitError(loc) << op << " K " << shapeStr(kTy.getShape())
                          << " and V " << shapeStr(vTy.getShape())
                          << " disagree in heads or length";
  if (hkv <= 0 || hq % hkv != 0)
    return emitError(loc) << op << " query heads (" << hq
                          << ") must be a multiple of key/value heads (" << hkv
                          << ")";
  if (qTy.getDimSize(3) != kTy.getDimSize(3))
    return emitError(loc) << op << " Q and K head sizes differ ("
                          << qTy.getDimSize(3) << " vs " << kTy.getDimSize(3)
                          << ")";

  FailureOr<Value> keys = withPast(im, node, loc, pastK, kv, "past_key");
  FailureOr<Value> values = withPast(im, node, loc, pastV, vv, "past_value");
  if (failed(keys) || failed(values))
    return failure();
  auto keysTy = cast<RankedTensorType>(keys->getType());
  int64_t t = qTy.getDimSize(2), total = keysTy.getDimSize(2);
  int64_t past = (pastK && !isEmptyTensor(pastK)) ? pastK->shape()[2] : 0;

  bool causal = attrInt(node, "is_causal", 0) != 0;
  // ONNX aligns the causal mask at the end of the past (query i sees keys
  // j <= past + i); lq aligns it bottom-right (j <= i + total - T). They
  // agree exactly when the new keys are as many as the queries.
  if (causal && (ShapedType::isDynamic(t) || ShapedType::isDynamic(total) ||
                 total - t != past))
    return emitError(loc)
           << op << " 'is_causal' with " << t << " queries and "
           << kTy.getDimSize(2)
           << " new keys is not supported: lq.attention aligns the causal "
              "mask bottom-right, ONNX after the past keys";

  Value maskV;
  if (mask) {
    SmallVector<int64_t> full = {qTy.getDimSize(0), hq, t, total};
    if (failed(checkMask(node, loc, *mask, full)))
      return failure();
    maskV = im.get(*mask, loc);
  }
  FloatAttr scaleAttr;
  if (const auto *a = findAttr(node, "scale")) {
    if (!(a->f() > 0.0f))
      return emitError(loc) << op << " 'scale' " << a->f()
                            << " must be positive";
    scaleAttr = im.b.getF32FloatAttr(a->f());
  }
  auto outTy = RankedTensorType::get(
      {qTy.getDimSize(0), hq, t, vTy.getDimSize(3)}, qTy.getElementType());
  Value y = lqd::AttentionOp::create(im.b, loc, outTy, qv, *keys, *values,
                                     maskV, /*position=*/Value(), scaleAttr, causal);
  if (is3d) {
    FailureOr<Value> f = fromHeads(im.b, loc, y);
    if (failed(f))
      return failure();
    y = *f;
  }
  im.setOutput(node, 0, y, q.dtype);
  im.setOutput(node, 1, *keys, k.dtype);
  im.setOutput(node, 2, *values, v.dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// GroupQueryAttention (com.microsoft)
//===----------------------------------------------------------------------===//

/// query [B, S, Hq*D] (or packed [B, S, (Hq+2Hkv)*D] when key and value are
/// absent), key/value [B, S, Hkv*D], past_key/past_value [B, Hkv, P, D],
/// seqlens_k [B], total_sequence_length [], optional cos/sin caches (with
/// do_rotary), position_ids, attention_bias.
///
/// lq imports GQA with static shapes and no padding: every batch row holds
/// exactly P past tokens, so the present cache is concat(past, new) of length
/// P + S, seqlens_k[b] == P + S - 1 and total_sequence_length == P + S. Those
/// inputs are checked when they are constants and trusted otherwise; the
/// shared-buffer mode (past buffers of max length) is therefore rejected by
/// the seqlens check when it is visible.
LogicalResult translateGroupQueryAttention(Importer &im,
                                           const onnx::NodeProto &node,
                                           Location loc) {
  std::string op = opName(node);
  LQ_GET_INPUT(query, 0);
  GET_OPTIONAL_INPUT(key, 1);
  GET_OPTIONAL_INPUT(value, 2);
  GET_OPTIONAL_INPUT(pastK, 3);
  GET_OPTIONAL_INPUT(pastV, 4);
  GET_OPTIONAL_INPUT(seqlens, 5);
  GET_OPTIONAL_INPUT(totalLen, 6);
  GET_OPTIONAL_INPUT(cosC, 7);
  GET_OPTIONAL_INPUT(sinC, 8);
  GET_OPTIONAL_INPUT(posIds, 9);
  GET_OPTIONAL_INPUT(bias, 10);
  if (im.hasInput(node, 11))
    return emitError(loc) << op << " 'head_sink' is not supported";
  if (failed(rejectOutputs(im, node, loc, 3, "output_qk")))
    return failure();

  int64_t hq = attrInt(node, "num_heads", 0),
          hkv = attrInt(node, "kv_num_heads", 0);
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0)
    return emitError(loc) << op << " needs positive 'num_heads' (" << hq
                          << ") that is a multiple of 'kv_num_heads' (" << hkv
                          << ")";
  if (int64_t w = attrInt(node, "local_window_size", -1); w != -1)
    return emitError(loc) << op << " 'local_window_size' " << w
                          << " (sliding window) is not supported";
  if (float softcap = attrFloat(node, "softcap", 0.0f); softcap != 0.0f)
    return emitError(loc) << op << " 'softcap' " << softcap
                          << " is not supported (lq.attention has no softcap)";
  if (attrInt(node, "smooth_softmax", 0) != 0)
    return emitError(loc) << op << " 'smooth_softmax' is not supported";
  if (int64_t qk = attrInt(node, "qk_output", 0); qk != 0)
    return emitError(loc) << op << " 'qk_output' " << qk
                          << " is not supported";
  if (!isFloatDType(query.dtype))
    return emitError(loc) << op << " query must be a float tensor";
  if (query.rank() != 3 || !query.type.hasStaticShape())
    return emitError(loc) << op << " query must be a static [B, S, hidden], "
                          << "got " << shapeStr(query.shape());
  int64_t batch = query.shape()[0], seq = query.shape()[1],
          hidden = query.shape()[2];

  // Q, K, V as [B, S, H*D].
  Value qv = im.get(query, loc), kv, vv;
  int64_t headSize;
  if (!key && !value) {
    int64_t n = hq + 2 * hkv;
    if (hidden % n != 0)
      return emitError(loc) << op << " packed QKV hidden size " << hidden
                            << " is not a multiple of (num_heads + "
                               "2 * kv_num_heads) = "
                            << n;
    headSize = hidden / n;
    kv = sliceDim(im.b, loc, qv, 2, hq * headSize, hkv * headSize);
    vv = sliceDim(im.b, loc, qv, 2, (hq + hkv) * headSize, hkv * headSize);
    qv = sliceDim(im.b, loc, qv, 2, 0, hq * headSize);
  } else {
    if (!key || !value)
      return emitError(loc) << op << " needs both 'key' and 'value' or "
                                     "neither (packed QKV)";
    if (hidden % hq != 0)
      return emitError(loc) << op << " query hidden size " << hidden
                            << " is not a multiple of 'num_heads' " << hq;
    headSize = hidden / hq;
    SmallVector<int64_t> want = {batch, seq, hkv * headSize};
    for (auto [t, name] : {std::pair{key, "key"}, {value, "value"}}) {
      if (t->shape() != ArrayRef<int64_t>(want))
        return emitError(loc) << op << " '" << name << "' must be "
                              << shapeStr(want) << ", got "
                              << shapeStr(t->shape());
      if (t->type.getElementType() != query.type.getElementType())
        return emitError(loc) << op << " '" << name
                              << "' element type differs from the query's";
    }
    kv = im.get(*key, loc);
    vv = im.get(*value, loc);
  }
  FailureOr<Value> q4 = toHeads(im.b, loc, qv, hq),
                   k4 = toHeads(im.b, loc, kv, hkv),
                   v4 = toHeads(im.b, loc, vv, hkv);
  if (failed(q4) || failed(k4) || failed(v4))
    return failure();

  // The cache: no padding, P tokens in every row.
  if (bool(pastK) != bool(pastV))
    return emitError(loc) << op << " needs both 'past_key' and 'past_value' "
                                   "or neither";
  int64_t past = 0;
  if (pastK && !isEmptyTensor(pastK)) {
    if (pastK->rank() != 4 || !pastK->type.hasStaticShape())
      return emitError(loc) << op << " 'past_key' must be a static "
                            << "[B, kv_num_heads, P, D], got "
                            << shapeStr(pastK->shape());
    past = pastK->shape()[2];
  }
  int64_t total = past + seq;
  if (totalLen && totalLen->host) {
    int64_t tl = totalLen->host->asInt(0);
    if (tl != total)
      return emitError(loc) << op << " 'total_sequence_length' is " << tl
                            << ", but past (" << past << ") + new (" << seq
                            << ") tokens are " << total
                            << "; lq supports caches without padding only";
  }
  if (seqlens && seqlens->host) {
    for (int64_t i = 0; i < seqlens->host->numel(); ++i)
      if (seqlens->host->asInt(i) != total - 1)
        return emitError(loc)
               << op << " 'seqlens_k'[" << i << "] is "
               << seqlens->host->asInt(i) << ", expected " << total - 1
               << " (past + new - 1); lq supports caches without padding only";
  }

  // Rotary on the new queries and keys, at positions P .. P+S-1.
  Value qr = *q4, kr = *k4;
  if (attrInt(node, "do_rotary", 0) != 0) {
    if (!cosC || !sinC)
      return emitError(loc) << op << " 'do_rotary' needs 'cos_cache' and "
                                     "'sin_cache'";
    if (cosC->rank() != 2)
      return emitError(loc) << op << " cos/sin caches must be [max_position, "
                            << "R], got " << shapeStr(cosC->shape());
    Positions pos;
    pos.offset = past;
    pos.ids = posIds;
    int64_t r = cosC->shape().back();
    if (2 * r > headSize)
      return emitError(loc) << op << " cos/sin caches have " << r
                            << " columns, more than half the head size "
                            << headSize;
    FailureOr<RotaryTables> tabs =
        rotaryTables(im, node, loc, *cosC, *sinC, pos, batch, seq, r);
    if (failed(tabs))
      return failure();
    bool inter = attrInt(node, "rotary_interleaved", 0) != 0;
    qr = lqd::RotaryOp::create(im.b, loc, qr.getType(), qr, tabs->cos,
                               tabs->sin, inter);
    kr = lqd::RotaryOp::create(im.b, loc, kr.getType(), kr, tabs->cos,
                               tabs->sin, inter);
  }

  FailureOr<Value> keys = withPast(im, node, loc, pastK, kr, "past_key");
  FailureOr<Value> values = withPast(im, node, loc, pastV, *v4, "past_value");
  if (failed(keys) || failed(values))
    return failure();

  Value maskV;
  if (bias) {
    if (!isFloatDType(bias->dtype))
      return emitError(loc) << op << " 'attention_bias' must be float";
    if (failed(checkMask(node, loc, *bias, {batch, hq, seq, total})))
      return failure();
    maskV = im.get(*bias, loc);
  }
  FloatAttr scaleAttr;
  float scale = attrFloat(node, "scale", 0.0f);
  if (scale < 0.0f)
    return emitError(loc) << op << " 'scale' " << scale << " must be positive";
  if (scale > 0.0f)
    scaleAttr = im.b.getF32FloatAttr(scale);
  auto outTy = RankedTensorType::get({batch, hq, seq, headSize},
                                     query.type.getElementType());
  Value y = lqd::AttentionOp::create(im.b, loc, outTy, qr, *keys, *values,
                                     maskV, /*position=*/Value(), scaleAttr, /*causal=*/true);
  FailureOr<Value> out = fromHeads(im.b, loc, y);
  if (failed(out))
    return failure();
  im.setOutput(node, 0, *out, query.dtype);
  im.setOutput(node, 1, *keys, query.dtype);
  im.setOutput(node, 2, *values, query.dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// DynamicQuantizeLinear, MatMulInteger, QLinearMatMul
//===----------------------------------------------------------------------===//

Value toF64(OpBuilder &b, Location loc, Value v, bool isUnsigned) {
  return convertScalar(b, loc, v, b.getF64Type(), isUnsigned);
}

/// Clamps a float to [lo, hi] and converts it to an 8-bit code.
Value saturateToI8(OpBuilder &b, Location l, Value f, bool isUnsigned) {
  Type ft = f.getType();
  Value lo = scalarConst(b, l, ft, isUnsigned ? 0.0 : -128.0);
  Value hi = scalarConst(b, l, ft, isUnsigned ? 255.0 : 127.0);
  f = arith::MaximumFOp::create(b, l, f, lo);
  f = arith::MinimumFOp::create(b, l, f, hi);
  return isUnsigned ? Value(arith::FPToUIOp::create(b, l, b.getI8Type(), f))
                    : Value(arith::FPToSIOp::create(b, l, b.getI8Type(), f));
}

/// y = saturate(round_half_even(x / scale) + zp), scale = (max(0, max x) -
/// min(0, min x)) / 255 (1 when the range is empty), zp = round(clamp(-min /
/// scale, 0, 255)): the ONNX reference, in f32.
LogicalResult translateDynamicQuantizeLinear(Importer &im,
                                             const onnx::NodeProto &node,
                                             Location loc) {
  LQ_GET_INPUT(x, 0);
  if (x.dtype != kFloat)
    return emitError(loc) << "'DynamicQuantizeLinear' input must be float, "
                          << "got " << dtypeName(x.dtype);
  OpBuilder &b = im.b;
  MLIRContext *ctx = im.ctx;
  Type f32 = b.getF32Type();
  Value in = im.get(x, loc);
  int64_t rank = x.rank();

  // min(0, min x) and max(0, max x) in one pass: both accumulators start at 0.
  auto scalarTy = RankedTensorType::get({}, f32);
  Value zero = scalarConst(b, loc, f32, 0.0);
  auto zeroScalar = [&] {
    Value e = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, f32);
    return linalg::FillOp::create(b, loc, zero, e).getResult(0);
  };
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, {}, ctx),
                                 AffineMap::get(rank, 0, {}, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::reduction);
  auto range = linalg::GenericOp::create(
      b, loc, TypeRange{scalarTy, scalarTy}, ValueRange{in},
      ValueRange{zeroScalar(), zeroScalar()}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value mn = arith::MinimumFOp::create(nb, l, a[0], a[1]);
        Value mx = arith::MaximumFOp::create(nb, l, a[0], a[2]);
        linalg::YieldOp::create(nb, l, ValueRange{mn, mx});
      });
  Value minV = range.getResult(0), maxV = range.getResult(1);

  Value scale = emitMap(
      b, loc, {minV, maxV}, {}, f32,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value same = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ,
                                           a[1], a[0]);
        Value span = arith::SubFOp::create(nb, l, a[1], a[0]);
        Value s = arith::DivFOp::create(nb, l, span,
                                        scalarConst(nb, l, f32, 255.0));
        return arith::SelectOp::create(nb, l, same,
                                       scalarConst(nb, l, f32, 1.0), s);
      });
  Value zpF = emitMap(
      b, loc, {minV, scale}, {}, f32,
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value d = arith::DivFOp::create(nb, l, a[0], a[1]);
        Value z = arith::SubFOp::create(nb, l, scalarConst(nb, l, f32, 0.0), d);
        z = arith::MaximumFOp::create(nb, l, z, scalarConst(nb, l, f32, 0.0));
        z = arith::MinimumFOp::create(nb, l, z, scalarConst(nb, l, f32, 255.0));
        return math::RoundEvenOp::create(nb, l, z);
      });
  Value y = emitMap(b, loc, {in, scale, zpF}, x.shape(), b.getI8Type(),
                    [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      Value d = arith::DivFOp::create(nb, l, a[0], a[1]);
                      Value r = math::RoundEvenOp::create(nb, l, d);
                      r = arith::AddFOp::create(nb, l, r, a[2]);
                      return saturateToI8(nb, l, r, /*isUnsigned=*/true);
                    });
  Value zp = emitMap(b, loc, {zpF}, {}, b.getI8Type(),
                     [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                       return arith::FPToUIOp::create(nb, l, nb.getI8Type(),
                                                      a[0]);
                     });
  im.setOutput(node, 0, y, kUInt8);
  im.setOutput(node, 1, scale, kFloat);
  im.setOutput(node, 2, zp, kUInt8);
  return success();
}

bool isInt8(int dtype) { return dtype == kInt8 || dtype == kUInt8; }

/// A per-row (`rowAxis`: the operand's M axis) or per-column quantization
/// parameter reshaped so that it broadcasts against `shape`: a 1-D [M] on the
/// rows of a matrix becomes [M, 1]; everything else must broadcast as is.
FailureOr<Value> alignParam(Importer &im, const onnx::NodeProto &node,
                            Location loc, Val &p, ArrayRef<int64_t> shape,
                            bool perRow, StringRef what) {
  Value v = im.get(p, loc);
  if (perRow && p.rank() == 1 && shape.size() >= 2 && p.shape()[0] != 1) {
    if (p.shape()[0] != shape[shape.size() - 2])
      return emitError(loc) << opName(node) << " '" << what << "' has "
                            << p.shape()[0] << " elements, expected one per "
                            << "row (" << shape[shape.size() - 2] << ")";
    FailureOr<Value> r = emitReshape(im.b, loc, v, {p.shape()[0], 1});
    if (failed(r))
      return failure();
    v = *r;
  }
  ArrayRef<int64_t> pShape = cast<RankedTensorType>(v.getType()).getShape();
  FailureOr<SmallVector<int64_t>> bc = broadcastShapes({shape, pShape}, loc);
  if (failed(bc))
    return failure();
  if (ArrayRef<int64_t>(*bc) != shape)
    return emitError(loc) << opName(node) << " '" << what << "' shape "
                          << shapeStr(p.shape()) << " does not broadcast to "
                          << shapeStr(shape);
  return v;
}

/// (a - a_zp) · (b - b_zp) with int8/uint8 operands, in i32.
FailureOr<Value> emitIntegerMatMul(Importer &im, const onnx::NodeProto &node,
                                   Location loc, Val &a, Val *azp, Val &bm,
                                   Val *bzp) {
  std::string op = opName(node);
  if (!isInt8(a.dtype) || !isInt8(bm.dtype))
    return emitError(loc) << op << " inputs must be int8 or uint8, got "
                          << dtypeName(a.dtype) << " and "
                          << dtypeName(bm.dtype);
  if (a.rank() < 1 || bm.rank() < 1)
    return emitError(loc) << op << " inputs must have rank >= 1";
  OpBuilder &b = im.b;
  Type i32 = b.getI32Type();
  auto widen = [&](Val &x, Val *zp, bool perRow,
                   StringRef what) -> FailureOr<Value> {
    bool u = isUnsignedDType(x.dtype);
    SmallVector<Value> ins = {im.get(x, loc)};
    if (zp) {
      if (zp->dtype != x.dtype)
        return emitError(loc) << op << " '" << what << "' type "
                              << dtypeName(zp->dtype)
                              << " differs from its input's "
                              << dtypeName(x.dtype);
      FailureOr<Value> z = alignParam(im, node, loc, *zp, x.shape(), perRow, what);
      if (failed(z))
        return failure();
      ins.push_back(*z);
    }
    return emitMap(b, loc, ins, x.shape(), i32,
                   [&](OpBuilder &nb, Location l, ValueRange v) -> Value {
                     Value r = convertScalar(nb, l, v[0], i32, u);
                     if (v.size() > 1)
                       r = arith::SubIOp::create(
                           nb, l, r, convertScalar(nb, l, v[1], i32, u));
                     return r;
                   });
  };
  FailureOr<Value> a32 = widen(a, azp, /*perRow=*/a.rank() >= 2, "a_zero_point");
  FailureOr<Value> b32 = widen(bm, bzp, /*perRow=*/false, "b_zero_point");
  if (failed(a32) || failed(b32))
    return failure();
  return emitMatMul(im, loc, *a32, *b32);
}

LogicalResult translateMatMulInteger(Importer &im, const onnx::NodeProto &node,
                                     Location loc) {
  LQ_GET_INPUT(a, 0);
  LQ_GET_INPUT(bm, 1);
  GET_OPTIONAL_INPUT(azp, 2);
  GET_OPTIONAL_INPUT(bzp, 3);
  FailureOr<Value> r = emitIntegerMatMul(im, node, loc, a, azp, bm, bzp);
  if (failed(r))
    return failure();
  im.setOutput(node, 0, *r, kInt32);
  return success();
}

/// y = saturate(rint(((a - a_zp) · (b - b_zp)) * (a_scale * b_scale /
/// y_scale) + y_zp)): the integer product is exact in i32, the multiplier is
/// formed in the scales' type and the rest in f64, as the ONNX reference
/// (numpy promotes int32 · float32 to float64) does.
LogicalResult translateQLinearMatMul(Importer &im, const onnx::NodeProto &node,
                                     Location loc) {
  std::string op = opName(node);
  LQ_GET_INPUT(a, 0);
  LQ_GET_INPUT(aScale, 1);
  GET_OPTIONAL_INPUT(azp, 2);
  LQ_GET_INPUT(bm, 3);
  LQ_GET_INPUT(bScale, 4);
  GET_OPTIONAL_INPUT(bzp, 5);
  LQ_GET_INPUT(yScale, 6);
  GET_OPTIONAL_INPUT(yzp, 7);
  for (Val *s : {&aScale, &bScale, &yScale})
    if (!isFloatDType(s->dtype) || s->dtype != aScale.dtype)
      return emitError(loc) << op << " scales must be float tensors of one "
                                     "type";
  int outDtype = yzp ? yzp->dtype : a.dtype;
  if (!isInt8(outDtype))
    return emitError(loc) << op << " output type must be int8 or uint8, got "
                          << dtypeName(outDtype);
  if (yScale.type.getNumElements() != 1 ||
      (yzp && yzp->type.getNumElements() != 1))
    return emitError(loc) << op << " 'y_scale' and 'y_zero_point' must be "
                                   "scalars";
  if (a.rank() < 2 || bm.rank() < 2)
    return emitError(loc) << op << " needs inputs of rank >= 2";
  FailureOr<Value> c = emitIntegerMatMul(im, node, loc, a, azp, bm, bzp);
  if (failed(c))
    return failure();
  ArrayRef<int64_t> cShape = cast<RankedTensorType>(c->getType()).getShape();

  // The multiplier, broadcast like the product: a_scale per row, b_scale per
  // column.
  FailureOr<Value> as = alignParam(im, node, loc, aScale, cShape,
                                   /*perRow=*/true, "a_scale");
  FailureOr<Value> bs = alignParam(im, node, loc, bScale, cShape,
                                   /*perRow=*/false, "b_scale");
  if (failed(as) || failed(bs))
    return failure();
  FailureOr<Value> ys = emitReshape(im.b, loc, im.get(yScale, loc), {});
  if (failed(ys))
    return failure();
  auto asTy = cast<RankedTensorType>(as->getType()),
       bsTy = cast<RankedTensorType>(bs->getType());
  FailureOr<SmallVector<int64_t>> mShape =
      broadcastShapes({asTy.getShape(), bsTy.getShape()}, loc);
  if (failed(mShape))
    return failure();
  Type sElt = aScale.type.getElementType();
  Value mult = emitMap(im.b, loc, {*as, *bs, *ys}, *mShape, sElt,
                       [&](OpBuilder &nb, Location l, ValueRange v) -> Value {
                         Value p = arith::MulFOp::create(nb, l, v[0], v[1]);
                         return arith::DivFOp::create(nb, l, p, v[2]);
                       });
  SmallVector<Value> ins = {*c, mult};
  if (yzp) {
    FailureOr<Value> z = emitReshape(im.b, loc, im.get(*yzp, loc), {});
    if (failed(z))
      return failure();
    ins.push_back(*z);
  }
  bool outUnsigned = isUnsignedDType(outDtype);
  Value y = emitMap(im.b, loc, ins, cShape, im.b.getI8Type(),
                    [&](OpBuilder &nb, Location l, ValueRange v) -> Value {
                      Value d = arith::MulFOp::create(
                          nb, l, toF64(nb, l, v[0], false),
                          toF64(nb, l, v[1], false));
                      if (v.size() > 2)
                        d = arith::AddFOp::create(nb, l, d,
                                                  toF64(nb, l, v[2], outUnsigned));
                      d = math::RoundEvenOp::create(nb, l, d);
                      return saturateToI8(nb, l, d, outUnsigned);
                    });
  im.setOutput(node, 0, y, outDtype);
  return success();
}

//===----------------------------------------------------------------------===//
// GatherBlockQuantized (com.microsoft)
//===----------------------------------------------------------------------===//

/// An embedding table quantized in blocks along its rows:
///  - data: uint8 with `bits` 4 (two codes per byte, low nibble first) or 8,
///    or int4/uint4; [V, D] logically, constant.
///  - scales [V, D / block_size]; zero_points like data (uint8: packed the
///    same way), constant. Without zero points ORT uses 0 for int4/uint4 and
///    2^(bits-1) for uint8 (8 for 4-bit codes), i.e. uint8 codes are offset
///    binary.
/// out = dequant(data)[indices]: lq.dequantize (int, group block_size along
/// axis 1) feeding lq.embedding. Only gather_axis 0 and quantize_axis 1 of a
/// 2-D table (the embedding case) are supported.
LogicalResult translateGatherBlockQuantized(Importer &im,
                                            const onnx::NodeProto &node,
                                            Location loc) {
  std::string op = opName(node);
  LQ_GET_INPUT(data, 0);
  LQ_GET_INPUT(ids, 1);
  LQ_GET_INPUT(scales, 2);
  GET_OPTIONAL_INPUT(zp, 3);
  int64_t bits = attrInt(node, "bits", 4);
  int64_t block = attrInt(node, "block_size", 128);
  if (data.rank() != 2)
    return emitError(loc) << op << " supports 2-D data (an embedding table), "
                          << "got rank " << data.rank();
  int64_t gatherAxis = attrInt(node, "gather_axis", 0);
  int64_t quantAxis = attrInt(node, "quantize_axis", 1);
  if (gatherAxis < 0)
    gatherAxis += 2;
  if (quantAxis < 0)
    quantAxis += 2;
  if (gatherAxis != 0 || quantAxis != 1)
    return emitError(loc) << op << " supports 'gather_axis' 0 and "
                          << "'quantize_axis' 1, got " << gatherAxis << " and "
                          << quantAxis;
  if (block < 16 || (block & (block - 1)))
    return emitError(loc) << op << " 'block_size' " << block
                          << " must be a power of two >= 16";
  bool packed = data.dtype == kUInt8;
  if (packed ? (bits != 4 && bits != 8)
             : (data.dtype != kInt4 && data.dtype != kUInt4) || bits != 4)
    return emitError(loc) << op << " supports uint8 data with 'bits' 4 or 8 "
                          << "and int4/uint4 data with 'bits' 4; got "
                          << dtypeName(data.dtype) << " with 'bits' " << bits;
  if (!data.isConstant())
    return emitError(loc) << op << " data must be a constant";
  if (ids.dtype != kInt32 && ids.dtype != kInt64)
    return emitError(loc) << op << " indices must be int32 or int64, got "
                          << dtypeName(ids.dtype);
  if (!isFloatDType(scales.dtype) || !scales.type.hasStaticShape())
    return emitError(loc) << op << " scales must be a static float tensor";
  int64_t rows = data.shape()[0];
  int64_t cols = packed ? data.shape()[1] * 8 / bits : data.shape()[1];
  if (cols % block != 0)
    return emitError(loc) << op << " row length " << cols
                          << " is not a multiple of 'block_size' " << block;
  int64_t blocks = cols / block;
  if (scales.type.getNumElements() != rows * blocks)
    return emitError(loc) << op << " scales have "
                          << scales.type.getNumElements()
                          << " elements, expected [" << rows << ", " << blocks
                          << "]";

  // Codes, one per byte.
  FailureOr<std::vector<uint8_t>> raw = constantBytes(data, loc, op + " data");
  if (failed(raw))
    return failure();
  std::vector<uint8_t> codes(rows * cols);
  if (packed)
    lq_unpack_bits(raw->data(), rows * cols, bits, codes.data());
  else
    for (int64_t i = 0; i < rows * cols; ++i)
      codes[i] = (*raw)[i] & 0xF; // host int4/uint4: one raw nibble each

  bool isSigned = data.dtype == kInt4;
  bool symmetric = isSigned && !zp;
  HostTensor z;
  z.dtype = kInt32;
  z.shape = {rows, blocks};
  if (!symmetric) {
    z.data.assign(rows * blocks, packed ? double(1 << (bits - 1)) : 0.0);
    if (zp) {
      if (zp->dtype != data.dtype)
        return emitError(loc) << op << " zero_points type "
                              << dtypeName(zp->dtype) << " differs from data's "
                              << dtypeName(data.dtype);
      FailureOr<std::vector<uint8_t>> zr =
          constantBytes(*zp, loc, op + " zero_points");
      if (failed(zr))
        return failure();
      std::vector<uint8_t> zc(rows * blocks);
      if (packed) {
        int64_t perRow = (blocks * bits + 7) / 8;
        if (int64_t(zr->size()) != rows * perRow)
          return emitError(loc) << op << " zero_points have " << zr->size()
                                << " bytes, expected " << rows * perRow;
        for (int64_t r = 0; r < rows; ++r)
          lq_unpack_bits(zr->data() + r * perRow, blocks, bits,
                         zc.data() + r * blocks);
      } else {
        if (int64_t(zr->size()) != rows * blocks)
          return emitError(loc) << op << " zero_points have " << zr->size()
                                << " elements, expected " << rows * blocks;
        for (int64_t i = 0; i < rows * blocks; ++i)
          zc[i] = (*zr)[i] & 0xF;
      }
      for (int64_t i = 0; i < rows * blocks; ++i) {
        int64_t v = zc[i];
        if (isSigned) // signed zero point z (two's complement) -> z + 8
          v ^= 8;
        z.data[i] = double(v);
      }
    }
    if (isSigned)
      for (uint8_t &c : codes)
        c = uint8_t((c ^ 8) & 0xF); // two's complement + 8 == flip the sign bit
  }

  MLIRContext *ctx = im.ctx;
  auto scheme = lqd::SchemeAttr::get(ctx, lqd::Format::Int, bits, 1, block,
                                     ArrayRef<int64_t>{}, symmetric);
  auto qTy =
      RankedTensorType::get({rows, cols}, IntegerType::get(ctx, bits), scheme);
  Value q = arith::ConstantOp::create(
      im.b, loc, qTy, cast<TypedAttr>(lqd::buildCodesAttr(qTy, codes)));
  FailureOr<Value> s =
      emitReshape(im.b, loc, im.get(scales, loc), {rows, blocks});
  if (failed(s))
    return failure();
  Value zv;
  if (!symmetric)
    zv = constant(im.b, loc, z, im.b.getI32Type());
  Type elt = scales.type.getElementType();
  Value table = lqd::DequantizeOp::create(
      im.b, loc, RankedTensorType::get({rows, cols}, elt), q, *s, zv, Value());
  SmallVector<int64_t> outShape(ids.shape());
  outShape.push_back(cols);
  Value r = lqd::EmbeddingOp::create(im.b, loc,
                                     RankedTensorType::get(outShape, elt),
                                     table, im.get(ids, loc));
  im.setOutput(node, 0, r, scales.dtype);
  return success();
}

} // namespace

void ::lq::onnx_import::registerFusedOps(llvm::StringMap<Translator> &ai,
                                         llvm::StringMap<Translator> &ms) {
  ai["RotaryEmbedding"] = translateRotaryEmbedding;
  ai["Attention"] = translateAttention;
  ai["DynamicQuantizeLinear"] = translateDynamicQuantizeLinear;
  ai["MatMulInteger"] = translateMatMulInteger;
  ai["QLinearMatMul"] = translateQLinearMatMul;
  ms["RotaryEmbedding"] = translateRotaryEmbedding;
  ms["GroupQueryAttention"] = translateGroupQueryAttention;
  ms["GatherBlockQuantized"] = translateGatherBlockQuantized;
}
