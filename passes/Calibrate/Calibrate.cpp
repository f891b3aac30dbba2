//===- Calibrate.cpp - Activation statistics by JIT-running the model -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Every data-driven algorithm reads the same few statistics of each linear's
// input X ([tokens, K]): per-channel max|X| (SmoothQuant, arXiv:2211.10438;
// activation scales), per-channel mean X² (AWQ, arXiv:2306.00978) and the
// Hessian proxy XᵀX (GPTQ, arXiv:2210.17323). They are computed once, here,
// and stored as attributes, so every algorithm pass is a pure IR -> IR
// function that can be lit-tested on a hand-written module.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Calibrate/ModelRunner.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <lq_rt/gram.h>
#include <lq_rt/kernels.h>
#include <lq_rt/lq_rt.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>

namespace mlir::lq {
#define GEN_PASS_DEF_CALIBRATEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// Running statistics of one linear's input.
/// |x| histogram on a log scale: 64 bins per octave from 2^-20 to 2^12, for
/// percentile and MSE-optimal clipping ranges without keeping activations.
constexpr int kOctaves = 32, kBinsPerOctave = 64, kBins = kOctaves * kBinsPerOctave;
constexpr double kMinLog2 = -20.0;
int binOf(float a) {
  if (!(a > 0))
    return 0;
  double b = (std::log2(double(a)) - kMinLog2) * kBinsPerOctave;
  return int(std::clamp(b, 0.0, double(kBins - 1)));
}
double binUpper(int b) {
  return std::exp2(kMinLog2 + double(b + 1) / kBinsPerOctave);
}

struct LinearStats {
  int64_t K = 0, rows = 0;
  std::vector<float> absmax;
  std::vector<double> sumsq, hessian;
  std::vector<uint64_t> histogram = std::vector<uint64_t>(kBins, 0);
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
};

struct Observer {
  std::vector<LinearStats> stats;
  bool hessian = false;
};

Observer *activeObserver = nullptr;

struct MemRef2D {
  float *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};

/// Called by the instrumented model before linear `id` with its input rows.
extern "C" void lqCalibObserve(int64_t id, MemRef2D *x) {
  Observer *obs = activeObserver;
  if (!obs || id < 0 || id >= int64_t(obs->stats.size()))
    return;
  LinearStats &s = obs->stats[id];
  const int64_t M = x->sizes[0], K = x->sizes[1];
  const float *base = x->aligned + x->offset;
  if (s.K == 0) {
    s.K = K;
    s.absmax.assign(K, 0.0f);
    s.sumsq.assign(K, 0.0);
    if (obs->hessian)
      s.hessian.assign(K * K, 0.0);
  }
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) {
      float v = base[m * x->strides[0] + k * x->strides[1]];
      s.absmax[k] = std::max(s.absmax[k], std::fabs(v));
      s.sumsq[k] += double(v) * v;
      s.min = std::min(s.min, v);
      s.max = std::max(s.max, v);
      ++s.histogram[binOf(std::fabs(v))];
    }
  if (obs->hessian) {
    // XᵀX of this call, lower triangle only (a blocked SYRK on lq_rt's
    // SGEMM kernel), folded into the double-precision running sum; the
    // upper triangle is mirrored once, when the attribute is written.
    lq_rt_gram_accumulate(M, K, base, x->strides[0], x->strides[1],
                          s.hessian.data());
  }
  s.rows += M;
}

struct MemRef4D {
  float *allocated, *aligned;
  int64_t offset, sizes[4], strides[4];
};

/// Per-(head, channel) max |K| and |V| of each attention ([B, H, S, D]
/// after RoPE): the static per-channel scales of a quantized KV cache
/// (--quantize-kv-cache scales=static; KVQuant, arXiv:2401.18079, §3.1).
struct AttentionStats {
  std::vector<float> kAbsmax, vAbsmax; // [H, D] row-major
};
std::vector<AttentionStats> *activeAttention = nullptr;

