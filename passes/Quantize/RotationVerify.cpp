//===- RotationVerify.cpp - Checking that fused rotations cancel ---*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The invariance QuaRot and SpinQuant rest on (Ashkboos et al.,
// arXiv:2404.00456 §3; Liu et al., arXiv:2405.16406 §3): with norms folded,
// for orthogonal R1, R2 and the online Hadamards R3/R4, the rotated network
// computes the same function in exact arithmetic, so in float32
//
//     err = max_ij |L'_ij - L_ij| / max_ij |L_ij|
//
// over the logits L (original) and L' (rotated) of one token window must be
// rounding-sized (~1e-6 on pd-llama-6m). A rotation that does not cancel
// (a non-orthogonal R, a structure the fuser misread) shows up as err of the
// order of the error in R. The window is ids 1..T (modulo the vocabulary):
// deterministic, in range, and no calibration data needed; other inputs
// (a KV cache, `position`) are zeros, as in --calibrate.
//
// Both functions are JIT'd in one module (ModelRunner's lowering and
// ExecutionEngine, as --calibrate and assign-mixed-precision metric=kl do):
// the copy of the module taken before the rotation keeps the original entry,
// and the rotated function is cloned into it under a private name.
//
//===----------------------------------------------------------------------===//

#include "passes/Quantize/RotationVerify.h"

#include "passes/Calibrate/ModelRunner.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstdio>
#include <vector>

using namespace mlir;

namespace {
/// Where the JIT'd wrappers' logits go (set around each call).
thread_local std::vector<float> *verifySink = nullptr;
} // namespace

extern "C" void lqVerifyLogits(mlir::lq::MemRef2DF32 *x) {
  if (!verifySink)
    return;
  const int64_t R = x->sizes[0], V = x->sizes[1];
  const float *base = x->aligned + x->offset;
  verifySink->resize(R * V);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t v = 0; v < V; ++v)
      (*verifySink)[r * V + v] = base[r * x->strides[0] + v * x->strides[1]];
}

namespace mlir::lq {

LogicalResult RotationVerifier::prepare(func::FuncOp f, StringRef pass) {
  what = (pass + " verify").str();
  auto module = f->getParentOfType<ModuleOp>();
  if (!module || entryOf(module) != f)
    return emitError(f.getLoc()) << what << ": runs the whole model, so '@"
                         << f.getName()
                         << "' must be its module's entry ('main' or the only "
                            "public function)";
  for (auto other : module.getOps<func::FuncOp>())
    if (other != f && !other.isExternal())
      return emitError(f.getLoc()) << what << ": JIT-runs the module, which must have "
                              "no function with a body besides the entry "
                              "(found '@"
                           << other.getName() << "')";
  auto logitsTy = f.getNumResults()
                      ? dyn_cast<RankedTensorType>(f.getResultTypes()[0])
                      : RankedTensorType();
  if (!logitsTy || !logitsTy.hasStaticShape() ||
      !logitsTy.getElementType().isF32() || logitsTy.getNumElements() == 0)
    return emitError(f.getLoc()) << what
                         << ": needs static f32 logits as the entry's first "
                            "result";
  FailureOr<int> ids = tokenIdsArgument(f, f.getLoc(), what);
  if (failed(ids))
    return failure();
  idsArg = *ids;
  reference = module.clone();
  return success();
}

LogicalResult RotationVerifier::check(func::FuncOp f, double tolerance) {
  ModuleOp m = *reference;
  func::FuncOp original = entryOf(m);
  OpBuilder b(f.getContext());
  b.setInsertionPointToEnd(m.getBody());
  auto rotated = cast<func::FuncOp>(b.clone(*f.getOperation()));
  rotated.setSymName("lq_verify_rotated");
  rotated.setPrivate();
  auto onResults = [&](OpBuilder &rb, Location l, ValueRange results) {
    auto cb = declareHostCallback(rb, m, "lq_verify_logits",
                                  {anyLayoutF32(f.getContext(), 2)});
    func::CallOp::create(rb, l, cb, ValueRange{rowsView(rb, l, results[0])});
  };
  buildRunWrapper(m, original, idsArg, "lq_verify_original", {}, onResults);
  // One declaration of the callback is enough.
  buildRunWrapper(m, rotated, idsArg, "lq_verify_rot", {},
                  [&](OpBuilder &rb, Location l, ValueRange results) {
                    auto cb = m.lookupSymbol<func::FuncOp>("lq_verify_logits");
                    func::CallOp::create(rb, l, cb,
                                         ValueRange{rowsView(rb, l, results[0])});
                  });
  auto engine = jitOnCpu(m, f.getLoc(), what, /*runtimeLib=*/"",
                         {{"lq_verify_logits",
                           reinterpret_cast<void *>(&lqVerifyLogits)}});
  if (failed(engine))
    return failure();

  int64_t T = cast<RankedTensorType>(f.getArgumentTypes()[idsArg]).getDimSize(1);
  int64_t vocab = vocabularyOf(f, idsArg);
  std::vector<int64_t> ids(T);
  for (int64_t i = 0; i < T; ++i)
    ids[i] = vocab > 1 ? 1 + i % (vocab - 1) : i + 1;
  std::vector<float> want, got;
  for (auto [name, sink] : {std::pair{"lq_verify_original", &want},
                            std::pair{"lq_verify_rot", &got}}) {
    auto fn = (*engine)->lookup((Twine("_mlir_ciface_") + name).str());
    if (!fn)
      return emitError(f.getLoc()) << what << ": " << llvm::toString(fn.takeError());
    IdsDescriptor desc = idsDescriptor(ids);
    verifySink = sink;
    reinterpret_cast<void (*)(void *)>(*fn)(&desc);
    verifySink = nullptr;
  }
  reference = nullptr;
  if (want.empty() || got.size() != want.size())
    return emitError(f.getLoc()) << what << ": the model produced no logits";
  double maxRef = 0, maxDiff = 0;
  bool finite = true;
  for (size_t i = 0; i < want.size(); ++i) {
    finite &= std::isfinite(want[i]) && std::isfinite(got[i]);
    maxRef = std::max(maxRef, std::abs(double(want[i])));
    maxDiff = std::max(maxDiff, std::abs(double(got[i]) - double(want[i])));
  }
  if (!finite)
    return emitError(f.getLoc()) << what << ": non-finite logits before or after the "
                                    "rotation";
  double rel = maxRef > 0 ? maxDiff / maxRef : maxDiff;
  std::string fig = llvm::formatv("{0:e}", rel).str();
  char tol[32];
  std::snprintf(tol, sizeof tol, "%g", tolerance);
  if (!(rel <= tolerance))
    return emitError(f.getLoc()) << what << ": the rotated float logits differ from "
                                    "the original by a relative error of "
                         << fig << " (max |dlogit| / max |logit| over ids 1.."
                         << T << "), above the tolerance " << tol
                         << " (verify-tol): the rotations do not cancel in "
                            "this model";
  emitRemark(f.getLoc()) << what << ": the rotated float logits equal the original "
                            "within a relative error of "
                 << fig << " (tolerance " << tol << ", ids 1.." << T << ")";
  return success();
}

} // namespace mlir::lq
