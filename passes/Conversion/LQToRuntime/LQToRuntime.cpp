//===- LQToRuntime.cpp - Call lq_rt kernels for hot lq ops ---------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Linear layers and attention dominate an LLM's time. Loop nests from
// linalg-to-loops reach a few GFLOP/s; lq_rt's packed SGEMM and fused
// attention kernels run near the machine's peak, so f32 linears and
// attention call them. A linear whose weight is `lq.dequantize` of int4,
// int8 or NF4 constants calls the fused quantized kernel instead, with the
// codes and scales re-laid out at compile time, so the float weight is never
// materialized. See the pass description in Passes.td for the buffer
// handshake.
//
//===----------------------------------------------------------------------===//

#include "passes/Conversion/LQToRuntime/LQToRuntime.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <lq_rt/formats.h>
#include <lq_rt/kernels.h>

namespace mlir::lq {
#define GEN_PASS_DEF_CONVERTLQTORUNTIMEPASS
#include "passes/Conversion/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// memref<?x...x?xf32, strided<[?, ...], offset: ?>>: the kernels' view of
/// any f32 buffer.
MemRefType anyLayout(MLIRContext *ctx, int64_t rank, Type elt = {}) {
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic), strides(rank, ShapedType::kDynamic);
  return MemRefType::get(
      shape, elt ? elt : Float32Type::get(ctx),
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, strides));
}

/// The callee, declared once per module.
func::FuncOp declare(ModuleOp module, StringRef name, TypeRange args) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name))
    return f;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto f = func::FuncOp::create(b, module.getLoc(), name,
                                b.getFunctionType(args, {}));
  f.setPrivate();
  f->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return f;
}

/// A read-only buffer view of `t` with the kernels' layout.
Value inBuffer(PatternRewriter &rewriter, Location loc, Value t) {
  auto ty = cast<RankedTensorType>(t.getType());
  auto exact = MemRefType::get(
      ty.getShape(), ty.getElementType(),
      StridedLayoutAttr::get(rewriter.getContext(), ShapedType::kDynamic,
                             SmallVector<int64_t>(ty.getRank(), ShapedType::kDynamic)));
  Value buf = bufferization::ToBufferOp::create(rewriter, loc, exact, t,
                                                /*read_only=*/true);
  return memref::CastOp::create(
      rewriter, loc,
      anyLayout(rewriter.getContext(), ty.getRank(), ty.getElementType()), buf);
}

bool isStaticF32(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getElementType().isF32() && t.hasStaticShape() && !t.getEncoding();
}

/// Replaces `op` by a kernel call on its input collapsed to [M, K]: `call`
/// gets the input and a fresh [M, N] output buffer and emits the call. The
/// linear's bias is added after the call by a linalg op.
LogicalResult replaceLinear(
    lq::LinearOp op, PatternRewriter &rewriter,
    function_ref<void(Value x2, Value out)> call) {
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  auto xTy = op.getInput().getType();
  auto yTy = op.getResult().getType();
  int64_t K = xTy.getShape().back(), N = op.getWeight().getType().getDimSize(0);
  int64_t M = xTy.getNumElements() / std::max<int64_t>(K, 1);
  if (K == 0 || M == 0 || N == 0)
    return rewriter.notifyMatchFailure(op, "empty linear");
  auto x2Ty = RankedTensorType::get({M, K}, rewriter.getF32Type());
  auto y2Ty = RankedTensorType::get({M, N}, rewriter.getF32Type());
  auto reassoc = [](int64_t rank) {
    SmallVector<ReassociationIndices> r(2);
    for (int64_t i = 0; i + 1 < rank; ++i)
      r[0].push_back(i);
    r[1].push_back(rank - 1);
    return r;
  };
  Value x2 = op.getInput();
  if (xTy.getRank() == 1)
    x2 = tensor::ExpandShapeOp::create(rewriter, loc, x2Ty, x2,
                                       ArrayRef<ReassociationIndices>{{0, 1}});
  else if (xTy.getRank() > 2)
    x2 = tensor::CollapseShapeOp::create(rewriter, loc, x2Ty, x2,
                                         reassoc(xTy.getRank()));
  Value out = memref::AllocOp::create(
      rewriter, loc, MemRefType::get({M, N}, rewriter.getF32Type()));
  call(inBuffer(rewriter, loc, x2),
       memref::CastOp::create(rewriter, loc, anyLayout(ctx, 2), out));
  Value y2 = bufferization::ToTensorOp::create(rewriter, loc, y2Ty, out,
                                               /*restrict=*/true,
                                               /*writable=*/true);
  if (Value bias = op.getBias()) {
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    AffineMap col = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    Value init = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{M, N},
                                         rewriter.getF32Type());
    y2 = linalg::GenericOp::create(
             rewriter, loc, TypeRange{y2Ty}, ValueRange{y2, bias},
             ValueRange{init}, ArrayRef<AffineMap>{id, col, id},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::parallel},
             [](OpBuilder &b, Location l, ValueRange a) {
               linalg::YieldOp::create(b, l,
                                       Value(arith::AddFOp::create(b, l, a[0], a[1])));
             })
             .getResult(0);
  }
  Value y = y2;
  if (yTy.getRank() == 1)
    y = tensor::CollapseShapeOp::create(rewriter, loc, yTy, y2,
                                        ArrayRef<ReassociationIndices>{{0, 1}});
  else if (yTy.getRank() > 2)
    y = tensor::ExpandShapeOp::create(rewriter, loc, yTy, y2,
                                      reassoc(yTy.getRank()));
  rewriter.replaceOp(op, y);
  return success();
}

struct LinearToRuntime : OpRewritePattern<lq::LinearOp> {
  LinearToRuntime(MLIRContext *ctx, StringRef prefix)
      : OpRewritePattern(ctx), prefix(prefix.str()) {}
  std::string prefix;
  LogicalResult matchAndRewrite(lq::LinearOp op,
                                PatternRewriter &rewriter) const override {
    if (!isStaticF32(op.getInput()) || !isStaticF32(op.getWeight()) ||
        !isStaticF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not a static f32 linear");
    MLIRContext *ctx = op.getContext();
    Location loc = op.getLoc();
    auto fn = declare(op->getParentOfType<ModuleOp>(), prefix + "linear_f32",
                      {anyLayout(ctx, 2), anyLayout(ctx, 2), anyLayout(ctx, 2)});
    return replaceLinear(op, rewriter, [&](Value x2, Value out) {
      func::CallOp::create(
          rewriter, loc, fn,
          ValueRange{x2, inBuffer(rewriter, loc, op.getWeight()), out});
    });
  }
};

ElementsAttr buildConstant(RankedTensorType type, ArrayRef<char> bytes,
                           StringRef blobName, bool inlineSmall);

/// lq.linear with a constant f32 weight used by nothing else -> the weight
/// packed into 16-column panels at compile time (lq_rt_pack_f32_panels, the
/// runtime's own packer, so the layout has one definition) and a call to
/// lq_rt_linear_packed_f32. A decode step then reads the weight as one
/// sequential stream with no horizontal sums, and a prefill skips the
/// per-call packing sgemm_nt does; the .so holds the packed copy instead of
/// the original, not both. CPU only.
struct PackedLinearToRuntime : OpRewritePattern<lq::LinearOp> {
  /// `sharedBlobs`: resource blobs more than one constant refers to, or
  /// with the same bytes as another's (a tied embedding's table and
  /// lm_head): packing one would keep both copies.
  /// `tiedTables`: for a weight constant, the embedding tables with the
  /// same bytes, whose lookups are rewritten to read the packed weight.
  PackedLinearToRuntime(
      MLIRContext *ctx, const llvm::StringSet<> &sharedBlobs,
      const DenseMap<Operation *, SmallVector<Operation *>> &tiedTables)
      : OpRewritePattern(ctx, /*benefit=*/2), sharedBlobs(sharedBlobs),
        tiedTables(tiedTables) {}
  const llvm::StringSet<> &sharedBlobs;
  const DenseMap<Operation *, SmallVector<Operation *>> &tiedTables;