/// Called before attention `id` with its keys (which = 0) or values (1).
extern "C" void lqCalibObserveKV(int64_t id, int64_t which, MemRef4D *x) {
  if (!activeAttention || id < 0 || id >= int64_t(activeAttention->size()))
    return;
  AttentionStats &st = (*activeAttention)[id];
  std::vector<float> &m = which == 0 ? st.kAbsmax : st.vAbsmax;
  int64_t B = x->sizes[0], H = x->sizes[1], S = x->sizes[2], D = x->sizes[3];
  if (int64_t(m.size()) != H * D)
    m.assign(H * D, 0.0f);
  const float *base = x->aligned + x->offset;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < S; ++t)
        for (int64_t d = 0; d < D; ++d)
          m[h * D + d] = std::max(
              m[h * D + d],
              std::fabs(base[b * x->strides[0] + h * x->strides[1] +
                             t * x->strides[2] + d * x->strides[3]]));
}

MemRefType anyLayout(MLIRContext *ctx, int64_t rank) {
  return lq::anyLayoutF32(ctx, rank);
}

struct CalibratePass : lq::impl::CalibratePassBase<CalibratePass> {
  using Base::Base;

  /// The token stream and the windows to run.
  LogicalResult loadSamples(Location loc, int64_t window, int64_t vocab,
                            std::vector<std::vector<int64_t>> &windows) {
    lq::TokenSource src{tokens, tokenizer, text, samples, seed};
    return lq::loadTokenWindows(loc, "calibrate", src, window, windows, vocab);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    Location loc = module.getLoc();
    func::FuncOp entry = lq::entryOf(module);
    if (!entry)
      return emitFailure(loc, "calibrate: no 'main' entry function");
    if (samples <= 0)
      return emitFailure(loc, "calibrate: 'samples' must be positive");

    // The token-id input: the only input with elements.
    FailureOr<int> ids = lq::tokenIdsArgument(entry, loc, "calibrate");
    if (failed(ids))
      return signalPassFailure();
    int idsArg = *ids;
    auto idsTy = cast<RankedTensorType>(entry.getArgumentTypes()[idsArg]);
    int64_t window = idsTy.getDimSize(1);
    if (seqLen > 0 && seqLen != window)
      return emitFailure(loc, "calibrate: 'seq-len' " + std::to_string(seqLen) +
                                  " differs from the model's input length " +
                                  std::to_string(window) +
                                  " (import with --dim seq=" +
                                  std::to_string(seqLen) + ")");
    std::vector<std::vector<int64_t>> windows;
    if (failed(loadSamples(loc, window, lq::vocabularyOf(entry, idsArg), windows)))
      return signalPassFailure();

    // 1. Instrument a copy: observe(id, x) before every f32 linear.
    SmallVector<lq::LinearOp> linears;
    entry.walk([&](lq::LinearOp op) { linears.push_back(op); });
    if (linears.empty())
      return emitFailure(loc, "calibrate: the model has no lq.linear (run "
                              "--lq-raise first)");
    OwningOpRef<ModuleOp> clone = module.clone();
    func::FuncOp cEntry = lq::entryOf(*clone);
    SmallVector<lq::LinearOp> cLinears;
    cEntry.walk([&](lq::LinearOp op) { cLinears.push_back(op); });
    OpBuilder b(ctx);
    b.setInsertionPointToEnd(clone->getBody());
    auto observeFn = lq::declareHostCallback(
        b, *clone, "lq_calib_observe", {b.getI64Type(), anyLayout(ctx, 2)});
    // Linears reading the same value (q/k/v after one norm, gate/up) share
    // one observer: their statistics, and XᵀX above all, are computed once.
    std::vector<size_t> statsOf(cLinears.size());
    llvm::DenseMap<Value, size_t> firstReader;
    for (auto [id, op] : llvm::enumerate(cLinears)) {
      statsOf[id] = id;
      auto xTy = op.getInput().getType();
      if (!xTy.getElementType().isF32() || !xTy.hasStaticShape())
        continue;
      if (auto [it, inserted] = firstReader.try_emplace(op.getInput(), id);
          !inserted) {
        statsOf[id] = it->second;
        continue;
      }
      b.setInsertionPoint(op);
      Location l = op.getLoc();
      Value any = lq::rowsView(b, l, op.getInput());
      Value idv = arith::ConstantOp::create(b, l, b.getI64IntegerAttr(id));
      func::CallOp::create(b, l, observeFn, ValueRange{idv, any});
    }
    // Keys and values of every f32 attention.
    SmallVector<lq::AttentionOp> cAttn, attn;
    cEntry.walk([&](lq::AttentionOp op) { cAttn.push_back(op); });
    entry.walk([&](lq::AttentionOp op) { attn.push_back(op); });
    b.setInsertionPointToEnd(clone->getBody());
    auto observeKV = lq::declareHostCallback(
        b, *clone, "lq_calib_observe_kv",
        {b.getI64Type(), b.getI64Type(), anyLayout(ctx, 4)});
    for (auto [id, op] : llvm::enumerate(cAttn)) {
      b.setInsertionPoint(op);
      Location l = op.getLoc();
      SmallVector<Value> kv = {op.getKey(), op.getValue()};
      for (auto [which, v] : llvm::enumerate(kv)) {
        auto ty = cast<RankedTensorType>(v.getType());
        if (!ty.getElementType().isF32() || !ty.hasStaticShape())
          continue;
        SmallVector<int64_t> dyn(4, ShapedType::kDynamic);
        auto exact = MemRefType::get(ty.getShape(), b.getF32Type(),
                                     StridedLayoutAttr::get(ctx, ShapedType::kDynamic, dyn));
        Value buf = bufferization::ToBufferOp::create(b, l, exact, v, true);
        Value any = memref::CastOp::create(b, l, anyLayout(ctx, 4), buf);
        Value idv = arith::ConstantOp::create(b, l, b.getI64IntegerAttr(id));
        Value wv = arith::ConstantOp::create(b, l, b.getI64IntegerAttr(which));
        func::CallOp::create(b, l, observeKV, ValueRange{idv, wv, any});
      }
    }
    // A wrapper taking only the ids, so the JIT'd function has one signature.
    lq::buildRunWrapper(*clone, cEntry, idsArg, "lq_calib_run", {},
                          [](OpBuilder &, Location, ValueRange) {});

    // 2. Lower and JIT.
    auto engine = lq::jitOnCpu(
        *clone, loc, "calibrate", runtimeLib,
        {{"lq_calib_observe", reinterpret_cast<void *>(&lqCalibObserve)},
         {"lq_calib_observe_kv", reinterpret_cast<void *>(&lqCalibObserveKV)}});
    if (failed(engine))
      return signalPassFailure();
    auto fn = (*engine)->lookup("_mlir_ciface_lq_calib_run");
    if (!fn)
      return emitFailure(loc, "calibrate: " + llvm::toString(fn.takeError()));
    auto call = reinterpret_cast<void (*)(void *)>(*fn);

    // 3. Run every window, streaming statistics.
    Observer observer;
    observer.hessian = hessian;
    observer.stats.resize(cLinears.size());
    activeObserver = &observer;
    std::vector<AttentionStats> attnStats(cAttn.size());
    activeAttention = &attnStats;
    auto start = std::chrono::steady_clock::now();
    for (size_t w = 0; w < windows.size(); ++w) {
      lq::IdsDescriptor idsDesc = lq::idsDescriptor(windows[w]);
      call(&idsDesc);
      if (progress) {
        double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start).count();
        int bar = int(30 * (w + 1) / windows.size());
        llvm::errs() << "\rcalibrate: [" << std::string(bar, '=')
                     << std::string(30 - bar, ' ') << "] " << (w + 1) << "/"
                     << windows.size() << " windows, "
                     << llvm::format("%.0f", (w + 1) * window / std::max(secs, 1e-9))
                     << " tok/s";
      }
    }
    activeObserver = nullptr;
    activeAttention = nullptr;
    if (progress)
      llvm::errs() << "\n";

