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
// `metric=kl` measures what the proxies estimate (the per-layer KL
// sensitivity of ModelOpt's AutoQuantize and of HAWQ's empirical
// counterpart; "Q-BERT", arXiv:1909.05840, ranks layers the same way):
//   s_ic = 1/R Σ_windows Σ_rows KL(P_float(·|row) || P_{i←c}(·|row)),
// the model's next-token distribution with only linear i's weight replaced
// by its RTN dequantization in format c, over `kl-samples` calibration
// windows (R rows in all). Sums of per-layer KLs are additive to first order
// (the KL of small independent perturbations is a quadratic form in them,
// whose cross terms vanish in expectation), which is what the knapsack
// assumes. Cost: compile once, run the float model once per window, then
// Σ_i |C_i| forward passes per window: the JIT'd copy takes every linear's
// f32 weight as a slice of one flat input buffer, and a measurement writes
// the dequantized weight into that linear's slice, runs, and restores it.
//
// Size. b_ic is the bits the artifact stores for that linear: codes
// (N·K·storage bits, i3 = 3 bits, as quant-compile's weight count), scales
// (f32, or 8-bit E8M0/E4M3 codes), zero points (i32) and NVFP4's f32 tensor
// scale. After quantizing, the whole function's weights are counted exactly
// as quant-compile's `params` / `weight_bytes` signature lines (both call
// countModelWeights), so the plan's model bpw is quant-eval's.
//
// Objective. `objective=quality` (default) searches every candidate.
// `objective=speed` searches only the candidates --lower-to-cpu runs through
// a fused kernel (int4 / int8, NF4, FP8, MXFP4, NVFP4, BF16: codes decoded
// in registers, so a batch-1 decode reads ~bits/8 bytes per weight); the
// others (int3, int2/5/6/7, MXFP6/8) are dequantized to an f32 weight on
// every call, i.e. read 4 + bits/8 bytes per weight, slower than float
// (bench/results/decode-kv-pd-llama-6m.md: w3a16 decodes below float). It
// is a constraint, not a time model: the knapsack is the same, over fewer
// choices; pins (`keep`) and `plan-in` are applied as given.
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
#include "passes/Calibrate/ModelRunner.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Threading.h"
#include "llvm/ADT/ScopeExit.h"
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
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

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
  case lq::Format::BF16: // one f32 scale per tensor
    bits += 32;
    break;
  default:
    bits += uint64_t(N) * G * 8;
  }
  return bits;
}


/// Whether --lower-to-cpu runs a linear in this format through a fused
/// lq_rt kernel that decodes the codes in registers (int4 / int8 with any
/// group, NF4, FP8 E4M3/E5M2, MXFP4, NVFP4; float is plain SGEMM). The
/// others (int2/3/5/6/7, MXFP6, MXFP8) are dequantized to an f32 weight on
/// every call (LQToRuntime's QuantizedLinearToRuntime).
bool hasFusedCpuKernel(const Spec &s) {
  if (s.isFloat)
    return true;
  if (s.format == "int")
    return s.bits == 4 || s.bits == 8;
  return s.format == "nf4" || s.format == "fp8-e4m3" || s.format == "fp8-e5m2" ||
         s.format == "mxfp4" || s.format == "nvfp4" || s.format == "bf16";
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

/// The float reference of one calibration window, per row r of its logits:
/// the next-token distribution p_r and Σ_v p_rv log p_rv (minus its entropy).
struct KLReference {
  std::vector<double> p;       // [rows, vocab]
  std::vector<double> negEnt;  // [rows]
};

/// What the JIT'd model's logits callback does for the window running on
/// this thread: record the float reference, or add the candidate's KL. With
/// lq = z - lse(z) for the candidate's logits z,
///   KL(p || q) = Σ_v p_v (log p_v - z_v + lse) = negEnt - Σ_v p_v z_v + lse
/// (Σ p = 1): one exp per logit (for lse) and a dot product, instead of a
/// log-softmax of both and an exp per term.
struct KLRun {
  KLReference *ref = nullptr;
  bool reference = false;
  int64_t rows = 0, vocab = 0;
  double klSum = 0;
  bool finite = true;
};
thread_local KLRun *activeKL = nullptr;

/// log-sum-exp of one row, in double.
double logSumExp(const float *z, int64_t stride, int64_t V) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < V; ++v)
    m = std::max(m, double(z[v * stride]));
  double sum = 0;
  for (int64_t v = 0; v < V; ++v)
    sum += std::exp(double(z[v * stride]) - m);
  return m + std::log(sum);
}