  /// lq.embedding of table row `id` read from the packed layout:
  /// row id, column d is packed[id / 16][d * 16 + id % 16].
  static void lookUpPacked(lq::EmbeddingOp e, Value packed,
                           PatternRewriter &rewriter) {
    Location loc = e.getLoc();
    auto idsTy = cast<RankedTensorType>(e.getIds().getType());
    auto outTy = cast<RankedTensorType>(e.getResult().getType());
    const unsigned idRank = idsTy.getRank(), rank = idRank + 1;
    MLIRContext *ctx = e.getContext();
    SmallVector<AffineExpr> prefix;
    for (unsigned i = 0; i < idRank; ++i)
      prefix.push_back(getAffineDimExpr(i, ctx));
    SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, prefix, ctx),
                                   AffineMap::getMultiDimIdentityMap(rank, ctx)};
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    rewriter.setInsertionPoint(e);
    Value init = tensor::EmptyOp::create(rewriter, loc, outTy.getShape(),
                                         outTy.getElementType());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{outTy}, ValueRange{e.getIds()},
        ValueRange{init}, maps, iters,
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value id = arith::IndexCastOp::create(b, l, b.getIndexType(), a[0]);
          Value w = arith::ConstantIndexOp::create(b, l, LQ_RT_PACK_WIDTH);
          Value panel = arith::DivUIOp::create(b, l, id, w);
          Value lane = arith::RemUIOp::create(b, l, id, w);
          Value d = linalg::IndexOp::create(b, l, idRank);
          Value col = arith::AddIOp::create(
              b, l, arith::MulIOp::create(b, l, d, w), lane);
          Value v = tensor::ExtractOp::create(b, l, packed, ValueRange{panel, col});
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(e, generic.getResult(0));
  }

  LogicalResult matchAndRewrite(lq::LinearOp op,
                                PatternRewriter &rewriter) const override {
    if (!isStaticF32(op.getInput()) || !isStaticF32(op.getWeight()) ||
        !isStaticF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not a static f32 linear");
    auto wTy = cast<RankedTensorType>(op.getWeight().getType());
    if (wTy.getRank() != 2)
      return rewriter.notifyMatchFailure(op, "weight is not a matrix");
    const int64_t N = wTy.getDimSize(0), K = wTy.getDimSize(1);
    if (N == 0 || K == 0 || op.getInput().getType().getNumElements() == 0)
      return rewriter.notifyMatchFailure(op, "empty linear");
    auto cst = op.getWeight().getDefiningOp<arith::ConstantOp>();
    if (!cst || !op.getWeight().hasOneUse())
      return rewriter.notifyMatchFailure(
          op, "weight is not a constant of this linear alone");
    if (auto res = dyn_cast<DenseResourceElementsAttr>(cst.getValue()))
      if (sharedBlobs.contains(res.getRawHandle().getKey()))
        return rewriter.notifyMatchFailure(op, "weight blob is shared");
    SmallVector<float> w;
    if (failed(lq::readFloatElements(cst.getValue(), w)) ||
        int64_t(w.size()) != N * K)
      return rewriter.notifyMatchFailure(op, "unreadable weight");
    std::vector<float> packed(size_t(lq_rt_packed_f32_size(N, K)));
    lq_rt_pack_f32_panels(w.data(), N, K, packed.data());
    const int64_t panels = (N + LQ_RT_PACK_WIDTH - 1) / LQ_RT_PACK_WIDTH;
    auto pTy = RankedTensorType::get({panels, K * LQ_RT_PACK_WIDTH},
                                     rewriter.getF32Type());
    std::string name = "packed";
    if (auto res = dyn_cast<DenseResourceElementsAttr>(cst.getValue()))
      name = (res.getRawHandle().getKey() + ".packed").str();
    ElementsAttr attr = buildConstant(
        pTy,
        ArrayRef<char>(reinterpret_cast<const char *>(packed.data()),
                       packed.size() * sizeof(float)),
        name, /*inlineSmall=*/true);
    rewriter.setInsertionPoint(cst);
    Value p = arith::ConstantOp::create(rewriter, cst.getLoc(), pTy,
                                        cast<TypedAttr>(attr));
    // A tied embedding's lookups read the packed copy; its table goes.
    if (auto it = tiedTables.find(cst.getOperation()); it != tiedTables.end())
      for (Operation *table : it->second) {
        SmallVector<lq::EmbeddingOp> lookups;
        for (Operation *user : table->getUsers())
          lookups.push_back(cast<lq::EmbeddingOp>(user));
        for (lq::EmbeddingOp e : lookups)
          lookUpPacked(e, p, rewriter);
        rewriter.eraseOp(table);
      }
    rewriter.setInsertionPoint(op);
    MLIRContext *ctx = op.getContext();
    Location loc = op.getLoc();
    auto fn = declare(op->getParentOfType<ModuleOp>(),
                      "lq_rt_linear_packed_f32",
                      {anyLayout(ctx, 2), anyLayout(ctx, 2), anyLayout(ctx, 2)});
    return replaceLinear(op, rewriter, [&](Value x2, Value out) {
      func::CallOp::create(rewriter, loc, fn,
                           ValueRange{x2, inBuffer(rewriter, loc, p), out});
    });
  }
};

//===----------------------------------------------------------------------===//
// Weight-only quantized linears
//===----------------------------------------------------------------------===//

/// The raw b-bit codes (zero-extended, one per byte, row-major) of a
/// quantized constant: `dense` of the storage type, or a `dense_resource`
/// blob packed as <lq_rt/formats.h> says (or one code per byte).
LogicalResult readCodes(Attribute attr, int64_t n, unsigned bits,
                        std::vector<uint8_t> &out) {
  const uint8_t mask = uint8_t((1u << bits) - 1);
  out.clear();
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    Type et = dense.getElementType();
    out.reserve(n);
    if (et.isInteger(bits)) {
      for (const APInt &v : dense.getValues<APInt>())
        out.push_back(uint8_t(v.getZExtValue()) & mask);
    } else if (isa<FloatType>(et) && et.getIntOrFloatBitWidth() == bits) {
      // Float codes (FP4 E2M1, FP8): their bit patterns.
      for (const APFloat &v : dense.getValues<APFloat>())
        out.push_back(uint8_t(v.bitcastToAPInt().getZExtValue()) & mask);
    } else {
      return failure();
    }
    return success(int64_t(out.size()) == n);
  }
  auto res = dyn_cast<DenseResourceElementsAttr>(attr);
  AsmResourceBlob *blob = res ? res.getRawHandle().getBlob() : nullptr;
  if (!blob)
    return failure();
  ArrayRef<char> data = blob->getData();
  const auto *bytes = reinterpret_cast<const uint8_t *>(data.data());
  out.resize(n);
  if (data.size() == size_t(n)) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = bytes[i] & mask;
  } else if (data.size() == lq_packed_size(n, bits)) {
    lq_unpack_bits(bytes, n, bits, out.data());
  } else {
    return failure();
  }
  return success();
}

/// A constant of `type` holding `bytes`: a `dense_resource` blob, or inline
/// `dense` when `inlineSmall` and small (readable tests), like
/// lq::buildCodesAttr.
ElementsAttr buildConstant(RankedTensorType type, ArrayRef<char> bytes,
                           StringRef blobName, bool inlineSmall) {
  if (inlineSmall && type.getNumElements() <= lq::kMaxInlineCodes)
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  return DenseResourceElementsAttr::get(
      type, blobName,
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(uint64_t)));
}

/// The lq.dequantize that feeds the weight of a static f32 linear (the
/// quantized-linear patterns below start from it), or a match failure.
FailureOr<lq::DequantizeOp> dequantizedWeight(lq::LinearOp op,
                                              PatternRewriter &rewriter) {
  if (!isStaticF32(op.getInput()) || !isStaticF32(op.getWeight()) ||
      !isStaticF32(op.getResult()))
    return rewriter.notifyMatchFailure(op, "not a static f32 linear");
  auto dq = op.getWeight().getDefiningOp<lq::DequantizeOp>();
  if (!dq)
    return rewriter.notifyMatchFailure(op, "weight is not lq.dequantize");
  return dq;
}

/// lq.linear(x, lq.dequantize(codes, scales [, zero_point])) with constant
/// int4/int8/NF4 operands and groups along K -> lq_rt_linear_q_f32 on the
/// kernel's layout (see lq_rt_qgemm_nt in <lq_rt/kernels.h>): codes packed
/// per row as i8 [N, ceil(K*bits/8)], scales f32 [N, K/g] and, for
/// asymmetric schemes, biases -zero_point*scale f32 [N, K/g]. Anything else
/// is left to LinearToRuntime (generic dequantize, then the f32 kernel).
struct QuantizedLinearToRuntime : OpRewritePattern<lq::LinearOp> {
  QuantizedLinearToRuntime(MLIRContext *ctx, StringRef prefix)
      : OpRewritePattern(ctx, /*benefit=*/2), prefix(prefix.str()) {}
  std::string prefix;