    // 4. Attach the statistics: per-(head, channel) K/V ranges on attention, the rest
    // on the linears.
    for (size_t id = 0; id < attn.size() && id < attnStats.size(); ++id) {
      lq::AttentionOp op = attn[id];
      auto put = [&](StringRef name, const std::vector<float> &v,
                     Value operand) {
        auto ty = cast<RankedTensorType>(operand.getType());
        if (v.empty() || int64_t(v.size()) != ty.getDimSize(1) * ty.getDimSize(3))
          return;
        auto attrTy = RankedTensorType::get(
            {ty.getDimSize(1), ty.getDimSize(3)}, b.getF32Type());
        op->setAttr(name, DenseElementsAttr::get(attrTy, ArrayRef<float>(v)));
      };
      put("lq.k_absmax", attnStats[id].kAbsmax, op.getKey());
      put("lq.v_absmax", attnStats[id].vAbsmax, op.getValue());
    }
    for (auto [id, op] : llvm::enumerate(linears)) {
      LinearStats &s = observer.stats[statsOf[id]];
      if (s.rows == 0)
        continue;
      b.setInsertionPoint(op);
      auto vecTy = RankedTensorType::get({s.K}, b.getF32Type());
      std::vector<float> meansq(s.K);
      for (int64_t k = 0; k < s.K; ++k)
        meansq[k] = float(s.sumsq[k] / double(s.rows));
      op->setAttr("lq.act_absmax",
                  DenseElementsAttr::get(vecTy, ArrayRef<float>(s.absmax)));
      op->setAttr("lq.act_meansq",
                  DenseElementsAttr::get(vecTy, ArrayRef<float>(meansq)));
      op->setAttr("lq.act_range", b.getDenseF32ArrayAttr({s.min, s.max}));
      // Clipping ranges of |x|: 99.9th and 99.99th percentiles, and the clip
      // c minimizing the int8 error estimate
      //   sum_{|x| > c} (|x| - c)^2 + n (c / 127)^2 / 12
      // over the histogram (bin upper edges as values, a slight overestimate).
      uint64_t total = 0;
      for (uint64_t c : s.histogram)
        total += c;
      auto percentile = [&](double q) {
        uint64_t want = uint64_t(std::ceil(q * double(total))), acc = 0;
        for (int bin = 0; bin < kBins; ++bin)
          if ((acc += s.histogram[bin]) >= want)
            return float(std::min<double>(binUpper(bin), std::max(-s.min, s.max)));
        return std::max(-s.min, s.max);
      };
      float amax = std::max(-s.min, s.max), best = amax;
      double bestErr = std::numeric_limits<double>::infinity();
      for (int cb = binOf(amax * 0.05f); cb <= binOf(amax); ++cb) {
        double c = std::min<double>(binUpper(cb), amax), err = 0;
        for (int bin = cb + 1; bin < kBins; ++bin)
          if (s.histogram[bin]) {
            double over = std::min<double>(binUpper(bin), amax) - c;
            err += double(s.histogram[bin]) * over * over;
          }
        err += double(total) * (c / 127.0) * (c / 127.0) / 12.0;
        if (err < bestErr) {
          bestErr = err;
          best = float(c);
        }
      }
      op->setAttr("lq.act_clip",
                  b.getDenseF32ArrayAttr({percentile(0.999), percentile(0.9999), best}));
      op->setAttr("lq.calib_rows", b.getI64IntegerAttr(s.rows));
      if (hessian) {
        std::vector<float> h(s.K * s.K);
        lq_rt_gram_symmetrize(s.K, s.hessian.data());
        for (int64_t i = 0; i < s.K * s.K; ++i)
          h[i] = float(s.hessian[i] / double(s.rows));
        auto blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
            ArrayRef<char>(reinterpret_cast<const char *>(h.data()),
                           h.size() * sizeof(float)),
            alignof(uint64_t));
        op->setAttr("lq.hessian",
                    DenseResourceElementsAttr::get(
                        RankedTensorType::get({s.K, s.K}, b.getF32Type()),
                        "hessian", std::move(blob)));
      }
    }
  }

  void emitFailure(Location loc, const Twine &msg) {
    emitError(loc) << msg;
    signalPassFailure();
  }
};

} // namespace
