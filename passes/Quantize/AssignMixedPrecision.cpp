//===- AssignMixedPrecision.cpp - Per-linear formats under a budget -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// Mixed-precision assignment (the idea of HAWQ-V3, arXiv:2011.10680, and of
// ModelOpt's AutoQuantize / EXL2's target bpw): give each linear i one format
// c from a candidate set so that the summed sensitivity is minimal within a
// size budget, then quantize every linear (RTN) in its format.
//
// Sensitivity. For candidate c with RTN weight Ŵ_c and ΔW = W − Ŵ_c, the
// linear's output error on the calibration inputs x is
//   s_ic = E‖ΔW x‖² = Σ_n Δw_n H Δw_nᵀ = tr(ΔW H ΔWᵀ),  H = E[x xᵀ] = XᵀX / rows,
// the `lq.hessian` --calibrate records (the proxy GPTQ minimizes; it ignores
// how later layers amplify the error). `metric=mse` uses H = I (‖ΔW‖²_F).
// The default `metric=hessian-rel` divides s_ic by the output's energy
// tr(W H Wᵀ) (a noise-to-signal ratio): the absolute error is not
// comparable across linears, as o_proj / down_proj read small activations
// but write straight into the residual stream while q/k/gate/up outputs are
// large and pass through softmax / SwiGLU. On pd-llama-6m the absolute proxy
// gave o_proj and down_proj int3 even at 6 bpw and sat far below the uniform
// formats (bench/results/mixed-precision-pd-llama-6m.md).
// Cost: one RTN and one [N, K] x [K, K] SGEMM (lq_rt) per (linear,
// candidate), computed once; calibration already ran the model.
//
// Size. b_ic is the bits the artifact stores for that linear: codes
// (N·K·storage bits, i3 = 3 bits, as quant-compile's weight count), scales
// (f32, or 8-bit E8M0/E4M3 codes), zero points (i32) and NVFP4's f32 tensor
// scale. After quantizing, the whole function's weights are counted exactly
// as quant-compile's `params` / `weight_bytes` signature lines (both call
// countModelWeights), so the plan's model bpw is quant-eval's.
//
// Allocation: the multiple-choice knapsack  min Σ_i s_{i,c_i}  s.t.
// Σ_i b_{i,c_i} ≤ B. Lagrangian relaxation: for λ ≥ 0 each linear picks
// argmin_c s_ic + λ b_ic; its bits fall as λ grows, so bisection finds the
// smallest λ* whose picks fit. Every λ gives the dual bound
//   D(λ) = Σ_i min_c (s_ic + λ b_ic) − λ B  ≤  OPT,
// and the picks at λ* are optimal for their own size B(λ*) ≤ B. A greedy
// repair then spends the slack B − B(λ*): repeatedly the upgrade (one linear
// to a lower-sensitivity candidate that still fits) with the best sensitivity
// gain per extra bit. Optimality gap: the result P satisfies
// P − OPT ≤ P − max_λ D(λ), reported in the summary remark (a certificate,
// not an estimate). A priori, the LP relaxation of the MCKP has at most one
// fractional linear (Sinha & Zoltners, Oper. Res. 1979), so P(λ*) − OPT is at
// most the largest single sensitivity step on one linear's convex hull; the
// repair only lowers P.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Threading.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <lq_rt/kernels.h>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <limits>
#include <map>

namespace mlir::lq {
#define GEN_PASS_DEF_ASSIGNMIXEDPRECISIONPASS
#include "passes/Passes.h.inc"
} // namespace mlir::lq

using namespace mlir;