  LogicalResult matchAndRewrite(lq::LinearOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<lq::DequantizeOp> weight = dequantizedWeight(op, rewriter);
    if (failed(weight))
      return failure();
    if (op.getInput().getType().getNumElements() == 0)
      return rewriter.notifyMatchFailure(op, "empty linear");
    lq::DequantizeOp dq = *weight;
    lq::SchemeAttr scheme = dq.getScheme();
    const bool isInt = scheme.getFormat() == lq::Format::Int;
    // FP4 E2M1 codes (MXFP4, NVFP4) decode through the kernel's 4-bit table
    // like NF4; their E8M0/E4M3 scales (times NVFP4's tensor scale) become
    // f32 scales here. FP8 codes decode through a 256-entry table (lq_rt) or
    // by moving their bits into halves (lq_rt_cuda): both runtimes take the
    // same format codes. MXFP6/MXFP8 weights have no kernel on either and
    // stay with LinearToRuntime (dequantize, then the f32 linear).
    const bool isFp4 = scheme.getFormat() == lq::Format::MXFP4 ||
                       scheme.getFormat() == lq::Format::NVFP4;
    const bool isFp8 = scheme.getFormat() == lq::Format::FP8E4M3 ||
                       scheme.getFormat() == lq::Format::FP8E5M2;
    const unsigned bits = scheme.getCodeBits();
    if (!(isInt && (bits == 4 || bits == 8)) &&
        scheme.getFormat() != lq::Format::NF4 && !isFp4 && !isFp8)
      return rewriter.notifyMatchFailure(op, "no kernel for this format");
    Attribute globalAttr;
    SmallVector<float> global;
    if (dq.getGlobalScale() &&
        (!isFp4 || !matchPattern(dq.getGlobalScale(), m_Constant(&globalAttr)) ||
         failed(lq::readFloatElements(globalAttr, global)) || global.size() != 1))
      return rewriter.notifyMatchFailure(op, "global scale");
    auto qTy = dq.getInput().getType();
    if (qTy.getRank() != 2 || !qTy.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "weight is not a static matrix");
    const int64_t N = qTy.getDimSize(0), K = qTy.getDimSize(1);
    // Elements sharing a scale: rows [bn] x columns [g]; the kernel wants
    // groups along K within a row, which any bn allows (scales are repeated
    // over the rows of a block).
    SmallVector<int64_t> blk = scheme.getBlockShape(qTy.getShape());
    const int64_t bn = blk[0], g = blk[1];
    if (N == 0 || K == 0 || g <= 0 || K % g || bn <= 0 || N % bn)
      return rewriter.notifyMatchFailure(op, "scale blocks do not tile");
    if (bits == 4 && g % 2 && g != K)
      return rewriter.notifyMatchFailure(op, "odd 4-bit groups");
    const int64_t G = K / g;

    Attribute codesAttr, scalesAttr, zpAttr;
    if (!matchPattern(dq.getInput(), m_Constant(&codesAttr)) ||
        !matchPattern(dq.getScales(), m_Constant(&scalesAttr)) ||
        (dq.getZeroPoint() &&
         !matchPattern(dq.getZeroPoint(), m_Constant(&zpAttr))))
      return rewriter.notifyMatchFailure(op, "operands are not constants");
    const bool asym = scheme.hasZeroPoint();
    if (dq.getZeroPoint() && !asym)
      return rewriter.notifyMatchFailure(op, "zero point on a symmetric scheme");
    std::vector<uint8_t> codes;
    SmallVector<float> scales;
    SmallVector<int64_t> zps;
    if (failed(readCodes(codesAttr, N * K, bits, codes)) ||
        failed(lq::readFloatElements(scalesAttr, scales)) ||
        (zpAttr && failed(lq::readIntElements(zpAttr, zps))))
      return rewriter.notifyMatchFailure(op, "unreadable constants");
    if (zpAttr) {
      // As the generic lowering reads it: zero-extended when no wider than
      // the codes (it shares their unsigned range), else sign-extended.
      unsigned w = cast<ShapedType>(cast<TypedAttr>(zpAttr).getType())
                       .getElementTypeBitWidth();
      if (w <= bits)
        for (int64_t &z : zps)
          z &= (int64_t(1) << w) - 1;
      else if (w > 32)
        for (int64_t &z : zps)
          z = int32_t(uint32_t(uint64_t(z)));
    }
    if (!global.empty())
      for (float &sc : scales)
        sc *= global[0];
    const int64_t nScales = (N / bn) * G;
    if ((scales.size() != 1 && int64_t(scales.size()) != nScales) ||
        (!zps.empty() && zps.size() != scales.size()))
      return rewriter.notifyMatchFailure(op, "unexpected scale shape");

    // Kernel layout.
    const int64_t rowBytes = int64_t(lq_packed_size(K, bits));
    std::vector<char> packed(N * rowBytes);
    std::vector<float> s(N * G), b(asym ? N * G : 0);
    for (int64_t n = 0; n < N; ++n) {
      lq_pack_bits(codes.data() + n * K, K, bits,
                   reinterpret_cast<uint8_t *>(packed.data()) + n * rowBytes);
      for (int64_t gi = 0; gi < G; ++gi) {
        int64_t i = scales.size() == 1 ? 0 : (n / bn) * G + gi;
        s[n * G + gi] = scales[i];
        if (asym)
          b[n * G + gi] = -float(zps.empty() ? 0 : zps[i]) * scales[i];
      }
    }

    MLIRContext *ctx = op.getContext();
    Location loc = op.getLoc();
    auto i8 = rewriter.getI8Type();
    auto f32 = rewriter.getF32Type();
    auto constant = [&](RankedTensorType ty, ArrayRef<char> bytes,
                        StringRef name, bool inlineSmall = true) -> Value {
      return arith::ConstantOp::create(
          rewriter, loc, ty,
          cast<TypedAttr>(buildConstant(ty, bytes, name, inlineSmall)));
    };
    auto floats = [](ArrayRef<float> v) {
      return ArrayRef<char>(reinterpret_cast<const char *>(v.data()),
                            v.size() * sizeof(float));
    };
    auto sTy = RankedTensorType::get({N, G}, f32);
    // Packed codes are always a blob: they are bytes, not i8 values.
    Value codesV = constant(RankedTensorType::get({N, rowBytes}, i8), packed,
                            "lq_qlinear_codes", /*inlineSmall=*/false);
    Value scalesV = constant(sTy, floats(s), "lq_qlinear_scales");
    // Symmetric schemes pass the scales again; the kernel ignores them.
    Value biasesV =
        asym ? constant(sTy, floats(b), "lq_qlinear_biases") : scalesV;
    auto i32c = [&](int64_t v) -> Value {
      return arith::ConstantOp::create(rewriter, loc,
                                       rewriter.getI32IntegerAttr(v));
    };
    Value format = i32c(int64_t(scheme.getFormat()));
    Value bitsV = i32c(bits);
    Value group = arith::ConstantOp::create(rewriter, loc,
                                            rewriter.getI64IntegerAttr(g));
    Value asymV = i32c(asym ? 1 : 0);
    auto fn = declare(op->getParentOfType<ModuleOp>(), prefix + "linear_q_f32",
                      {anyLayout(ctx, 2), anyLayout(ctx, 2, i8),
                       anyLayout(ctx, 2), anyLayout(ctx, 2), anyLayout(ctx, 2),
                       rewriter.getI32Type(), rewriter.getI32Type(),
                       rewriter.getI64Type(), rewriter.getI32Type()});
    return replaceLinear(op, rewriter, [&](Value x2, Value out) {
      func::CallOp::create(
          rewriter, loc, fn,
          ValueRange{x2, inBuffer(rewriter, loc, codesV),
                     inBuffer(rewriter, loc, scalesV),
                     inBuffer(rewriter, loc, biasesV), out, format, bitsV,
                     group, asymV});
    });
  }
};

/// The activation side of an integer linear: lq.dequantize(xq, sx) with
/// int8 symmetric codes from lq.quantize (a fresh identity-layout buffer,
/// which the kernel reads as a row-major [M, K] view without a copy) and a
/// static f32 scale per tensor or per token (one per row of K).
struct Int8Activation {
  lq::DequantizeOp dq;
  int64_t M = 0, nScales = 0;
  bool perToken = false;
};

bool isInt8Sym(lq::DequantizeOp dq) {
  lq::SchemeAttr s = dq.getScheme();
  auto codesTy = dq.getInput().getType();
  return s.getFormat() == lq::Format::Int && s.getCodeBits() == 8 &&
         s.getSymmetric() && !dq.getZeroPoint() && !dq.getGlobalScale() &&
         codesTy.hasStaticShape() && codesTy.getElementType().isInteger(8);
}