/// Called by the JIT'd model with its logits as [rows, vocab].
extern "C" void lqMixedLogits(lq::MemRef2DF32 *x) {
  KLRun *run = activeKL;
  if (!run)
    return;
  const int64_t R = x->sizes[0], V = x->sizes[1];
  const int64_t rs = x->strides[0], vs = x->strides[1];
  const float *base = x->aligned + x->offset;
  run->rows = R;
  run->vocab = V;
  KLReference &ref = *run->ref;
  if (run->reference) {
    ref.p.resize(R * V);
    ref.negEnt.resize(R);
    for (int64_t r = 0; r < R; ++r) {
      const float *z = base + r * rs;
      double lse = logSumExp(z, vs, V), negEnt = 0;
      double *p = &ref.p[r * V];
      for (int64_t v = 0; v < V; ++v) {
        double lp = double(z[v * vs]) - lse;
        p[v] = std::exp(lp);
        negEnt += p[v] * lp;
      }
      ref.negEnt[r] = negEnt;
    }
    return;
  }
  for (int64_t r = 0; r < R; ++r) {
    const float *z = base + r * rs;
    const double *p = &ref.p[r * V];
    double dot = 0;
    for (int64_t v = 0; v < V; ++v)
      dot += p[v] * double(z[v * vs]);
    double kl = ref.negEnt[r] - dot + logSumExp(z, vs, V);
    if (!std::isfinite(kl))
      run->finite = false;
    // Rounding can leave a tiny negative sum; KL itself is >= 0.
    run->klSum += std::max(0.0, kl);
  }
}

/// `threads - 1` threads kept for the pass's lifetime plus the caller: run()
/// calls work(t) for t = 0 .. threads-1 (t = 0 on the caller) and returns
/// when all are done.
class WorkerGroup {
public:
  WorkerGroup(int threads, std::function<void(int)> work)
      : work(std::move(work)) {
    for (int t = 1; t < threads; ++t)
      pool.emplace_back([this, t] { loop(t); });
  }
  ~WorkerGroup() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
      ++generation;
    }
    wake.notify_all();
    for (std::thread &t : pool)
      t.join();
  }
  void run() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      pending = int(pool.size());
      ++generation;
    }
    wake.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
  }