namespace {

/// A parsed candidate format, e.g. int4-g128.
struct Spec {
  std::string name;   // as written
  bool isFloat = false;
  std::string format; // weightScheme's format
  unsigned bits = 0;
  int64_t group = 0;  // weightScheme's group (-1 per channel, 0 default)
  bool sym = true;
};

/// Parses `int<b>[-g<G>][-asym]`, `nf4[-g<G>]`, `fp8`, the other
/// weightScheme formats (`[-g<G>]`) and `float`. Returns false on bad syntax.
bool parseSpec(StringRef text, Spec &out) {
  out = Spec();
  out.name = text.str();
  StringRef s = text.trim();
  if (s == "float" || s == "f32") {
    out.isFloat = true;
    return true;
  }
  if (s.consume_back("-asym"))
    out.sym = false;
  size_t g = s.rfind("-g");
  bool hasGroup = false;
  if (g != StringRef::npos) {
    int64_t group;
    if (!s.drop_front(g + 2).getAsInteger(10, group) && group > 0) {
      out.group = group;
      hasGroup = true;
      s = s.take_front(g);
    }
  }
  if (s.consume_front("int")) {
    unsigned bits;
    if (s.getAsInteger(10, bits) || bits < 2 || bits > 8)
      return false;
    out.format = "int";
    out.bits = bits;
    if (!hasGroup)
      out.group = -1; // int<b> alone: per output channel
    return true;
  }
  if (!out.sym)
    return false; // -asym is for int only
  if (s == "fp8")
    s = "fp8-e4m3";
  out.format = s.str();
  return true;
}

/// One option (format) for a linear.
struct Choice {
  Spec spec;
  lq::SchemeAttr scheme; // null for float
  double sens = 0;
  uint64_t bits = 0;
};

struct Layer {
  lq::LinearOp op;
  int64_t index = 0, N = 0, K = 0;
  std::string name;
  std::vector<Choice> choices;
  enum Kind { Searched, Pinned, Head } kind = Searched;
  bool inBudget = true;
  size_t chosen = 0;
};

/// Bits the artifact stores for `scheme` on an [N, K] weight (float: f32).
uint64_t storedBits(lq::SchemeAttr scheme, MLIRContext *ctx, int64_t N,
                    int64_t K) {
  if (!scheme)
    return uint64_t(N) * K * 32;
  int64_t G = K / lq::groupSizeOf(scheme, K);
  uint64_t bits =
      uint64_t(N) * K * scheme.getStorageType(ctx).getIntOrFloatBitWidth();
  switch (scheme.getFormat()) {
  case lq::Format::Int:
    bits += uint64_t(N) * G * 32;
    if (!scheme.getSymmetric())
      bits += uint64_t(N) * G * 32;
    break;
  case lq::Format::NF4:
  case lq::Format::FP8E4M3:
  case lq::Format::FP8E5M2:
    bits += uint64_t(N) * G * 32;
    break;
  case lq::Format::NVFP4:
    bits += uint64_t(N) * G * 8 + 32;
    break;
  default:
    bits += uint64_t(N) * G * 8;
  }
  return bits;
}


std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// Bytes of `bits`, exact ("1064960" or "52.5").
std::string bytesText(uint64_t bits) {
  return bits % 8 == 0 ? std::to_string(bits / 8) : fmt(double(bits) / 8);
}

struct AssignMixedPrecisionPass
    : lq::impl::AssignMixedPrecisionPassBase<AssignMixedPrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    MLIRContext *ctx = &getContext();
    if (failed(run(f, ctx)))
      signalPassFailure();
  }

  /// The scheme of `spec` for K columns; null scheme for float. Fails
  /// silently (no diagnostic) when the format does not fit K.
  FailureOr<lq::SchemeAttr> schemeFor(MLIRContext *ctx, Location loc,
                                      const Spec &spec, int64_t K, bool quiet) {
    if (spec.isFloat)
      return lq::SchemeAttr();
    if (!quiet)
      return lq::weightScheme(ctx, loc, spec.format, spec.bits, spec.group,
                              spec.sym, K);
    ScopedDiagnosticHandler silence(ctx, [](Diagnostic &) { return success(); });
    return lq::weightScheme(ctx, loc, spec.format, spec.bits, spec.group,
                            spec.sym, K);
  }

  /// Σ_n d_n H d_nᵀ over the rows of D ([N, K]); H empty means I.
  double quadraticForm(MLIRContext *ctx, ArrayRef<float> D, ArrayRef<float> H,
                       int64_t N, int64_t K) {
    std::vector<double> perRow(N, 0.0);
    std::vector<float> DH;
    if (!H.empty()) { // DH = D · H (H symmetric), one SGEMM
      DH.resize(D.size());
      lq_rt_sgemm_nt(N, K, K, D.data(), K, H.data(), K, DH.data(), K);
    }
    parallelFor(ctx, 0, N, [&](size_t n) {
      const float *d = &D[n * K];
      const float *t = H.empty() ? d : &DH[n * K];
      double s = 0;
      for (int64_t j = 0; j < K; ++j)
        s += double(d[j]) * double(t[j]);
      perRow[n] = s;
    });
    double total = 0;
    for (double v : perRow)
      total += v;
    return total;
  }

  /// E‖ΔW x‖² (or ‖ΔW‖² without H) for RTN in `scheme`.
  double sensitivity(MLIRContext *ctx, lq::SchemeAttr scheme,
                     ArrayRef<float> w, ArrayRef<float> H, int64_t N,
                     int64_t K) {
    if (!scheme)
      return 0;
    lq::QuantizedWeight q = lq::quantizeRTN(scheme, w, N, K);
    std::vector<float> deq = lq::dequantize(scheme, q);
    std::vector<float> D(w.size());
    for (size_t i = 0; i < D.size(); ++i)
      D[i] = w[i] - deq[i];
    return quadraticForm(ctx, D, H, N, K);
  }

  LogicalResult run(func::FuncOp f, MLIRContext *ctx) {
    if (metric != "hessian" && metric != "hessian-rel" && metric != "mse")
      return f.emitError() << "'metric' must be hessian, hessian-rel or mse, "
                              "got '"
                           << metric << "'";
    if (lmHead != "int8" && lmHead != "float" && lmHead != "search")
      return f.emitError() << "'lm-head' must be int8, float or search, got '"
                           << lmHead << "'";
    bool havePlanIn = !planIn.empty();
    if (!havePlanIn && (budgetBpw > 0) == (budgetBytes > 0))
      return f.emitError()
             << "give exactly one of 'budget-bpw' and 'budget-bytes' (> 0)";
    // Candidates.
    std::vector<Spec> cands;
    SmallVector<std::string> candText = llvm::to_vector(candidates);
    if (candText.empty())
      candText = {"int3-g128", "int4-g128", "int4-g64", "int4-g32", "int8"};
    auto checkSpec = [&](StringRef text, Spec &spec) -> LogicalResult {
      if (!parseSpec(text, spec))
        return f.emitError() << "bad format '" << text
                             << "' (int<b>[-g<G>][-asym], nf4[-g<G>], fp8, "
                                "fp8-e5m2, mxfp4, mxfp6-e2m3, mxfp6-e3m2, "
                                "mxfp8-e4m3, mxfp8-e5m2, nvfp4, float)";
      if (!spec.isFloat) {
        int64_t K = spec.group > 0 ? spec.group : 1024;
        if (failed(lq::weightScheme(ctx, f.getLoc(), spec.format, spec.bits,
                                    spec.group, spec.sym, K)))
          return failure();
      }
      return success();
    };
    for (const std::string &c : candText) {
      Spec spec;
      if (failed(checkSpec(c, spec)))
        return failure();
      cands.push_back(spec);
    }
    // Pins.
    std::vector<std::pair<llvm::Regex, Spec>> pins;
    for (const std::string &k : keep) {
      size_t colon = StringRef(k).rfind(':');
      if (colon == StringRef::npos)
        return f.emitError() << "bad 'keep' entry '" << k
                             << "': expected REGEX:FORMAT";
      llvm::Regex re(StringRef(k).take_front(colon));
      std::string err;
      if (!re.isValid(err))
        return f.emitError() << "bad 'keep' regex '"
                             << StringRef(k).take_front(colon) << "': " << err;
      Spec spec;
      if (failed(checkSpec(StringRef(k).drop_front(colon + 1), spec)))
        return failure();
      pins.emplace_back(std::move(re), spec);
    }
    // Plan to apply.
    std::map<int64_t, std::pair<std::string, Spec>> planned;
    if (havePlanIn) {
      auto buf = llvm::MemoryBuffer::getFile(planIn);
      if (!buf)
        return f.emitError() << "cannot read plan '" << planIn << "'";
      llvm::Expected<llvm::json::Value> json =
          llvm::json::parse((*buf)->getBuffer());
      if (!json) {
        std::string msg = llvm::toString(json.takeError());
        return f.emitError() << "plan '" << planIn << "' is not JSON: " << msg;
      }
      const llvm::json::Array *layers = nullptr;
      if (auto *o = json->getAsObject())
        layers = o->getArray("layers");
      if (!layers)
        return f.emitError() << "plan '" << planIn
                             << "' has no \"layers\" array";
      for (const llvm::json::Value &v : *layers) {
        const llvm::json::Object *o = v.getAsObject();
        std::optional<int64_t> index = o ? o->getInteger("index") : std::nullopt;
        std::optional<StringRef> format =
            o ? o->getString("format") : std::nullopt;
        if (!index || !format)
          return f.emitError() << "plan '" << planIn
                               << "': every layer needs \"index\" and "
                                  "\"format\"";
        Spec spec;
        if (failed(checkSpec(*format, spec)))
          return failure();
        std::string name;
        if (std::optional<StringRef> n = o->getString("name"))
          name = n->str();
        planned[*index] = {name, spec};
      }
    }

    // Layers and their choices (sensitivity computed once per pair).
    auto start = std::chrono::steady_clock::now();
    SmallVector<lq::LinearOp> linears;
    f.walk([&](lq::LinearOp op) { linears.push_back(op); });
    std::vector<Layer> layers;
    int64_t pairs = 0;
    for (auto [index, op] : llvm::enumerate(linears)) {
      auto wTy = op.getWeight().getType();
      Attribute attr;
      SmallVector<float> w;
      if (!wTy.hasStaticShape() || !matchPattern(op.getWeight(), m_Constant(&attr)) ||
          failed(lq::readFloatElements(attr, w)))
        continue; // not a constant float weight (already quantized, ...)
      Layer L;
      L.op = op;
      L.index = index;
      L.name = lq::opName(op);
      L.N = wTy.getDimSize(0);
      L.K = wTy.getDimSize(1);
      std::vector<Spec> specs;
      bool head = lq::feedsReturn(op.getResult());
      const Spec *pin = nullptr;
      for (auto &[re, spec] : pins)
        if (re.match(L.name))
          pin = &spec;
      if (havePlanIn) {
        auto it = planned.find(index);
        if (it == planned.end())
          return op.emitError() << "plan '" << planIn
                                << "' has no entry for linear " << index
                                << " ('" << L.name << "')";
        if (!it->second.first.empty() && it->second.first != L.name)
          return op.emitError()
                 << "plan '" << planIn << "' names linear " << index << " '"
                 << it->second.first << "', the model '" << L.name << "'";
        specs = {it->second.second};
        L.kind = Layer::Pinned;
      } else if (pin) {
        specs = {*pin};
        L.kind = Layer::Pinned;
      } else if (head && lmHead != "search") {
        Spec s;
        parseSpec(lmHead == "int8" ? "int8" : "float", s);
        specs = {s};
        L.kind = Layer::Head;
        L.inBudget = false;
      } else {
        specs = cands;
      }
      SmallVector<float> H;
      if (metric != "mse") {
        auto hAttr = op->getAttrOfType<ElementsAttr>("lq.hessian");
        if (!hAttr)
          return op.emitError()
                 << "metric=" << metric
                 << " needs 'lq.hessian' on every linear: run "
                    "--calibrate=\"... hessian=true\" first (or metric=mse)";
        if (failed(lq::readFloatElements(hAttr, H)) ||
            int64_t(H.size()) != L.K * L.K)
          return op.emitError() << "'lq.hessian' must be a [" << L.K << ", "
                                << L.K << "] f32 tensor";
      }
      // hessian-rel: relative to the output's energy E‖W x‖².
      double scale = 1;
      if (metric == "hessian-rel") {
        double energy = quadraticForm(ctx, w, H, L.N, L.K);
        scale = energy > 0 ? 1 / energy : 1;
      }
      for (const Spec &spec : specs) {
        bool quiet = L.kind == Layer::Searched;
        FailureOr<lq::SchemeAttr> scheme =
            schemeFor(ctx, op.getLoc(), spec, L.K, quiet);
        if (failed(scheme)) {
          if (quiet)
            continue; // this candidate's group does not divide K
          return failure();
        }
        Choice c;
        c.spec = spec;
        c.scheme = *scheme;
        c.bits = storedBits(*scheme, ctx, L.N, L.K);
        c.sens = scale * sensitivity(ctx, *scheme, w, H, L.N, L.K);
        L.choices.push_back(c);
        ++pairs;
      }
      if (L.choices.empty())
        return op.emitError() << "no candidate format fits this linear's K ("
                              << L.K << ")";
      layers.push_back(std::move(L));
    }
    double sensSeconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();

    // Budget.
    uint64_t budgetParams = 0, fixedBits = 0, minBits = 0;
    for (Layer &L : layers) {
      if (!L.inBudget)
        continue;
      budgetParams += uint64_t(L.N) * L.K;
      uint64_t m = std::numeric_limits<uint64_t>::max();
      for (const Choice &c : L.choices)
        m = std::min(m, c.bits);
      (L.kind == Layer::Searched ? minBits : fixedBits) += m;
    }
    minBits += fixedBits;
    double budgetBits =
        budgetBytes > 0 ? double(budgetBytes) * 8 : budgetBpw * double(budgetParams);
    auto bpwOf = [&](double bits) {
      return budgetParams ? bits / double(budgetParams) : 0.0;
    };
    double lambda = 0, dual = -std::numeric_limits<double>::infinity();
    if (!havePlanIn) {
      if (double(minBits) > budgetBits) {
        double need = std::ceil(bpwOf(double(minBits)) * 1e4) / 1e4;
        return f.emitError()
               << "budget of " << fmt(bpwOf(budgetBits)) << " bpw ("
               << uint64_t(budgetBits / 8) << " bytes) is infeasible: the "
               << "smallest feasible is " << fmt(need) << " bpw ("
               << (minBits + 7) / 8
               << " bytes: every searched linear at its smallest candidate, "
                  "pins as given)";
      }
      solve(layers, budgetBits - double(fixedBits), lambda, dual);
    }

    // Decisions: remarks, plan, quantization.
    uint64_t usedBits = 0;
    double totalSens = 0, searchedSens = 0;
    llvm::json::Array planLayers;
    for (Layer &L : layers) {
      const Choice &c = L.choices[L.chosen];
      if (L.inBudget)
        usedBits += c.bits;
      totalSens += c.sens;
      if (L.kind == Layer::Searched)
        searchedSens += c.sens;
      const char *why = L.kind == Layer::Pinned
                            ? (havePlanIn ? " (from plan-in)" : " (pinned by keep)")
                        : L.kind == Layer::Head ? " (output projection, lm-head; "
                                                  "outside the budget)"
                                                : "";
      mlir::emitRemark(L.op.getLoc()) << "mixed precision: linear " << L.index
                        << (L.name.empty() ? "" : " '" + L.name + "'") << " ("
                        << L.N << "x" << L.K << ") -> "
                        << c.spec.name << ", sensitivity " << fmt(c.sens)
                        << ", " << bytesText(c.bits) << " bytes" << why;
      llvm::json::Object cand;
      for (const Choice &o : L.choices)
        cand[o.spec.name] = llvm::json::Object{{"sensitivity", o.sens},
                                               {"bytes", double(o.bits) / 8}};
      planLayers.push_back(llvm::json::Object{
          {"index", L.index},
          {"name", L.name},
          {"shape", llvm::json::Array{L.N, L.K}},
          {"format", c.spec.name},
          {"sensitivity", c.sens},
          {"bytes", double(c.bits) / 8},
          {"role", L.kind == Layer::Pinned ? "pinned"
                   : L.kind == Layer::Head ? "lm-head"
                                           : "searched"},
          {"candidates", std::move(cand)}});
      if (!c.scheme)
        continue;
      Attribute attr;
      SmallVector<float> w;
      if (!matchPattern(L.op.getWeight(), m_Constant(&attr)) ||
          failed(lq::readFloatElements(attr, w)))
        return L.op.emitError() << "weight changed during the search";
      lq::QuantizedWeight q = lq::quantizeRTN(c.scheme, w, L.N, L.K);
      OpBuilder b(L.op);
      auto wTy = L.op.getWeight().getType();
      Value deq = lq::buildDequantize(b, L.op.getWeight().getLoc(), c.scheme,
                                      q, wTy.getElementType());
      Operation *old = L.op.getWeight().getDefiningOp();
      L.op.getWeightMutable().assign(deq);
      if (old->use_empty())
        old->erase();
      ++numQuantized;
    }
    f.walk([](lq::LinearOp op) { op->removeAttr("lq.hessian"); });
    auto [modelParams, modelBits] = lq::countModelWeights(f);
    uint64_t modelBytes = (modelBits + 7) / 8;
    double modelBpw = modelParams ? 8.0 * double(modelBytes) / modelParams : 0;
    double gap = std::isfinite(dual) ? std::max(0.0, searchedSens - dual) : 0.0;
    {
      InFlightDiagnostic d = mlir::emitRemark(f.getLoc());
      d << "mixed precision: " << layers.size() << " linears, "
        << fmt(bpwOf(double(usedBits))) << " bpw ("
        << (usedBits + 7) / 8 << " bytes) over the budgeted linears";
      if (!havePlanIn)
        d << " for a budget of " << fmt(bpwOf(budgetBits)) << " bpw";
      d << "; model " << modelParams << " params, " << modelBytes
        << " weight bytes (" << fmt(modelBpw) << " bpw as quant-eval counts)"
        << "; sensitivity " << fmt(totalSens);
      if (!havePlanIn)
        d << " (searched " << fmt(searchedSens) << ", dual bound "
          << fmt(std::isfinite(dual) ? dual : searchedSens)
          << ", gap <= " << fmt(gap) << ", lambda " << fmt(lambda) << ")";
      d << "; " << pairs << " (linear, format) sensitivities in "
        << llvm::formatv("{0:f3}", sensSeconds).str() << " s";
    }
    if (!havePlanIn && double(usedBits) > budgetBits + 0.5)
      return f.emitError() << "internal: the plan exceeds the budget";
    if (havePlanIn && budgetBits > 0 && double(usedBits) > budgetBits)
      f.emitWarning() << "the plan from '" << planIn << "' uses "
                      << fmt(bpwOf(double(usedBits))) << " bpw, over the "
                      << fmt(bpwOf(budgetBits)) << " bpw budget";
    if (!plan.empty()) {
      llvm::json::Object root{
          {"budget_bpw", bpwOf(budgetBits)},
          {"bpw", bpwOf(double(usedBits))},
          {"bytes", double(usedBits) / 8},
          {"budget_params", budgetParams},
          {"metric", std::string(metric)},
          {"sensitivity", totalSens},
          {"model_params", modelParams},
          {"model_weight_bytes", modelBytes},
          {"model_bpw", modelBpw},
          {"sensitivity_seconds", sensSeconds},
          {"layers", std::move(planLayers)}};
      if (!havePlanIn) {
        root["dual_bound"] = std::isfinite(dual) ? dual : searchedSens;
        root["gap_bound"] = gap;
      }
      std::error_code ec;
      llvm::raw_fd_ostream os(plan, ec);
      if (ec)
        return f.emitError() << "cannot write plan '" << plan
                             << "': " << ec.message();
      os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
    }
    return success();
  }

  /// Lagrangian relaxation + greedy repair over the searched layers within
  /// `budget` bits (pinned ones are already subtracted).
  void solve(std::vector<Layer> &layers, double budget, double &lambdaOut,
             double &dualOut) {
    std::vector<Layer *> S;
    for (Layer &L : layers)
      if (L.kind == Layer::Searched)
        S.push_back(&L);
      else
        L.chosen = 0;
    // Picks at λ; returns their bits and accumulates the dual bound.
    auto pick = [&](double lambda, bool apply) {
      double bits = 0, lagr = 0;
      for (Layer *L : S) {
        size_t best = 0;
        double bestV = std::numeric_limits<double>::infinity();
        for (auto [i, c] : llvm::enumerate(L->choices)) {
          double v = c.sens + lambda * double(c.bits);
          if (v < bestV || (v == bestV && c.bits < L->choices[best].bits)) {
            bestV = v;
            best = i;
          }
        }
        bits += double(L->choices[best].bits);
        lagr += bestV;
        if (apply)
          L->chosen = best;
      }
      dualOut = std::max(dualOut, lagr - lambda * budget);
      return bits;
    };
    double lo = 0, hi = 0;
    if (pick(0, true) > budget) {
      hi = 1e-30;
      while (pick(hi, false) > budget && hi < 1e300)
        hi *= 4;
      for (int it = 0; it < 200 && hi > lo * (1 + 1e-15); ++it) {
        double mid = lo == 0 ? hi / 4 : std::sqrt(lo * hi);
        (pick(mid, false) > budget ? lo : hi) = mid;
      }
      pick(hi, true);
    }
    lambdaOut = hi;
    // Greedy repair: spend the slack on the best gain per extra bit.
    double used = 0;
    for (Layer *L : S)
      used += double(L->choices[L->chosen].bits);
    while (true) {
      Layer *bestL = nullptr;
      size_t bestC = 0;
      double bestRatio = 0;
      for (Layer *L : S) {
        const Choice &cur = L->choices[L->chosen];
        for (auto [i, c] : llvm::enumerate(L->choices)) {
          double extra = double(c.bits) - double(cur.bits);
          double gain = cur.sens - c.sens;
          if (gain <= 0 || used + extra > budget)
            continue;
          double ratio = gain / std::max(extra, 1.0);
          if (ratio > bestRatio) {
            bestRatio = ratio;
            bestL = L;
            bestC = i;
          }
        }
      }
      if (!bestL)
        break;
      used += double(bestL->choices[bestC].bits) -
              double(bestL->choices[bestL->chosen].bits);
      bestL->chosen = bestC;
    }
  }
};

} // namespace