FailureOr<Int8Activation> matchInt8Activation(lq::LinearOp op, int64_t K,
                                              PatternRewriter &rewriter) {
  auto dqx = op.getInput().getDefiningOp<lq::DequantizeOp>();
  if (!dqx || !isInt8Sym(dqx))
    return rewriter.notifyMatchFailure(
        op, "input is not an int8 symmetric lq.dequantize");
  if (!dqx.getInput().getDefiningOp<lq::QuantizeOp>())
    return rewriter.notifyMatchFailure(op, "activation codes not lq.quantize");
  auto xTy = dqx.getInput().getType();
  if (xTy.getRank() < 2 || xTy.getShape().back() != K)
    return rewriter.notifyMatchFailure(op, "activation is not [.., M, K]");
  Int8Activation a;
  a.dq = dqx;
  a.M = xTy.getNumElements() / std::max<int64_t>(K, 1);
  auto sxTy = dyn_cast<RankedTensorType>(dqx.getScales().getType());
  if (!sxTy || !sxTy.hasStaticShape() || !sxTy.getElementType().isF32())
    return rewriter.notifyMatchFailure(op, "activation scales not static f32");
  a.nScales = sxTy.getNumElements();
  SmallVector<int64_t> xBlock = dqx.getScheme().getBlockShape(xTy.getShape());
  a.perToken = xBlock.back() == K && a.nScales == a.M;
  for (size_t i = 0; i + 1 < xBlock.size(); ++i)
    a.perToken &= xBlock[i] == 1;
  if (a.nScales != 1 && !a.perToken)
    return rewriter.notifyMatchFailure(
        op, "activation scales are neither per tensor nor per token");
  return a;
}

/// The codes as a kernel view [M, K] (collapsed, no copy) and the scales as
/// a tensor of [M] or [1].
std::pair<Value, Value> int8ActivationOperands(PatternRewriter &rewriter,
                                               Location loc,
                                               Int8Activation a) {
  MLIRContext *ctx = rewriter.getContext();
  Value xq = a.dq.getInput();
  auto xTy = a.dq.getInput().getType();
  Value xBuf = bufferization::ToBufferOp::create(
      rewriter, loc, MemRefType::get(xTy.getShape(), rewriter.getI8Type()), xq,
      /*read_only=*/true);
  if (xTy.getRank() > 2) {
    SmallVector<ReassociationIndices> r(2);
    for (int64_t i = 0; i + 1 < xTy.getRank(); ++i)
      r[0].push_back(i);
    r[1].push_back(xTy.getRank() - 1);
    xBuf = memref::CollapseShapeOp::create(rewriter, loc, xBuf, r);
  }
  xBuf = memref::CastOp::create(rewriter, loc,
                                anyLayout(ctx, 2, rewriter.getI8Type()), xBuf);
  Value sx = a.dq.getScales();
  auto sxTy = cast<RankedTensorType>(sx.getType());
  auto sx1Ty = RankedTensorType::get({a.nScales}, rewriter.getF32Type());
  if (sxTy.getRank() == 0)
    sx = tensor::ExpandShapeOp::create(rewriter, loc, sx1Ty, sx,
                                       ArrayRef<ReassociationIndices>{});
  else if (sxTy.getRank() > 1) {
    ReassociationIndices all;
    for (int64_t i = 0; i < sxTy.getRank(); ++i)
      all.push_back(i);
    sx = tensor::CollapseShapeOp::create(rewriter, loc, sx1Ty, sx,
                                         ArrayRef<ReassociationIndices>{all});
  }
  return {xBuf, sx};
}

/// The [M, N] output buffer `out` as the linear's result, expanded back to
/// its leading dimensions.
void replaceWithOutput(lq::LinearOp op, PatternRewriter &rewriter, Value out,
                       int64_t M, int64_t N) {
  Location loc = op.getLoc();
  auto y2Ty = RankedTensorType::get({M, N}, rewriter.getF32Type());
  Value y = bufferization::ToTensorOp::create(rewriter, loc, y2Ty, out,
                                              /*restrict=*/true,
                                              /*writable=*/true);
  auto yTy = op.getResult().getType();
  if (yTy.getRank() > 2) {
    SmallVector<ReassociationIndices> r(2);
    for (int64_t i = 0; i + 1 < yTy.getRank(); ++i)
      r[0].push_back(i);
    r[1].push_back(yTy.getRank() - 1);
    y = tensor::ExpandShapeOp::create(rewriter, loc, yTy, y, r);
  }
  rewriter.replaceOp(op, y);
}

/// A constant blob of packed weight bytes, named after the codes' blob.
Value packedConstant(PatternRewriter &rewriter, Location loc,
                     RankedTensorType ty, ArrayRef<int8_t> bytes,
                     Attribute codesAttr, StringRef suffix) {
  std::string name = ("lq_" + suffix + "_packed").str();
  if (auto res = dyn_cast<DenseResourceElementsAttr>(codesAttr))
    name = (res.getRawHandle().getKey() + "." + suffix).str();
  return arith::ConstantOp::create(
      rewriter, loc, ty,
      cast<TypedAttr>(buildConstant(
          ty, ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()),
                             bytes.size()),
          name, /*inlineSmall=*/false)));
}

/// lq.linear(x, lq.dequantize(codes : bf16, scale)) with constant bfloat16
/// codes and a scale of 1 (the `bf16` format as --quantize-weights writes
/// it) -> lq_rt_linear_bf16: the codes packed at compile time by
/// lq_rt_pack_bf16 (16-column panels of 2-deep K blocks, vdpbf16ps's
/// operand order) into an i16 [ceil(N/16), ceil(K/2) * 32] constant; the
/// kernel widens them exactly to f32 in registers (decode) or runs
/// vdpbf16ps (prefill), so no f32 weight is ever materialized. CPU only; a
/// bias is added after the call like every other linear's.
struct Bf16LinearToRuntime : OpRewritePattern<lq::LinearOp> {
  Bf16LinearToRuntime(MLIRContext *ctx)
      : OpRewritePattern(ctx, /*benefit=*/3) {}

  LogicalResult matchAndRewrite(lq::LinearOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<lq::DequantizeOp> weight = dequantizedWeight(op, rewriter);
    if (failed(weight))
      return failure();
    if (op.getInput().getType().getNumElements() == 0)
      return rewriter.notifyMatchFailure(op, "empty linear");
    lq::DequantizeOp dq = *weight;
    if (dq.getScheme().getFormat() != lq::Format::BF16)
      return rewriter.notifyMatchFailure(op, "weight is not bf16");
    auto qTy = dq.getInput().getType();
    if (qTy.getRank() != 2 || !qTy.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "weight is not a static matrix");
    const int64_t N = qTy.getDimSize(0), K = qTy.getDimSize(1);
    if (N == 0 || K == 0)
      return rewriter.notifyMatchFailure(op, "empty weight");
    Attribute codesAttr, scalesAttr;
    SmallVector<float> scales;
    if (!matchPattern(dq.getInput(), m_Constant(&codesAttr)) ||
        !matchPattern(dq.getScales(), m_Constant(&scalesAttr)) ||
        failed(lq::readFloatElements(scalesAttr, scales)))
      return rewriter.notifyMatchFailure(op, "operands are not constants");
    if (!llvm::all_of(scales, [](float s) { return s == 1.0f; }))
      return rewriter.notifyMatchFailure(op, "bf16 scale is not 1");
    // The codes' bit patterns, row-major.
    std::vector<uint16_t> codes(size_t(N * K));
    ArrayRef<char> raw;
    if (auto dense = dyn_cast<DenseElementsAttr>(codesAttr)) {
      if (dense.isSplat()) {
        uint16_t c = uint16_t(
            dense.getSplatValue<APFloat>().bitcastToAPInt().getZExtValue());
        std::fill(codes.begin(), codes.end(), c);
      } else {
        raw = dense.getRawData();
      }
    } else if (auto res = dyn_cast<DenseResourceElementsAttr>(codesAttr)) {
      if (AsmResourceBlob *blob = res.getRawHandle().getBlob())
        raw = blob->getData();
    }
    if (!raw.empty()) {
      if (raw.size() != codes.size() * 2)
        return rewriter.notifyMatchFailure(op, "unreadable bf16 codes");
      for (size_t i = 0; i < codes.size(); ++i)
        codes[i] = uint16_t(uint8_t(raw[2 * i]) | uint8_t(raw[2 * i + 1]) << 8);
    } else if (!isa<DenseElementsAttr>(codesAttr) ||
               !cast<DenseElementsAttr>(codesAttr).isSplat()) {
      return rewriter.notifyMatchFailure(op, "unreadable bf16 codes");
    }

    MLIRContext *ctx = op.getContext();
    Location loc = op.getLoc();
    std::vector<uint16_t> packed(size_t(lq_rt_packed_bf16_size(N, K) / 2));
    lq_rt_pack_bf16(codes.data(), N, K, packed.data());
    const int64_t panels = (N + LQ_RT_BF16_WIDTH - 1) / LQ_RT_BF16_WIDTH;
    auto i16 = rewriter.getIntegerType(16);
    auto pTy = RankedTensorType::get(
        {panels, (K + 1) / 2 * 2 * LQ_RT_BF16_WIDTH}, i16);
    std::string name = "lq_bf16_packed";
    if (auto res = dyn_cast<DenseResourceElementsAttr>(codesAttr))
      name = (res.getRawHandle().getKey() + ".bf16").str();
    Value packedV = arith::ConstantOp::create(
        rewriter, loc, pTy,
        cast<TypedAttr>(buildConstant(
            pTy,
            ArrayRef<char>(reinterpret_cast<const char *>(packed.data()),
                           packed.size() * 2),
            name, /*inlineSmall=*/false)));
    auto fn = declare(op->getParentOfType<ModuleOp>(), "lq_rt_linear_bf16",
                      {anyLayout(ctx, 2), anyLayout(ctx, 2, i16),
                       anyLayout(ctx, 2)});
    return replaceLinear(op, rewriter, [&](Value x2, Value out) {
      func::CallOp::create(
          rewriter, loc, fn,
          ValueRange{x2, inBuffer(rewriter, loc, packedV), out});
    });
  }
};