private:
  void loop(int t) {
    uint64_t seen = 0;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return generation != seen; });
        seen = generation;
        if (stop)
          return;
      }
      work(t);
      std::lock_guard<std::mutex> lock(mutex);
      if (--pending == 0)
        done.notify_one();
    }
  }

  std::function<void(int)> work;
  std::vector<std::thread> pool;
  std::mutex mutex;
  std::condition_variable wake, done;
  uint64_t generation = 0;
  int pending = 0;
  bool stop = false;
};

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
    if (metric != "hessian" && metric != "hessian-rel" && metric != "mse" &&
        metric != "kl")
      return f.emitError() << "'metric' must be hessian, hessian-rel, mse or "
                              "kl, got '"
                           << metric << "'";
    if (metric == "kl" && klSamples <= 0)
      return f.emitError() << "'kl-samples' must be positive, got "
                           << int64_t(klSamples);
    // Sensitivities measured elsewhere (kl) or read from a plan (sens-in)
    // are filled in after the layers are collected.
    bool measureLater = metric == "kl" || !sensIn.empty();
    bool needHessian =
        !measureLater && (metric == "hessian" || metric == "hessian-rel");
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
    if (objective != "quality" && objective != "speed")
      return f.emitError() << "'objective' must be quality or speed, got '"
                           << objective << "'";
    std::vector<std::string> dropped;
    for (const std::string &c : candText) {
      Spec spec;
      if (failed(checkSpec(c, spec)))
        return failure();
      // objective=speed: only formats the CPU lowering runs through a fused
      // kernel (see the file comment).
      if (objective == "speed" && !hasFusedCpuKernel(spec)) {
        dropped.push_back(spec.name);
        continue;
      }
      cands.push_back(spec);
    }
    if (cands.empty())
      return f.emitError() << "objective=speed leaves no candidate: none of '"
                           << llvm::join(candText, ",")
                           << "' has a fused CPU kernel (int4, int8, nf4, fp8, "
                              "fp8-e5m2, mxfp4, nvfp4, bf16, float)";
    if (!dropped.empty())
      mlir::emitRemark(f.getLoc())
          << "mixed precision: objective=speed drops " << llvm::join(dropped, ", ")
          << " (no fused CPU kernel: dequantized to an f32 weight per call)";
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
      if (needHessian) {
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
      if (needHessian && metric == "hessian-rel") {
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
        c.sens = measureLater ? 0 : scale * sensitivity(ctx, *scheme, w, H, L.N, L.K);
        L.choices.push_back(c);
        ++pairs;
      }
      if (L.choices.empty())
        return op.emitError() << "no candidate format fits this linear's K ("
                              << L.K << ")";
      layers.push_back(std::move(L));
    }
    if (layers.empty() && linears.empty())
      return success(); // no linear: nothing to assign (e.g. a helper)
    if (!sensIn.empty()) {
      if (failed(readSensitivities(f, layers)))
        return failure();
    } else if (metric == "kl") {
      if (failed(measureKL(f, layers)))
        return failure();
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
      if (!sensIn.empty())
        d << " (from '" << sensIn << "')";
      else if (metric == "kl")
        d << " (KL: JIT " << llvm::formatv("{0:f2}", klCompileSeconds).str()
          << " s, " << klRuns << " runs x " << klWindows << " windows)";
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

  /// Every choice's sensitivity from the plan JSON `sens-in` (its
  /// "candidates" per layer), which must have been written with `metric`.
  LogicalResult readSensitivities(func::FuncOp f, std::vector<Layer> &layers) {
    auto buf = llvm::MemoryBuffer::getFile(sensIn);
    if (!buf)
      return f.emitError() << "cannot read 'sens-in' plan '" << sensIn << "'";
    llvm::Expected<llvm::json::Value> json =
        llvm::json::parse((*buf)->getBuffer());
    if (!json) {
      std::string msg = llvm::toString(json.takeError());
      return f.emitError() << "'sens-in' plan '" << sensIn
                           << "' is not JSON: " << msg;
    }
    const llvm::json::Object *root = json->getAsObject();
    const llvm::json::Array *arr = root ? root->getArray("layers") : nullptr;
    if (!arr)
      return f.emitError() << "'sens-in' plan '" << sensIn
                           << "' has no \"layers\" array";
    std::optional<StringRef> m = root->getString("metric");
    if (!m || *m != metric)
      return f.emitError() << "'sens-in' plan '" << sensIn << "' holds metric '"
                           << (m ? *m : StringRef("?")) << "', not '" << metric
                           << "'";
    std::map<int64_t, const llvm::json::Object *> byIndex;
    for (const llvm::json::Value &v : *arr)
      if (const llvm::json::Object *o = v.getAsObject())
        if (std::optional<int64_t> i = o->getInteger("index"))
          byIndex[*i] = o;
    for (Layer &L : layers) {
      auto it = byIndex.find(L.index);
      const llvm::json::Object *cands =
          it == byIndex.end() ? nullptr : it->second->getObject("candidates");
      std::optional<StringRef> name =
          it == byIndex.end() ? std::nullopt : it->second->getString("name");
      if (name && !name->empty() && *name != L.name)
        return L.op.emitError() << "'sens-in' plan '" << sensIn
                                << "' names linear " << L.index << " '" << *name
                                << "', the model '" << L.name << "'";
      for (Choice &c : L.choices) {
        const llvm::json::Object *o = cands ? cands->getObject(c.spec.name) : nullptr;
        std::optional<double> v = o ? o->getNumber("sensitivity") : std::nullopt;
        if (!v)
          return L.op.emitError() << "'sens-in' plan '" << sensIn
                                  << "' has no sensitivity for linear "
                                  << L.index << " in " << c.spec.name;
        c.sens = *v;
      }
    }
    return success();
  }

  /// metric=kl: every choice's sensitivity as the mean KL(P_float || P_c)
  /// over the calibration windows with only that linear in that format (see
  /// the file comment). One JIT'd copy of the module serves every run: its
  /// entry takes the f32 weights of all linears in `layers` as one flat
  /// buffer, and each run swaps one linear's slice.
  LogicalResult measureKL(func::FuncOp f, std::vector<Layer> &layers) {
    MLIRContext *ctx = f.getContext();
    Location loc = f.getLoc();
    const char *what = "assign-mixed-precision metric=kl";
    auto module = f->getParentOfType<ModuleOp>();
    if (!module || lq::entryOf(module) != f)
      return f.emitError() << "metric=kl runs the whole model: '@"
                           << f.getName()
                           << "' must be its module's entry ('main' or the "
                              "only public function)";
    for (auto other : module.getOps<func::FuncOp>())
      if (other != f && !other.isExternal())
        return f.emitError() << "metric=kl JIT-runs the module, which must have "
                                "no function with a body besides the entry "
                                "(found '@"
                             << other.getName() << "')";
    if (f.getNumResults() == 0)
      return f.emitError() << "metric=kl needs the logits as the entry's first "
                              "result";
    auto logitsTy = dyn_cast<RankedTensorType>(f.getResultTypes()[0]);
    if (!logitsTy || !logitsTy.hasStaticShape() ||
        !logitsTy.getElementType().isF32() || logitsTy.getNumElements() == 0)
      return f.emitError() << "metric=kl needs static f32 logits as the "
                              "entry's first result, got "
                           << f.getResultTypes()[0];
    FailureOr<int> idsArg = lq::tokenIdsArgument(f, loc, what);
    if (failed(idsArg))
      return failure();
    int64_t window =
        cast<RankedTensorType>(f.getArgumentTypes()[*idsArg]).getDimSize(1);
    std::vector<std::vector<int64_t>> windows;
    lq::TokenSource src{tokens, tokenizer, text, klSamples, seed};
    if (failed(lq::loadTokenWindows(loc, what, src, window, windows,
                                    lq::vocabularyOf(f, *idsArg))))
      return failure();

    // The flat buffer of f32 weights, one slice per linear.
    std::vector<int64_t> offset(layers.size());
    int64_t total = 0;
    for (auto [i, L] : llvm::enumerate(layers)) {
      if (!L.op.getWeight().getType().getElementType().isF32())
        return L.op.emitError() << "metric=kl needs f32 weights";
      offset[i] = total;
      total += L.N * L.K;
    }
    std::vector<float> flat(total), original(total);
    for (auto [i, L] : llvm::enumerate(layers)) {
      Attribute attr;
      SmallVector<float> w;
      if (!matchPattern(L.op.getWeight(), m_Constant(&attr)) ||
          failed(lq::readFloatElements(attr, w)))
        return L.op.emitError() << "unreadable weight";
      std::copy(w.begin(), w.end(), original.begin() + offset[i]);
    }
    flat = original;

    // The copy: linear i reads expand_shape(extract_slice(flat)).
    OwningOpRef<ModuleOp> clone = module.clone();
    func::FuncOp cEntry = lq::entryOf(*clone);
    SmallVector<lq::LinearOp> cLinears;
    cEntry.walk([&](lq::LinearOp op) { cLinears.push_back(op); });
    auto flatTy = RankedTensorType::get({total}, Float32Type::get(ctx));
    unsigned n = cEntry.getNumArguments();
    if (failed(cEntry.insertArgument(n, flatTy, DictionaryAttr(), loc)))
      return f.emitError() << what << ": cannot add the weight input";
    Value flatArg = cEntry.getArgument(n);
    OpBuilder b(ctx);
    for (auto [i, L] : llvm::enumerate(layers)) {
      if (L.index >= int64_t(cLinears.size()))
        return f.emitError() << what << ": the copy lost linear " << L.index;
      lq::LinearOp op = cLinears[L.index];
      Location l = op.getLoc();
      b.setInsertionPoint(op);
      auto sliceTy = RankedTensorType::get({L.N * L.K}, Float32Type::get(ctx));
      Value slice = tensor::ExtractSliceOp::create(
          b, l, sliceTy, flatArg, ArrayRef<OpFoldResult>{b.getIndexAttr(offset[i])},
          ArrayRef<OpFoldResult>{b.getIndexAttr(L.N * L.K)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
      Value w = tensor::ExpandShapeOp::create(
          b, l, op.getWeight().getType(), slice,
          ArrayRef<ReassociationIndices>{{0, 1}});
      Operation *old = op.getWeight().getDefiningOp();
      op.getWeightMutable().assign(w);
      if (old && old->use_empty())
        old->erase();
    }
    lq::buildRunWrapper(
        *clone, cEntry, *idsArg, "lq_mixed_run", {flatTy},
        [&](OpBuilder &rb, Location l, ValueRange results) {
          auto cb = lq::declareHostCallback(rb, *clone, "lq_mixed_logits",
                                            {lq::anyLayoutF32(ctx, 2)});
          func::CallOp::create(rb, l, cb,
                               ValueRange{lq::rowsView(rb, l, results[0])});
        });
    auto start = std::chrono::steady_clock::now();
    auto engine = lq::jitOnCpu(
        *clone, loc, what, runtimeLib,
        {{"lq_mixed_logits", reinterpret_cast<void *>(&lqMixedLogits)}});
    if (failed(engine))
      return failure();
    auto fn = (*engine)->lookup("_mlir_ciface_lq_mixed_run");
    if (!fn)
      return f.emitError() << what << ": " << llvm::toString(fn.takeError());
    auto call = reinterpret_cast<void (*)(void *, void *)>(*fn);
    double compileSeconds = std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - start)
                                .count();

    // With at least as many windows as threads, windows run concurrently,
    // one per thread, each with lq_rt's pool at one thread: the model's GEMMs
    // are small (M = one window), and a fork-join per GEMM cost more than it
    // saved (pd-llama-6m mixed-4.0 on 2 cores: 43 -> 19.5 s). With fewer
    // windows than threads they run one after the other on the whole pool.
    // Each window's KL is summed in window order, so the result does not
    // depend on the thread count.
    const int savedThreads = lq_rt_get_num_threads();
    const int64_t numWindows = int64_t(windows.size());
    const bool concurrent = savedThreads > 1 && numWindows >= savedThreads;
    const int threads = concurrent ? savedThreads : 1;
    if (concurrent)
      lq_rt_set_num_threads(1);
    llvm::scope_exit restore([&] {
      if (concurrent)
        lq_rt_set_num_threads(savedThreads);
    });
    std::vector<KLReference> refs(numWindows);
    std::vector<KLRun> perWindow(numWindows);
    lq::MemRef1DF32 flatDesc = {flat.data(), flat.data(), 0, {total}, {1}};
    bool reference = true;
    auto work = [&](int t) {
      for (int64_t w = t; w < numWindows; w += threads) {
        perWindow[w] = KLRun();
        perWindow[w].ref = &refs[w];
        perWindow[w].reference = reference;
        activeKL = &perWindow[w];
        lq::IdsDescriptor ids = lq::idsDescriptor(windows[w]);
        call(&ids, &flatDesc);
        activeKL = nullptr;
      }
    };
    // The same worker threads serve every run (lq_rt's allocator caches
    // buffers per thread, so a fresh thread per run would allocate anew).
    WorkerGroup workers(threads, work);
    auto runAll = [&](bool isReference) {
      reference = isReference;
      workers.run();
    };
    // The float reference, once.
    runAll(/*reference=*/true);
    int64_t runs = 0, totalRuns = 0;
    for (Layer &L : layers)
      for (Choice &c : L.choices)
        totalRuns += c.scheme ? 1 : 0;
    auto measured = std::chrono::steady_clock::now();
    for (auto [i, L] : llvm::enumerate(layers)) {
      ArrayRef<float> w(original.data() + offset[i], L.N * L.K);
      for (Choice &c : L.choices) {
        if (!c.scheme) {
          c.sens = 0; // float: the reference itself
          continue;
        }
        lq::QuantizedWeight q = lq::quantizeRTN(c.scheme, w, L.N, L.K);
        std::vector<float> deq = lq::dequantize(c.scheme, q);
        std::copy(deq.begin(), deq.end(), flat.begin() + offset[i]);
        runAll(/*reference=*/false);
        std::copy(w.begin(), w.end(), flat.begin() + offset[i]);
        double klSum = 0;
        int64_t rows = 0;
        for (const KLRun &run : perWindow) {
          if (!run.finite)
            return L.op.emitError() << what << ": non-finite logits with this "
                                    << "linear in " << c.spec.name;
          klSum += run.klSum;
          rows += run.rows;
        }
        c.sens = klSum / double(std::max<int64_t>(rows, 1));
        ++runs;
      }
      if (progress) {
        double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - measured)
                          .count();
        llvm::errs() << "\rassign-mixed-precision: KL of linear " << (i + 1)
                     << "/" << layers.size() << ", " << runs << "/"
                     << totalRuns << " (linear, format) runs x "
                     << windows.size() << " windows, "
                     << llvm::formatv("{0:f1}", secs).str() << " s, ~"
                     << llvm::formatv("{0:f0}",
                                      runs ? secs / runs * (totalRuns - runs) : 0.0)
                            .str()
                     << " s left   ";
      }
    }
    if (progress)
      llvm::errs() << "\n";
    klCompileSeconds = compileSeconds;
    klRuns = runs;
    klWindows = int64_t(windows.size());
    return success();
  }
  double klCompileSeconds = 0;
  int64_t klRuns = 0, klWindows = 0;

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