/// W8A8 (--quantize-activations on int8 weights): lq.linear(lq.dequantize(
/// xq, sx), lq.dequantize(Wq, sw)) with int8 symmetric codes on both sides,
/// x per tensor (static or dynamic scale) or per token, W per output channel
/// (or per tensor) and constant -> lq_rt_linear_w8a8, an integer GEMM:
///   y[m, n] = sx[m] * sw[n] * sum_k xq[m, k] * Wq[n, k]   (+ bias[n])
/// with the sum in int32 (exact; SmoothQuant's W8A8 as deployed,
/// arXiv:2211.10438). It equals the fake-quantized f32 linear it replaces
/// up to the f32 rounding of that linear's own sum. The activation codes
/// stay what lq.quantize computes (lowered by convert-lq-to-linalg, scales
/// from lq.compute_scales or a constant); only the two dequantizes and the
/// f32 GEMM go. The weight is packed at compile time by lq_rt_pack_w8a8
/// (16-column panels of 4-deep K blocks plus 128 * row sums for VNNI's
/// u8 x s8 dot), like PackedLinearToRuntime's f32 panels. CPU only.
struct W8A8LinearToRuntime : OpRewritePattern<lq::LinearOp> {
  explicit W8A8LinearToRuntime(MLIRContext *ctx)
      : OpRewritePattern(ctx, /*benefit=*/3) {}

  LogicalResult matchAndRewrite(lq::LinearOp op,
                                PatternRewriter &rewriter) const override {
    if (!isStaticF32(op.getInput()) || !isStaticF32(op.getWeight()) ||
        !isStaticF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not a static f32 linear");
    auto dqw = op.getWeight().getDefiningOp<lq::DequantizeOp>();
    if (!dqw || !isInt8Sym(dqw))
      return rewriter.notifyMatchFailure(
          op, "weight is not an int8 symmetric lq.dequantize");
    auto wTy = dqw.getInput().getType();
    if (wTy.getRank() != 2)
      return rewriter.notifyMatchFailure(op, "weight is not [N, K]");
    const int64_t N = wTy.getDimSize(0), K = wTy.getDimSize(1);
    if (N == 0 || K == 0 || K >= 131072)
      return rewriter.notifyMatchFailure(op, "empty linear or K too long");
    FailureOr<Int8Activation> act = matchInt8Activation(op, K, rewriter);
    if (failed(act))
      return failure();
    const int64_t M = act->M;
    // Weight: constant codes, one scale per row (block [bn, K]).
    SmallVector<int64_t> wBlock = dqw.getScheme().getBlockShape(wTy.getShape());
    const int64_t bn = wBlock[0];
    if (wBlock[1] != K || bn <= 0 || N % bn)
      return rewriter.notifyMatchFailure(op, "weight scales not per channel");
    Attribute codesAttr, scalesAttr;
    if (!matchPattern(dqw.getInput(), m_Constant(&codesAttr)) ||
        !matchPattern(dqw.getScales(), m_Constant(&scalesAttr)))
      return rewriter.notifyMatchFailure(op, "weight is not constant");
    std::vector<uint8_t> codes;
    SmallVector<float> scales;
    if (failed(readCodes(codesAttr, N * K, 8, codes)) ||
        failed(lq::readFloatElements(scalesAttr, scales)) ||
        (scales.size() != 1 && int64_t(scales.size()) != N / bn))
      return rewriter.notifyMatchFailure(op, "unreadable weight constants");
    Value bias = op.getBias();
    if (bias && (!isStaticF32(bias) ||
                 cast<RankedTensorType>(bias.getType()).getShape() !=
                     ArrayRef<int64_t>{N}))
      return rewriter.notifyMatchFailure(op, "bias is not f32 [N]");

    MLIRContext *ctx = op.getContext();
    Location loc = op.getLoc();
    auto i8 = rewriter.getI8Type();
    auto f32 = rewriter.getF32Type();
    // Compile-time packing (the runtime's own packer: one definition of the
    // layout).
    std::vector<int8_t> packed(size_t(lq_rt_packed_w8a8_size(N, K)));
    lq_rt_pack_w8a8(reinterpret_cast<const int8_t *>(codes.data()), N, K,
                    packed.data());
    const int64_t panels = (N + LQ_RT_W8A8_WIDTH - 1) / LQ_RT_W8A8_WIDTH;
    auto pTy = RankedTensorType::get({panels, lq_rt_w8a8_panel_bytes(K)}, i8);
    Value packedV =
        packedConstant(rewriter, loc, pTy, packed, codesAttr, "w8a8");
    std::vector<float> sw(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n)
      sw[n] = scales.size() == 1 ? scales[0] : scales[n / bn];
    auto swTy = RankedTensorType::get({N}, f32);
    Value swV = arith::ConstantOp::create(
        rewriter, loc, swTy,
        cast<TypedAttr>(buildConstant(
            swTy, ArrayRef<char>(reinterpret_cast<const char *>(sw.data()),
                                 sw.size() * sizeof(float)),
            "lq_w8a8_scales", /*inlineSmall=*/true)));

    auto [xBuf, sx] = int8ActivationOperands(rewriter, loc, *act);
    Value swBuf = inBuffer(rewriter, loc, swV);
    Value out = memref::AllocOp::create(rewriter, loc,
                                        MemRefType::get({M, N}, f32));
    auto fn = declare(op->getParentOfType<ModuleOp>(), "lq_rt_linear_w8a8",
                      {anyLayout(ctx, 2, i8), anyLayout(ctx, 1),
                       anyLayout(ctx, 2, i8), anyLayout(ctx, 1),
                       anyLayout(ctx, 1), anyLayout(ctx, 2),
                       rewriter.getI32Type()});
    Value hasBias = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI32IntegerAttr(bias ? 1 : 0));
    func::CallOp::create(
        rewriter, loc, fn,
        ValueRange{xBuf, inBuffer(rewriter, loc, sx),
                   inBuffer(rewriter, loc, packedV), swBuf,
                   bias ? inBuffer(rewriter, loc, bias) : swBuf,
                   memref::CastOp::create(rewriter, loc, anyLayout(ctx, 2), out),
                   hasBias});
    replaceWithOutput(op, rewriter, out, M, N);
    return success();
  }
};

/// W4A8 (the w4a8 recipe: GPTQ/RTN int4 weights in groups along K,
/// --quantize-activations granularity=per-token): lq.linear(lq.dequantize(
/// xq, sx), lq.dequantize(Wq, sw[, z])) with int8 symmetric activation codes
/// per token (or per tensor) and constant int4 weights, symmetric or with
/// zero points, one scale per (output channel, group of G along K),
/// G % 8 == 0 -> lq_rt_linear_w4a8, an integer GEMM:
///   y[m, n] = sx[m] * sum_g sw[n, g] * sum_{k in g} xq[m, k] (Wq[n, k] - z[n, g])
///             (+ bias[n])
/// with each group's sum in int32 (exact) and the sum over groups in f32 —
/// llama.cpp Q4_0 x Q8_0's arithmetic (QServe's W4A8, arXiv:2405.04532,
/// without its second-level scales). It equals the fake-quantized linear it
/// replaces (dequantized activations x lq_rt_linear_q_f32) up to f32
/// rounding. As for W8A8 the codes stay lq.quantize's; the weight, its
/// scales and zero points are packed at compile time by lq_rt_pack_w4a8
/// (16-column panels; per group a header and 64-byte blocks of nibbles,
/// vpdpbusd's operand layout). CPU only.
struct W4A8LinearToRuntime : OpRewritePattern<lq::LinearOp> {
  explicit W4A8LinearToRuntime(MLIRContext *ctx)
      : OpRewritePattern(ctx, /*benefit=*/3) {}

  LogicalResult matchAndRewrite(lq::LinearOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<lq::DequantizeOp> weight = dequantizedWeight(op, rewriter);
    if (failed(weight))
      return failure();
    lq::DequantizeOp dqw = *weight;
    lq::SchemeAttr scheme = dqw.getScheme();
    auto wTy = dqw.getInput().getType();
    if (scheme.getFormat() != lq::Format::Int || scheme.getCodeBits() != 4 ||
        dqw.getGlobalScale() || !wTy.hasStaticShape() || wTy.getRank() != 2)
      return rewriter.notifyMatchFailure(op, "weight is not an int4 matrix");
    const bool asym = scheme.hasZeroPoint();
    if (bool(dqw.getZeroPoint()) != asym)
      return rewriter.notifyMatchFailure(op, "zero point does not fit scheme");
    const int64_t N = wTy.getDimSize(0), K = wTy.getDimSize(1);
    SmallVector<int64_t> blk = scheme.getBlockShape(wTy.getShape());
    const int64_t bn = blk[0], g = blk[1];
    if (N == 0 || K == 0 || bn <= 0 || N % bn || g <= 0 || g % 8 || K % g ||
        lq_rt_w4a8_panel_bytes(K, g, asym) < 0)
      return rewriter.notifyMatchFailure(
          op, "weight groups are not multiples of 8 tiling K");
    const int64_t G = K / g;
    FailureOr<Int8Activation> act = matchInt8Activation(op, K, rewriter);
    if (failed(act))
      return failure();
    const int64_t M = act->M;
    Attribute codesAttr, scalesAttr, zpAttr;
    if (!matchPattern(dqw.getInput(), m_Constant(&codesAttr)) ||
        !matchPattern(dqw.getScales(), m_Constant(&scalesAttr)) ||
        (asym && !matchPattern(dqw.getZeroPoint(), m_Constant(&zpAttr))))
      return rewriter.notifyMatchFailure(op, "weight is not constant");
    std::vector<uint8_t> codes;
    SmallVector<float> scales;
    SmallVector<int64_t> zps;
    if (failed(readCodes(codesAttr, N * K, 4, codes)) ||
        failed(lq::readFloatElements(scalesAttr, scales)) ||
        (zpAttr && failed(lq::readIntElements(zpAttr, zps))))
      return rewriter.notifyMatchFailure(op, "unreadable weight constants");
    const int64_t nScales = (N / bn) * G;
    if ((scales.size() != 1 && int64_t(scales.size()) != nScales) ||
        (asym && zps.size() != scales.size()))
      return rewriter.notifyMatchFailure(op, "unexpected scale shape");
    if (zpAttr) {
      // As the generic lowering reads it (QuantizedLinearToRuntime):
      // zero-extended when no wider than the codes, else sign-extended.
      unsigned w = cast<ShapedType>(cast<TypedAttr>(zpAttr).getType())
                       .getElementTypeBitWidth();
      if (w <= 4)
        for (int64_t &z : zps)
          z &= (int64_t(1) << w) - 1;
    }
    Value bias = op.getBias();
    if (bias && (!isStaticF32(bias) ||
                 cast<RankedTensorType>(bias.getType()).getShape() !=
                     ArrayRef<int64_t>{N}))
      return rewriter.notifyMatchFailure(op, "bias is not f32 [N]");
    // The kernel's operands: codes as int4 values (two's complement when
    // symmetric, [0, 15] with zero points), scales and zero points [N, G].
    std::vector<int8_t> q(codes.size());
    for (size_t i = 0; i < codes.size(); ++i)
      q[i] = asym ? int8_t(codes[i]) : int8_t(codes[i] >= 8 ? codes[i] - 16
                                                            : codes[i]);
    std::vector<float> sw(size_t(N * G));
    std::vector<int32_t> z(asym ? size_t(N * G) : 0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t gi = 0; gi < G; ++gi) {
        const size_t i = scales.size() == 1 ? 0 : size_t((n / bn) * G + gi);
        sw[size_t(n * G + gi)] = scales[i];
        if (asym) {
          if (zps[i] < 0 || zps[i] > 15)
            return rewriter.notifyMatchFailure(op, "zero point not in [0, 15]");
          z[size_t(n * G + gi)] = int32_t(zps[i]);
        }
      }
    const int64_t panels = (N + LQ_RT_W4A8_WIDTH - 1) / LQ_RT_W4A8_WIDTH;
    const int64_t pb = lq_rt_w4a8_panel_bytes(K, g, asym);
    std::vector<int8_t> packed(size_t(panels * pb));
    if (lq_rt_pack_w4a8(q.data(), sw.data(), asym ? z.data() : nullptr, N, K,
                        g, packed.data()) != 0)
      return rewriter.notifyMatchFailure(op, "codes out of the int4 range");

    MLIRContext *ctx = op.getContext();
    Location loc = op.getLoc();
    auto i8 = rewriter.getI8Type();
    auto pTy = RankedTensorType::get({panels, pb}, i8);
    Value packedV =
        packedConstant(rewriter, loc, pTy, packed, codesAttr, "w4a8");
    auto [xBuf, sx] = int8ActivationOperands(rewriter, loc, *act);
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get({M, N}, rewriter.getF32Type()));
    Value sxBuf = inBuffer(rewriter, loc, sx);
    auto fn = declare(op->getParentOfType<ModuleOp>(), "lq_rt_linear_w4a8",
                      {anyLayout(ctx, 2, i8), anyLayout(ctx, 1),
                       anyLayout(ctx, 2, i8), anyLayout(ctx, 1),
                       anyLayout(ctx, 2), rewriter.getI64Type(),
                       rewriter.getI32Type(), rewriter.getI32Type()});
    auto i32c = [&](int64_t v) -> Value {
      return arith::ConstantOp::create(rewriter, loc,
                                       rewriter.getI32IntegerAttr(v));
    };
    Value groupV =
        arith::ConstantOp::create(rewriter, loc, rewriter.getI64IntegerAttr(g));
    // Without a bias the scales' buffer stands in (never read).
    func::CallOp::create(
        rewriter, loc, fn,
        ValueRange{xBuf, sxBuf, inBuffer(rewriter, loc, packedV),
                   bias ? inBuffer(rewriter, loc, bias) : sxBuf,
                   memref::CastOp::create(rewriter, loc, anyLayout(ctx, 2), out),
                   groupV, i32c(asym ? 1 : 0), i32c(bias ? 1 : 0)});
    replaceWithOutput(op, rewriter, out, M, N);
    return success();
  }
};

struct AttentionToRuntime : OpRewritePattern<lq::AttentionOp> {
  AttentionToRuntime(MLIRContext *ctx, StringRef prefix)
      : OpRewritePattern(ctx), prefix(prefix.str()) {}
  std::string prefix;
  LogicalResult matchAndRewrite(lq::AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getMask())
      return rewriter.notifyMatchFailure(op, "explicit masks use linalg");
    if (!isStaticF32(op.getQuery()) || !isStaticF32(op.getKey()) ||
        !isStaticF32(op.getValue()) || !isStaticF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not static f32");
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto resTy = op.getResult().getType();
    // With a `position` (a fixed-capacity KV cache), the kernel takes it as
    // an i64 and reads only the keys written so far.
    SmallVector<Type> argTypes = {anyLayout(ctx, 4),     anyLayout(ctx, 4),
                                  anyLayout(ctx, 4),     anyLayout(ctx, 4),
                                  rewriter.getF32Type(), rewriter.getI32Type()};
    Value position;
    if (Value pos = op.getPosition()) {
      position = tensor::ExtractOp::create(rewriter, loc, pos, ValueRange{});
      Type i64 = rewriter.getI64Type();
      if (position.getType().isIndex())
        position = arith::IndexCastOp::create(rewriter, loc, i64, position);
      else if (position.getType() != i64)
        position = arith::ExtSIOp::create(rewriter, loc, i64, position);
      argTypes.push_back(i64);
    }
    auto fn = declare(op->getParentOfType<ModuleOp>(),
                      prefix + (position ? "attention_at_f32" : "attention_f32"),
                      argTypes);
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get(resTy.getShape(), rewriter.getF32Type()));
    Value scale = arith::ConstantOp::create(
        rewriter, loc, rewriter.getF32FloatAttr(op.getEffectiveScale()));
    Value causal = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI32IntegerAttr(op.getCausal() ? 1 : 0));
    SmallVector<Value> args = {
        inBuffer(rewriter, loc, op.getQuery()),
        inBuffer(rewriter, loc, op.getKey()),
        inBuffer(rewriter, loc, op.getValue()),
        memref::CastOp::create(rewriter, loc, anyLayout(ctx, 4), out), scale,
        causal};
    if (position)
      args.push_back(position);
    func::CallOp::create(rewriter, loc, fn, args);
    rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                               rewriter, loc, resTy, out, /*restrict=*/true,
                               /*writable=*/true));
    return success();
  }
};

/// A quantized K or V operand of attention: `lq.dequantize` (of
/// `lq.unpack_codes` for packed int4) with per-block f32 scales, in a format
/// lq_rt_attention_at_q decodes. The kernel finds each element's scale from
/// the scale tensor's shape (lq_rt_qview4_t): per batch or one for all,
/// per head or one for all, and blocks of tokens and channels dividing S and
/// D. That covers per-token scales [B, H, S, D / group] (`axis = 3, group`)
/// and static per-channel ones [1, H, 1, D] (`block = [0, 1, 0, 1]`).
struct QuantizedKV {
  Value codes;  // i8 / f8 codes, packed bytes for int4 and NVFP4
  Value scales; // f32, f16 or (NVFP4) f8E4M3FN, rank 4
  lq::SchemeAttr scheme;
  Value globalScale; // NVFP4's tensor scale (one f32), else null
};

std::optional<QuantizedKV> matchQuantizedKV(Value v) {
  auto dq = v.getDefiningOp<lq::DequantizeOp>();
  if (!dq || dq.getZeroPoint() ||
      !dq.getResult().getType().getElementType().isF32())
    return std::nullopt;
  lq::SchemeAttr s = dq.getScheme();
  bool ok = (s.getFormat() == lq::Format::Int && s.getSymmetric() &&
             (s.getBits() == 8 || s.getBits() == 4)) ||
            s.getFormat() == lq::Format::FP8E4M3 ||
            s.getFormat() == lq::Format::FP8E5M2 ||
            s.getFormat() == lq::Format::NVFP4;
  auto scTy = dyn_cast<RankedTensorType>(dq.getScales().getType());
  auto qTy = dq.getInput().getType();
  if (!ok || !scTy || scTy.getRank() != 4 || !scTy.hasStaticShape() ||
      !isa<Float32Type, Float16Type, Float8E4M3FNType>(
          scTy.getElementType()) ||
      !qTy.hasStaticShape() || qTy.getRank() != 4)
    return std::nullopt;
  for (int i = 0; i < 4; ++i) {
    int64_t n = qTy.getDimSize(i), sn = scTy.getDimSize(i);
    bool fits = i < 2 ? (sn == 1 || sn == n) : (sn > 0 && n % sn == 0);
    if (!fits)
      return std::nullopt;
  }
  // int4: channel groups even or 1 (two codes share a byte).
  if (s.getCodeBits() == 4) {
    int64_t gd = qTy.getDimSize(3) / scTy.getDimSize(3);
    if (gd != 1 && gd % 2 != 0)
      return std::nullopt;
  }
  Value codes = dq.getInput();
  if (s.getCodeBits() == 4) {
    auto unpack = codes.getDefiningOp<lq::UnpackCodesOp>();
    if (!unpack)
      return std::nullopt;
    codes = unpack.getInput();
  }
  return QuantizedKV{codes, dq.getScales(), s, dq.getGlobalScale()};
}

/// Whether `a` and `b` compute the same value: the same SSA value, or the
/// same side-effect-free op (name, attributes) on operands that are (up to
/// `depth` levels). The K and V windows' `end` are two `arith.addi` of one
/// position until CSE merges them.
bool sameValue(Value a, Value b, int depth = 4) {
  if (a == b)
    return true;
  Operation *x = a.getDefiningOp(), *y = b.getDefiningOp();
  if (!x || !y || depth == 0 || x->getName() != y->getName() ||
      x->getAttrDictionary() != y->getAttrDictionary() ||
      x->getNumOperands() != y->getNumOperands() || !isMemoryEffectFree(x) ||
      cast<OpResult>(a).getResultNumber() != cast<OpResult>(b).getResultNumber())
    return false;
  for (auto [p, q] : llvm::zip(x->getOperands(), y->getOperands()))
    if (!sameValue(p, q, depth - 1))
      return false;
  return true;
}

/// lq.attention whose keys and values are dequantized codes (a quantized KV
/// cache, --quantize-kv-cache) -> lq_rt_attention_at_q: the kernel decodes
/// each cache row as it reads it, so the float cache never exists.
struct QuantizedAttentionToRuntime : OpRewritePattern<lq::AttentionOp> {
  QuantizedAttentionToRuntime(MLIRContext *ctx, StringRef prefix)
      : OpRewritePattern(ctx, /*benefit=*/2), prefix(prefix.str()) {}
  std::string prefix;
  LogicalResult matchAndRewrite(lq::AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getMask())
      return rewriter.notifyMatchFailure(op, "explicit masks use linalg");
    if (!isStaticF32(op.getQuery()) || !isStaticF32(op.getResult()))
      return rewriter.notifyMatchFailure(op, "not static f32");
    // KIVI's float window (lq.kv_window_read over the dequantized cache):
    // the CPU kernel reads those positions from the rings (both K and V, one
    // `end`); lq_rt_cuda's kernel has no window, so there the view stays
    // generic.
    auto kWin = op.getKey().getDefiningOp<lq::KVWindowReadOp>();
    auto vWin = op.getValue().getDefiningOp<lq::KVWindowReadOp>();
    if (bool(kWin) != bool(vWin) ||
        (kWin && (prefix != "lq_rt_" || !sameValue(kWin.getEnd(), vWin.getEnd()))))
      return rewriter.notifyMatchFailure(op, "window not fusable");
    std::optional<QuantizedKV> k =
        matchQuantizedKV(kWin ? kWin.getCache() : op.getKey());
    std::optional<QuantizedKV> v =
        matchQuantizedKV(vWin ? vWin.getCache() : op.getValue());
    // One format for both (the kernel takes one); their scale granularities
    // may differ (static per-channel keys, per-token values).
    if (!k || !v || k->scheme.getFormat() != v->scheme.getFormat() ||
        k->scheme.getCodeBits() != v->scheme.getCodeBits() ||
        cast<RankedTensorType>(k->codes.getType()).getElementType() !=
            cast<RankedTensorType>(v->codes.getType()).getElementType())
      return rewriter.notifyMatchFailure(op, "keys/values not quantized alike");
    // Scales other than f32 (f16, NVFP4's E4M3) and tensor scales use the
    // entry points named after the code and scale types; K and V scales of
    // one type (static f32 keys with f16 values take the generic lowering).
    Type kScaleElt = cast<RankedTensorType>(k->scales.getType()).getElementType();
    Type vScaleElt = cast<RankedTensorType>(v->scales.getType()).getElementType();
    if (kScaleElt != vScaleElt)
      return rewriter.notifyMatchFailure(op, "keys/values scales differ in type");
    const bool plainScales = kScaleElt.isF32() && !k->globalScale &&
                             !v->globalScale;
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto resTy = op.getResult().getType();
    Type i64 = rewriter.getI64Type(), i32 = rewriter.getI32Type();
    Value position;
    if (Value pos = op.getPosition()) {
      position = tensor::ExtractOp::create(rewriter, loc, pos, ValueRange{});
      if (position.getType().isIndex())
        position = arith::IndexCastOp::create(rewriter, loc, i64, position);
      else if (position.getType() != i64)
        position = arith::ExtSIOp::create(rewriter, loc, i64, position);
    } else {
      position = arith::ConstantOp::create(
          rewriter, loc,
          rewriter.getI64IntegerAttr(op.getKey().getType().getDimSize(2) -
                                     op.getQuery().getType().getDimSize(2)));
    }
    auto codesTy = cast<RankedTensorType>(k->codes.getType());
    std::string typeName;
    llvm::raw_string_ostream(typeName) << codesTy.getElementType();
    if (!plainScales)
      llvm::raw_string_ostream(typeName) << "_" << kScaleElt;
    Type codesElt = codesTy.getElementType();
    SmallVector<Type> argTypes = {anyLayout(ctx, 4), anyLayout(ctx, 4, codesElt),
                                  anyLayout(ctx, 4, kScaleElt),
                                  anyLayout(ctx, 4, codesElt),
                                  anyLayout(ctx, 4, kScaleElt), anyLayout(ctx, 4),
                                  rewriter.getF32Type(), i32, i64, i32, i32};
    if (!plainScales)
      argTypes.append({rewriter.getF32Type(), rewriter.getF32Type()});
    if (kWin)
      argTypes.append({anyLayout(ctx, 4), anyLayout(ctx, 4), i64});
    auto fn = declare(op->getParentOfType<ModuleOp>(),
                      prefix + "attention_at_q_" + typeName +
                          (kWin ? "_window" : ""),
                      argTypes);
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get(resTy.getShape(), rewriter.getF32Type()));
    auto c32 = [&](int64_t x) -> Value {
      return arith::ConstantOp::create(rewriter, loc, rewriter.getI32IntegerAttr(x));
    };
    Value scale = arith::ConstantOp::create(
        rewriter, loc, rewriter.getF32FloatAttr(op.getEffectiveScale()));
    SmallVector<Value> args = {
        inBuffer(rewriter, loc, op.getQuery()),
        inBuffer(rewriter, loc, k->codes),
        inBuffer(rewriter, loc, k->scales),
        inBuffer(rewriter, loc, v->codes),
        inBuffer(rewriter, loc, v->scales),
        memref::CastOp::create(rewriter, loc, anyLayout(ctx, 4), out),
        scale, c32(op.getCausal() ? 1 : 0), position,
        c32(int64_t(k->scheme.getFormat())), c32(k->scheme.getCodeBits())};
    if (!plainScales) {
      // The tensor scale: its one element, or 1.
      auto global = [&](Value g) -> Value {
        if (!g)
          return arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getF32FloatAttr(1.0f));
        auto gTy = cast<RankedTensorType>(g.getType());
        SmallVector<Value> zeros(
            gTy.getRank(), arith::ConstantIndexOp::create(rewriter, loc, 0));
        return tensor::ExtractOp::create(rewriter, loc, g, zeros);
      };
      args.push_back(global(k->globalScale));
      args.push_back(global(v->globalScale));
    }
    if (kWin) {
      args.push_back(inBuffer(rewriter, loc, kWin.getWindow()));
      args.push_back(inBuffer(rewriter, loc, vWin.getWindow()));
      args.push_back(kWin.getEnd());
    }
    func::CallOp::create(rewriter, loc, fn, args);
    rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                               rewriter, loc, resTy, out, /*restrict=*/true,
                               /*writable=*/true));
    return success();
  }
};

/// lq.hadamard on static f32 -> lq_rt_hadamard_f32 (O(n log n) fast
/// transform, <lq_rt/hadamard.h>) on the input collapsed to [M, n], written
/// into a fresh buffer (the shim copies the input there, then transforms in
/// place).
struct HadamardToRuntime : OpRewritePattern<lq::HadamardOp> {
  HadamardToRuntime(MLIRContext *ctx, StringRef prefix)
      : OpRewritePattern(ctx), prefix(prefix.str()) {}
  std::string prefix;
  LogicalResult matchAndRewrite(lq::HadamardOp op,
                                PatternRewriter &rewriter) const override {
    if (!isStaticF32(op.getInput()))
      return rewriter.notifyMatchFailure(op, "not static f32");
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto ty = op.getInput().getType();
    const int64_t n = ty.getShape().back(), M = ty.getNumElements() / std::max<int64_t>(n, 1);
    if (M == 0 || n == 0) {
      rewriter.replaceOp(op, op.getInput());
      return success();
    }
    auto t2 = RankedTensorType::get({M, n}, rewriter.getF32Type());
    SmallVector<ReassociationIndices> reassoc(2);
    for (int64_t i = 0; i + 1 < ty.getRank(); ++i)
      reassoc[0].push_back(i);
    reassoc[1].push_back(ty.getRank() - 1);
    Value x2 = op.getInput();
    if (ty.getRank() == 1)
      x2 = tensor::ExpandShapeOp::create(rewriter, loc, t2, x2,
                                         ArrayRef<ReassociationIndices>{{0, 1}});
    else if (ty.getRank() > 2)
      x2 = tensor::CollapseShapeOp::create(rewriter, loc, t2, x2, reassoc);
    auto fn = declare(op->getParentOfType<ModuleOp>(), prefix + "hadamard_f32",
                      {anyLayout(ctx, 2), anyLayout(ctx, 2), rewriter.getI64Type()});
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get({M, n}, rewriter.getF32Type()));
    Value block = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI64IntegerAttr(op.getBlockSize()));
    func::CallOp::create(
        rewriter, loc, fn,
        ValueRange{inBuffer(rewriter, loc, x2),
                   memref::CastOp::create(rewriter, loc, anyLayout(ctx, 2), out),
                   block});
    Value y = bufferization::ToTensorOp::create(rewriter, loc, t2, out,
                                                /*restrict=*/true,
                                                /*writable=*/true);
    if (ty.getRank() == 1)
      y = tensor::CollapseShapeOp::create(rewriter, loc, ty, y,
                                          ArrayRef<ReassociationIndices>{{0, 1}});
    else if (ty.getRank() > 2)
      y = tensor::ExpandShapeOp::create(rewriter, loc, ty, y, reassoc);
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct ConvertLQToRuntimePass
    : lq::impl::ConvertLQToRuntimePassBase<ConvertLQToRuntimePass> {
  using Base::Base;
  void runOnOperation() override {
    // Blobs referred to by several constants, or whose bytes equal another
    // constant's: packing one would keep both copies (LLVM merges identical
    // globals, so today they cost one). The exception is a tied embedding:
    // a blob whose one use is a linear's weight (lm_head) and whose equal
    // twins are only embedding tables; the twins' lookups then read the
    // packed copy.
    llvm::StringSet<> sharedBlobs;
    DenseMap<Operation *, SmallVector<Operation *>> tiedTables;
    {
      struct Entry {
        arith::ConstantOp op;
        StringRef key; // "" for an inline dense constant
        ArrayRef<char> data;
      };
      std::vector<Entry> entries;
      llvm::StringMap<int> uses;
      DenseMap<llvm::hash_code, SmallVector<size_t>> byHash;
      getOperation()->walk([&](arith::ConstantOp c) {
        Entry e{c, {}, {}};
        if (auto res = dyn_cast<DenseResourceElementsAttr>(c.getValue())) {
          AsmResourceBlob *blob = res.getRawHandle().getBlob();
          if (!blob)
            return;
          e.key = res.getRawHandle().getKey();
          if (uses[e.key]++)
            return;
          e.data = blob->getData();
        } else if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue())) {
          if (dense.isSplat() || dense.getRawData().size() < 4096)
            return;
          e.data = dense.getRawData();
        } else {
          return;
        }
        byHash[llvm::hash_combine_range(e.data.begin(), e.data.end())]
            .push_back(entries.size());
        entries.push_back(e);
      });
      auto onlyEmbeddingTable = [](arith::ConstantOp c) {
        return llvm::all_of(c->getUses(), [](OpOperand &u) {
          auto e = dyn_cast<lq::EmbeddingOp>(u.getOwner());
          return e && u.getOperandNumber() == 0 &&
                 e.getIds().getType().hasStaticShape();
        });
      };
      auto linearWeight = [](arith::ConstantOp c) {
        if (!c->hasOneUse())
          return false;
        OpOperand &u = *c->getUses().begin();
        return isa<lq::LinearOp>(u.getOwner()) && u.getOperandNumber() == 1;
      };
      for (auto &[hash, indices] : byHash) {
        // Classes of equal bytes within the bucket.
        SmallVector<bool> done(indices.size(), false);
        for (size_t i = 0; i < indices.size(); ++i) {
          if (done[i])
            continue;
          SmallVector<size_t> same = {indices[i]};
          for (size_t j = i + 1; j < indices.size(); ++j)
            if (!done[j] && entries[indices[j]].data == entries[indices[i]].data) {
              done[j] = true;
              same.push_back(indices[j]);
            }
          if (same.size() < 2)
            continue;
          // One blob feeding a linear, every twin an embedding table.
          std::optional<size_t> weight;
          for (size_t idx : same)
            if (!entries[idx].key.empty() && linearWeight(entries[idx].op)) {
              weight = idx;
              break;
            }
          bool tied = weight.has_value();
          for (size_t idx : same)
            if (tied && idx != *weight)
              tied = onlyEmbeddingTable(entries[idx].op) &&
                     entries[idx].op.getType() == entries[*weight].op.getType();
          if (tied && weight) {
            for (size_t idx : same)
              if (idx != *weight)
                tiedTables[entries[*weight].op].push_back(entries[idx].op);
            continue;
          }
          for (size_t idx : same)
            if (!entries[idx].key.empty())
              sharedBlobs.insert(entries[idx].key);
        }
      }
      for (auto &entry : uses)
        if (entry.second > 1)
          sharedBlobs.insert(entry.getKey());
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<QuantizedLinearToRuntime, LinearToRuntime, AttentionToRuntime>(
        &getContext(), prefix);
    // int8 x int8 and int8 x int4 linears (W8A8, W4A8): lq_rt's integer
    // GEMMs are CPU-only.
    if (prefix == "lq_rt_" && int8Gemm)
      patterns.add<W8A8LinearToRuntime, W4A8LinearToRuntime>(&getContext());
    // bfloat16 weights: lq_rt_linear_bf16 (CPU only; elsewhere they are
    // dequantized like the formats without a kernel).
    if (prefix == "lq_rt_")
      patterns.add<Bf16LinearToRuntime>(&getContext());
    patterns.add<HadamardToRuntime>(&getContext(), prefix);
    // The quantized-cache attention kernel exists on both runtimes
    // (lq_rt_attention_at_q_*, lq_rt_cuda_attention_at_q_*).
    patterns.add<QuantizedAttentionToRuntime>(&getContext(), prefix);
    if (prefix == "lq_rt_") {
      if (packWeights)
        patterns.add<PackedLinearToRuntime>(&getContext(), sharedBlobs,
                                            tiedTables);
    }
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
