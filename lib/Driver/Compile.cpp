//===- Compile.cpp - quant-compile's driver -----------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// import -> recipe pipeline -> --lower-to-cpu -> LLVM IR -> object -> shared
// library + C header. Every stage can be printed (--emit), and the MLIR part
// is one textual pipeline (--print-pipeline) that quant-opt replays.
//
// The shared library exports, for its entry function `main`:
//   void lq_model_main(void **args);   // args[0..n) input memref descriptors,
//                                      // args[n] the result struct
//   const char lq_model_signature[];   // "in <name> <dtype> <dims>\n" lines,
//                                      // then "out ..." lines, then
//                                      // "params N" and "weight_bytes N",
//                                      // "alloc lq_rt" when its buffers come
//                                      // from lq_rt's allocator
// which is what lq_rt's lq_model_load/lq_model_run call.
//
//===----------------------------------------------------------------------===//

#include "lq/Driver/Compile.h"

#include "dialects/LQ/IR/LQOps.h"
#include "passes/Passes.h"
#include "passes/Pipelines/Pipelines.h"
#include "passes/Quantize/WeightQuantizer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <chrono>

using namespace mlir;

namespace lq {

namespace {
struct Recipe {
  StringRef name, help;
  /// Passes before lowering; "{cal}" / "{cal-h}" become the calibration
  /// pass (without / with Hessians).
  StringRef pipeline;
};

const Recipe recipes[] = {
    {"float", "no quantization: the model as imported", ""},
    {"w8a16", "int8 weights per output channel (RTN)",
     "func.func(quantize-weights{bits=8 group=-1})"},
    {"w4a16-rtn", "int4 weights, groups of 128 along K, round to nearest",
     "func.func(quantize-weights{bits=4 group=128})"},
    {"w3a16-rtn", "int3 weights, groups of 128, round to nearest",
     "func.func(quantize-weights{bits=3 group=128})"},
    {"w4a16-gptq", "int4 weights, groups of 128, GPTQ (needs calibration)",
     "{cal-h},func.func(gptq{bits=4 group=128},quantize-weights)"},
    {"w3a16-gptq", "int3 weights, groups of 128, GPTQ (needs calibration)",
     "{cal-h},func.func(gptq{bits=3 group=128},quantize-weights)"},
    {"w4a16-awq", "int4 weights, groups of 128, AWQ scales + clipping "
                  "(needs calibration)",
     "{cal},func.func(awq{bits=4 group=128},quantize-weights)"},
    {"w3a16-awq", "int3 weights, groups of 128, AWQ scales + clipping "
                  "(needs calibration)",
     "{cal},func.func(awq{bits=3 group=128},quantize-weights)"},
    {"w8a8-naive", "int8 weights per channel + static per-tensor int8 "
                   "activations, no smoothing (the baseline; calibrates)",
     "{cal},func.func(quantize-weights{bits=8 group=-1},quantize-activations)"},
    {"w8a8-smoothquant", "SmoothQuant (alpha 0.5), then w8a8 (calibrates)",
     "{cal},func.func(smoothquant{alpha=0.5},quantize-weights{bits=8 group=-1},"
     "quantize-activations)"},
    {"fp8", "FP8 E4M3 weights per channel + static FP8 activations "
            "(calibrates)",
     "{cal},func.func(quantize-weights{format=fp8-e4m3 lm-head=same},"
     "quantize-activations{format=fp8-e4m3})"},
    // FP8 with run-time scales (vLLM's FP8_DYNAMIC scheme): no calibration,
    // one activation scale per token.
    {"fp8-dynamic", "FP8 E4M3 weights per channel + dynamic per-token FP8 "
                    "activations (no calibration)",
     "func.func(quantize-weights{format=fp8-e4m3},"
     "quantize-activations{format=fp8-e4m3 granularity=per-token "
     "mode=dynamic})"},
    {"nf4", "NF4 weights (QLoRA codebook), groups of 64",
     "func.func(quantize-weights{format=nf4 group=64})"},
    {"fp8-weights", "FP8 E4M3 weights, per output channel",
     "func.func(quantize-weights{format=fp8-e4m3})"},
    {"mxfp4", "MXFP4 weights (E2M1, E8M0 scale per 32)",
     "func.func(quantize-weights{format=mxfp4})"},
    {"nvfp4", "NVFP4 weights (E2M1, E4M3 scale per 16, f32 tensor scale)",
     "func.func(quantize-weights{format=nvfp4})"},
    {"bf16", "bfloat16 weights (round to nearest even) for every linear "
             "incl. lm_head, f32 activations (llama.cpp's BF16)",
     "func.func(quantize-weights{format=bf16 lm-head=same})"},
    {"w8a8-dynamic", "int8 weights per channel + dynamic per-token int8 "
                     "activations (no calibration)",
     "func.func(quantize-weights{bits=8 group=-1},"
     "quantize-activations{granularity=per-token})"},
    {"w4a8", "int4 weights, groups of 128, GPTQ + dynamic per-token int8 "
             "activations (needs calibration)",
     "{cal-h},func.func(gptq{bits=4 group=128},quantize-weights,"
     "quantize-activations{granularity=per-token})"},
    // w4a8's format with round-to-nearest weights: llama.cpp Q4_0's
    // counterpart (no calibration; the same lq_rt_linear_w4a8 kernel).
    {"w4a8-rtn", "int4 weights, groups of 128, round to nearest + dynamic "
                 "per-token int8 activations (no calibration)",
     "func.func(quantize-weights{bits=4 group=128},"
     "quantize-activations{granularity=per-token})"},
    {"mxfp4-a", "MXFP4 weights and activations (E8M0 scale per 32, computed "
                "at run time for activations)",
     "func.func(quantize-weights{format=mxfp4},"
     "quantize-activations{format=mxfp4})"},
    {"nvfp4-a", "NVFP4 weights and activations (activation tensor scale "
                "from calibration, block scales at run time)",
     "{cal},func.func(quantize-weights{format=nvfp4},"
     "quantize-activations{format=nvfp4})"},
    {"nvfp4-a-dynamic", "NVFP4 weights and activations, all activation "
                        "scales computed at run time (no calibration)",
     "func.func(quantize-weights{format=nvfp4},"
     "quantize-activations{format=nvfp4 mode=dynamic})"},
    // W4A4 (QuaRot, arXiv:2404.00456): int4 activations per token at run
    // time; the rotated recipes run --fold-norms --quarot first.
    {"w4a4-rtn", "int4 weights (groups of 128, RTN) + dynamic per-token int4 "
                 "activations, no rotation (the baseline; no calibration)",
     "func.func(quantize-weights{bits=4 group=128},"
     "quantize-activations{format=int4})"},
    {"w4a4kv4-rtn", "w4a4-rtn + int4 KV cache (per token and head), no "
                    "rotation (the baseline)",
     "func.func(quantize-weights{bits=4 group=128},"
     "quantize-activations{format=int4},quantize-kv-cache{format=int4})"},
    {"w4a4kv4-quarot", "QuaRot (R1-R4 Hadamard rotations) + int4 GPTQ "
                       "weights (groups of 128) + per-token int4 activations "
                       "+ int4 KV cache (needs calibration)",
     "func.func(fold-norms,quarot{seed=0}),canonicalize,cse,{cal-h},"
     "func.func(gptq{bits=4 group=128},quantize-weights,"
     "quantize-activations{format=int4},quantize-kv-cache{format=int4})"},
    // SpinQuant (arXiv:2405.16406): QuaRot's structure with R1/R2 learned
    // (minutes): from --rotations, or, without it (or `--rotations learn`),
    // by the pass itself on the calibration data (rotations=learn).
    {"w4a4kv4-spinquant", "SpinQuant (learned R1/R2 from --rotations "
                          "DIR|FILE.npz|FILE.safetensors, or learned here on "
                          "the calibration data without it; online R3/R4 "
                          "Hadamards) + int4 GPTQ weights (groups of 128) + "
                          "per-token int4 activations + int4 KV cache (needs "
                          "calibration)",
     "func.func(fold-norms,spinquant{rotations={rotations}}),canonicalize,cse,"
     "{cal-h},func.func(gptq{bits=4 group=128},quantize-weights,"
     "quantize-activations{format=int4},quantize-kv-cache{format=int4})"},
    {"w4a16-quarot-gptq", "QuaRot (R1-R4 Hadamard rotations) + int4 GPTQ "
                          "weights, groups of 128 (needs calibration)",
     "func.func(fold-norms,quarot{seed=0}),canonicalize,cse,{cal-h},"
     "func.func(gptq{bits=4 group=128},quantize-weights)"},
    // mixed-<bpw> (any budget parses, getPipeline; these are listed):
    // sensitivities measured as the KL of the output with one linear
    // quantized (metric=kl), the allocation that sits on or above the uniform
    // frontier at every budget tried (bench/results/mixed-precision-*.md).
    {"mixed-3.5", "per-linear formats (int3/int4 groups, int8) chosen for "
                  "3.5 bits per weight of the linears, each linear's "
                  "sensitivity measured as the KL of the output with it "
                  "quantized (needs calibration data; any mixed-<bpw> works)",
     "func.func(assign-mixed-precision{budget-bpw=3.5 metric=kl {data}})"},
    {"mixed-4.0", "mixed precision at 4.0 bpw (see mixed-3.5)",
     "func.func(assign-mixed-precision{budget-bpw=4.0 metric=kl {data}})"},
    {"mixed-4.5", "mixed precision at 4.5 bpw (see mixed-3.5)",
     "func.func(assign-mixed-precision{budget-bpw=4.5 metric=kl {data}})"},
    {"mixed-5.0", "mixed precision at 5.0 bpw (see mixed-3.5)",
     "func.func(assign-mixed-precision{budget-bpw=5.0 metric=kl {data}})"},
    {"mixed-6.0", "mixed precision at 6.0 bpw (see mixed-3.5)",
     "func.func(assign-mixed-precision{budget-bpw=6.0 metric=kl {data}})"},
    // mixed-hessian-<bpw>: the Hessian proxy, no model runs per linear
    // (seconds instead of minutes; below the frontier at some budgets).
    {"mixed-hessian-4.5", "mixed precision at 4.5 bpw from the Hessian proxy "
                          "tr(dW H dWT) / tr(W H WT) (calibrates with "
                          "Hessians; faster than mixed-<bpw>, less accurate; "
                          "any mixed-hessian-<bpw> works)",
     "{cal-h},func.func(assign-mixed-precision{budget-bpw=4.5})"},
};
} // namespace

ArrayRef<std::pair<StringRef, StringRef>> listRecipes() {
  static const auto list = [] {
    std::vector<std::pair<StringRef, StringRef>> l;
    for (const Recipe &r : recipes)
      l.push_back({r.name, r.help});
    return l;
  }();
  return list;
}

/// The lowering that ends every pipeline.
static std::string lowerStage(const CompileOptions &options) {
  if (options.target == "cuda")
    return "lower-to-cuda{c-wrappers=true chip=" + options.cudaChip +
           (options.cudaResidentWeights ? "" : " resident-weights=false") +
           (options.cudaStreamOrdered ? " stream-ordered=true" : "") +
           (options.cudaDeviceKvCache ? " device-kv-caches=true" : "") + "}";
  return "lower-to-cpu{c-wrappers=true}";
}

FailureOr<std::string> getPipeline(const CompileOptions &options) {
  if (options.target != "cpu" && options.target != "cuda")
    return failure();
  std::string quantize;
  if (!options.pipeline.empty()) {
    quantize = options.pipeline;
  } else {
    const Recipe *recipe = nullptr;
    for (const Recipe &r : recipes)
      if (r.name == options.recipe)
        recipe = &r;
    double mixedBpw = 0;
    if (recipe) {
      quantize = recipe->pipeline.str();
    } else if (StringRef name = options.recipe;
               name.consume_front("mixed-hessian-") &&
               !name.getAsDouble(mixedBpw) && mixedBpw > 0) {
      // mixed-hessian-<bpw>: the Hessian proxy.
      quantize = "{cal-h},func.func(assign-mixed-precision{budget-bpw=" +
                 name.str() + "})";
    } else if (StringRef name = options.recipe;
               (name.consume_front("mixed-kl-") || name.consume_front("mixed-")) &&
               !name.getAsDouble(mixedBpw) && mixedBpw > 0) {
      // mixed-<bpw> (mixed-kl-<bpw> is the same): measured KL sensitivities,
      // no Hessians needed.
      quantize = "func.func(assign-mixed-precision{budget-bpw=" + name.str() +
                 " metric=kl {data}})";
    } else {
      return failure();
    }
  }
  auto calibrate = [&](bool hessian) {
    std::string c = "calibrate{";
    if (!options.calibrationTokens.empty())
      c += "tokens=" + options.calibrationTokens;
    else
      c += "tokenizer=" + options.tokenizer + " text=" + options.calibrationText;
    c += " samples=" + std::to_string(options.calibrationSamples);
    if (hessian)
      c += " hessian=true";
    return c + "}";
  };
  for (auto [key, hessian] : {std::pair{"{cal-h}", true}, {"{cal}", false}}) {
    size_t at = quantize.find(key);
    if (at != std::string::npos)
      quantize.replace(at, strlen(key), calibrate(hessian));
  }
  // {rotations}: learned rotations (w4a4kv4-spinquant), from --rotations;
  // without it (or with `learn`) the pass learns them on the calibration data.
  if (size_t at = quantize.find("{rotations}"); at != std::string::npos) {
    std::string r = options.rotations;
    if (r.empty() || r == "learn") {
      r = "learn ";
      if (!options.calibrationTokens.empty())
        r += "tokens=" + options.calibrationTokens;
      else
        r += "tokenizer=" + options.tokenizer + " text=" + options.calibrationText;
    }
    quantize.replace(at, strlen("{rotations}"), r);
  }
  // {data}: the calibration data for assign-mixed-precision metric=kl (its
  // first min(4, samples) windows are calibrate's first ones).
  if (size_t at = quantize.find("{data}"); at != std::string::npos) {
    std::string d;
    if (!options.calibrationTokens.empty())
      d = "tokens=" + options.calibrationTokens;
    else if (!options.tokenizer.empty() && !options.calibrationText.empty())
      d = "tokenizer=" + options.tokenizer + " text=" + options.calibrationText;
    if (!d.empty())
      d += " kl-samples=" +
           std::to_string(std::min<int64_t>(4, options.calibrationSamples));
    quantize.replace(at, 6, d);
  }
  std::string p = "builtin.module(canonicalize,cse";
  if (!quantize.empty())
    p += "," + quantize;
  if (!options.kvFormat.empty())
    p += ",func.func(quantize-kv-cache{format=" + options.kvFormat + "})";
  // The CPU runtime hands the model its cache buffers to update; a CUDA
  // model copies its inputs to the device, so its caches are fed back,
  // unless they stay on the device (--cuda-device-kv-cache).
  if (options.kvCache > 0 &&
      (options.target == "cpu" || options.cudaDeviceKvCache))
    p += ",func.func(kv-cache-in-place)";
  p += "," + lowerStage(options) + ")";
  return p;
}

/// Whether the compile needs calibration data it was not given.
/// Whether the pipeline calibrates without naming its data (a --pipeline
/// may say `calibrate{tokens=...}` itself; recipes get it from the flags).
static bool calibratesWithoutData(StringRef pipeline) {
  size_t at = pipeline.find("calibrate{");
  if (at == StringRef::npos)
    return false;
  StringRef opts = pipeline.drop_front(at).take_until([](char c) { return c == '}'; });
  return !opts.contains("tokens=") && !opts.contains("text=");
}

/// Whether assign-mixed-precision measures KL (runs the model on data).
static bool measuresKL(StringRef pipeline) {
  return pipeline.contains("metric=kl") && !pipeline.contains("sens-in=");
}

static bool needsCalibration(const CompileOptions &options,
                             StringRef pipeline) {
  bool klWithoutData = measuresKL(pipeline) && !pipeline.contains("tokens=") &&
                       !pipeline.contains("text=");
  return (calibratesWithoutData(pipeline) || klWithoutData) &&
         options.calibrationTokens.empty() &&
         (options.tokenizer.empty() || options.calibrationText.empty());
}

namespace {

/// Seconds since `start`, for the progress lines.
double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

std::string dtypeOf(Type t) {
  if (t.isF32()) return "f32";
  if (t.isF16()) return "f16";
  if (t.isBF16()) return "bf16";
  if (t.isF64()) return "f64";
  if (t.isInteger(64)) return "i64";
  if (t.isInteger(32)) return "i32";
  if (t.isInteger(16)) return "i16";
  if (t.isInteger(8)) return "i8";
  // FP8 codes (a quantized KV cache): raw bytes to the runtime.
  if (isa<Float8E4M3FNType, Float8E5M2Type>(t)) return "i8";
  if (t.isInteger(1)) return "i1";
  return "";
}

/// "in <name> <dtype> <d0>x<d1>..." lines for the entry function.
FailureOr<std::string> signatureOf(func::FuncOp f) {
  std::string sig;
  llvm::raw_string_ostream os(sig);
  auto line = [&](StringRef kind, StringRef name, Type type) -> LogicalResult {
    auto t = dyn_cast<RankedTensorType>(type);
    if (!t || !t.hasStaticShape() || dtypeOf(t.getElementType()).empty() ||
        (t.getEncoding() && !isa<mlir::lq::SchemeAttr>(t.getEncoding())))
      return f.emitError() << "entry '" << kind << "' " << name << " has type "
                           << type
                           << ": lq_rt runs static tensors of f32/f16/bf16/"
                              "f64/i64/i32/i16/i8/i1";
    os << kind << " " << name << " " << dtypeOf(t.getElementType()) << " ";
    if (t.getRank() == 0)
      os << "scalar";
    llvm::interleave(t.getShape(), os, "x");
    os << "\n";
    return success();
  };
  for (auto [i, type] : llvm::enumerate(f.getArgumentTypes())) {
    auto name = f.getArgAttrOfType<StringAttr>(i, "onnx.name");
    if (failed(line("in", name ? name.getValue() : ("arg" + std::to_string(i)),
                    type)))
      return failure();
  }
  // Token ids index an embedding: the runtime checks them before running.
  f.walk([&](mlir::lq::EmbeddingOp e) {
    auto arg = dyn_cast<BlockArgument>(e.getIds());
    if (!arg || arg.getOwner() != &f.front())
      return;
    auto name = f.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "onnx.name");
    os << "range "
       << (name ? name.getValue().str()
                : "arg" + std::to_string(arg.getArgNumber()))
       << " 0 " << e.getTable().getType().getDimSize(0) << "\n";
  });
  // Inputs with a declared value range (the KV cache's `position`), and the
  // caches a runtime feeds back from an output (lq_generate).
  auto argName = [&](unsigned i) {
    auto name = f.getArgAttrOfType<StringAttr>(i, "onnx.name");
    return name ? name.getValue().str() : "arg" + std::to_string(i);
  };
  auto resultName = [&](unsigned i) {
    auto name = f.getResultAttrOfType<StringAttr>(i, "onnx.name");
    return name ? name.getValue().str() : "result" + std::to_string(i);
  };
  for (unsigned i = 0; i < f.getNumArguments(); ++i) {
    if (auto r = f.getArgAttrOfType<DenseI64ArrayAttr>(i, "lq.range"))
      if (r.size() == 2)
        os << "range " << argName(i) << " " << r[0] << " " << r[1] << "\n";
    if (auto c = f.getArgAttrOfType<IntegerAttr>(i, "lq.kv_cache"))
      if (c.getInt() >= 0 && c.getInt() < int64_t(f.getNumResults()))
        os << "cache " << argName(i) << " " << resultName(c.getInt()) << "\n";
    if (f.getArgAttr(i, "lq.kv_cache_in_place"))
      os << "cache " << argName(i) << " inplace\n";
  }
  for (auto [i, type] : llvm::enumerate(f.getResultTypes())) {
    auto name = f.getResultAttrOfType<StringAttr>(i, "onnx.name");
    if (failed(line("out",
                    name ? name.getValue() : ("result" + std::to_string(i)),
                    type)))
      return failure();
  }
  return sig;
}

/// "params N" and "weight_bytes N" signature lines: the model's weights as
/// quant-eval reports them (bits per weight = 8 * weight_bytes / params);
/// see mlir::lq::countModelWeights for what counts.
std::string weightLinesOf(func::FuncOp f) {
  auto [params, bits] = mlir::lq::countModelWeights(f);
  return "params " + std::to_string(params) + "\nweight_bytes " +
         std::to_string((bits + 7) / 8) + "\n";
}

/// Adds `void lq_model_main(void **args)` calling the entry's C interface and the
/// signature string, so a C runtime can call any model the same way.
LogicalResult addEntryPoints(llvm::Module &m, StringRef signature,
                             unsigned numInputs, bool hasResults,
                             Location loc) {
  llvm::Function *ciface = m.getFunction("_mlir_ciface_lq_model_graph");
  if (!ciface)
    return emitError(loc)
           << "the lowered module has no '_mlir_ciface_lq_model_graph'";
  llvm::LLVMContext &ctx = m.getContext();
  llvm::Type *ptr = llvm::PointerType::get(ctx, 0);
  auto *fnTy = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage,
                                    "lq_model_main", m);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
  SmallVector<llvm::Value *> args;
  auto load = [&](unsigned i) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptr, fn->getArg(0), i);
    return b.CreateLoad(ptr, slot);
  };
  if (hasResults)
    args.push_back(load(numInputs));
  for (unsigned i = 0; i < numInputs; ++i)
    args.push_back(load(i));
  if (args.size() != ciface->arg_size())
    return emitError(loc) << "unexpected C interface: " << ciface->arg_size()
                          << " parameters for " << numInputs << " inputs";
  b.CreateCall(ciface, args);
  b.CreateRetVoid();
  auto *init = llvm::ConstantDataArray::getString(ctx, signature, true);
  new llvm::GlobalVariable(m, init->getType(), true,
                           llvm::GlobalValue::ExternalLinkage, init,
                           "lq_model_signature");
  return success();
}

/// Writes `contents` to `path` atomically (temp file + rename).
LogicalResult writeFile(StringRef path, StringRef contents, Location loc) {
  std::string error;
  auto out = openOutputFile(path, &error);
  if (!out)
    return emitError(loc) << error;
  out->os() << contents;
  out->keep();
  return success();
}

std::string headerFor(StringRef soName, StringRef signature) {
  std::string h;
  llvm::raw_string_ostream os(h);
  os << "/* Generated by quant-compile for " << soName
     << ". Load with lq_model_load() from <lq_rt/lq_rt.h>. */\n"
     << "#ifndef LQ_MODEL_H\n#define LQ_MODEL_H\n#ifdef __cplusplus\n"
     << "extern \"C\" {\n#endif\n\n/* Inputs and outputs, in call order:\n";
  SmallVector<StringRef> lines;
  signature.split(lines, '\n', -1, false);
  for (StringRef l : lines)
    os << " *   " << l << "\n";
  os << " */\nstatic const char lq_model_signature_text[] =\n";
  for (StringRef l : lines)
    os << "    \"" << l << "\\n\"\n";
  os << "    ;\n\n/* args[0..n_in) input memref descriptors, args[n_in] the "
        "result struct. */\nvoid lq_model_main(void **args);\nextern const "
        "char lq_model_signature[];\n\n#ifdef __cplusplus\n}\n#endif\n#endif\n";
  return h;
}

} // namespace

/// The host as a target machine (CPU name and features of this machine), for
/// the JIT's optimizer: without it LLVM vectorizes for a generic x86-64.
static std::unique_ptr<llvm::TargetMachine> hostMachine(std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::string triple = llvm::sys::getDefaultTargetTriple();
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return nullptr;
  llvm::SubtargetFeatures features;
  for (auto &f : llvm::sys::getHostCPUFeatures())
    features.AddFeature(f.first(), f.second);
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      llvm::Triple(triple), llvm::sys::getHostCPUName(), features.getString(),
      llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
}

/// The lowered module JIT-compiled with lq_model_main and the signature added
/// exactly as for a shared library; lq_rt's kernels resolve from liblq_rt.so.
static LogicalResult jitCompile(ModuleOp module, const CompileOptions &options,
                                const std::string &signature,
                                unsigned numInputs, bool hasResults,
                                Location loc, JitModel &jit,
                                llvm::raw_ostream &log,
                                std::chrono::steady_clock::time_point start) {
  if (options.target != "cpu")
    return emitError(loc) << "the JIT runs the CPU target only (compile a "
                             "CUDA model with quant-compile --target=cuda)";
  std::string error;
  std::unique_ptr<llvm::TargetMachine> tm = hostMachine(error);
  if (!tm)
    return emitError(loc) << "no JIT target for this machine: " << error;
  std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
  SmallString<256> lib(
      llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(lib, "lib", "liblq_rt.so");
  if (!llvm::sys::fs::exists(lib))
    return emitError(loc) << "cannot find the runtime '" << lib << "'";
  std::string sig = signature;
  bool entryFailed = false;
  auto build = [&](Operation *op, llvm::LLVMContext &ctx)
      -> std::unique_ptr<llvm::Module> {
    auto m = translateModuleToLLVMIR(op, ctx);
    if (!m)
      return nullptr;
    if (m->getFunction("_mlir_memref_to_llvm_alloc") ||
        m->getFunction("_mlir_memref_to_llvm_aligned_alloc"))
      sig += "alloc lq_rt\n";
    if (failed(addEntryPoints(*m, sig, numInputs, hasResults, loc))) {
      entryFailed = true;
      return nullptr;
    }
    m->setDataLayout(tm->createDataLayout());
    m->setTargetTriple(tm->getTargetTriple());
    return m;
  };
  ExecutionEngineOptions engineOptions;
  engineOptions.llvmModuleBuilder = build;
  auto optimize = makeOptimizingTransformer(options.optLevel, 0, tm.get());
  engineOptions.transformer = optimize;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  SmallVector<StringRef> libs = {lib};
  engineOptions.sharedLibPaths = libs;
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine) {
    std::string why = llvm::toString(engine.takeError());
    if (entryFailed)
      return failure(); // addEntryPoints reported it
    return emitError(loc) << "JIT compilation failed: " << why;
  }
  auto main = (*engine)->lookup("lq_model_main");
  if (!main)
    return emitError(loc) << "the JIT-compiled model has no lq_model_main: "
                          << llvm::toString(main.takeError());
  jit.engine = std::move(*engine);
  jit.main = reinterpret_cast<void (*)(void **)>(*main);
  jit.signature = sig;
  jit.seconds = since(start);
  log << "quant-run: JIT-compiled (" << llvm::format("%.2f", jit.seconds)
      << " s)\n";
  return success();
}

/// compile(), or with `jit` the same graph, recipe and lowering JIT-compiled
/// in memory by MLIR's ExecutionEngine.
static LogicalResult compileImpl(const CompileOptions &options,
                                 MLIRContext &context, llvm::raw_ostream &log,
                                 JitModel *jit) {
  auto start = std::chrono::steady_clock::now();
  Location fileLoc = FileLineColLoc::get(&context, options.input, 0, 0);
  StringRef in(options.input);

  // 1. Graph.
  OwningOpRef<ModuleOp> module;
  if (in.ends_with(".onnx") || in.ends_with(".onnxtext")) {
    auto imported = importONNXFile(in, &context, options.import);
    if (failed(imported))
      return failure();
    module = std::move(*imported);
    PassManager pm(&context);
    pm.addPass(createCanonicalizerPass());
    pm.addNestedPass<func::FuncOp>(mlir::lq::createLQRaisePass());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    if (failed(pm.run(*module)))
      return failure();
  } else {
    llvm::SourceMgr sm;
    std::string error;
    auto file = openInputFile(in, &error);
    if (!file)
      return emitError(fileLoc) << error;
    sm.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sm, &context);
    if (!module)
      return failure();
  }
  if (options.kvCache > 0) {
    PassManager pm(&context);
    mlir::lq::StaticKVCachePassOptions kv;
    kv.capacity = options.kvCache;
    pm.addNestedPass<func::FuncOp>(mlir::lq::createStaticKVCachePass(kv));
    if (failed(pm.run(*module)))
      return failure();
  }
  log << "quant-compile: graph ready (" << llvm::format("%.2f", since(start))
      << " s)\n";
  auto print = [&](Operation *op) -> LogicalResult {
    std::string text;
    llvm::raw_string_ostream os(text);
    op->print(os);
    return writeFile(options.output, text, fileLoc);
  };
  if (options.emit == EmitStage::Graph)
    return print(*module);
  if (options.listLinears) {
    int64_t index = 0;
    module->walk([&](mlir::lq::LinearOp op) {
      std::string name;
      if (auto n = dyn_cast<NameLoc>(op.getLoc()))
        name = n.getName().str();
      auto w = op.getWeight().getType();
      llvm::outs() << index++ << " " << (name.empty() ? "-" : name) << " "
                   << w.getDimSize(0) << "x" << w.getDimSize(1) << "\n";
    });
    return success();
  }

  auto entry = module->lookupSymbol<func::FuncOp>("main");
  if (!entry)
    return emitError(fileLoc) << "the model has no 'main' function";
  // Checked now, so a bad entry fails before calibration; taken again after
  // the quantization passes, which may change the inputs (a quantized KV
  // cache adds scale tensors).
  FailureOr<std::string> signature = signatureOf(entry);
  if (failed(signature))
    return failure();
  unsigned numInputs = entry.getNumArguments();
  bool hasResults = entry.getNumResults() > 0;
  // The signature carries them; LLVM translation would warn on them.
  auto takeSignature = [&](func::FuncOp f) -> LogicalResult {
    signature = signatureOf(f);
    if (failed(signature))
      return failure();
    for (unsigned i = 0; i < f.getNumArguments(); ++i) {
      f.removeArgAttr(i, "lq.kv_cache");
      // lq-gpu-device-buffers reads (and removes) it.
      if (options.target != "cuda")
        f.removeArgAttr(i, "lq.kv_cache_in_place");
      f.removeArgAttr(i, "lq.range");
    }
    numInputs = f.getNumArguments();
    hasResults = f.getNumResults() > 0;
    return success();
  };
  // A shared library must not export `main`: deployments link it into
  // programs that have their own.
  if (failed(SymbolTable::replaceAllSymbolUses(
          entry, StringAttr::get(&context, "lq_model_graph"), *module)))
    return emitError(fileLoc) << "cannot rename the entry function";
  entry.setSymName("lq_model_graph");

  // 2. Quantize + lower: one replayable pipeline.
  if (options.target != "cpu" && options.target != "cuda")
    return emitError(fileLoc) << "unknown target '" << options.target
                              << "' (cpu or cuda)";
  FailureOr<std::string> pipeline = getPipeline(options);
  if (failed(pipeline))
    return emitError(fileLoc) << "unknown recipe '" << options.recipe
                              << "' (see --list-recipes)";
  if (needsCalibration(options, *pipeline))
    return emitError(fileLoc)
           << (options.pipeline.empty() ? "recipe '" + options.recipe + "'"
                                        : std::string("the pipeline"))
           << " needs calibration data: give --calibration-text FILE "
              "--tokenizer FILE (or --calibration-tokens FILE.npy)";
  // Calibration text is tokenized by quant-tokenize in its own process:
  // Debian's libsentencepiece bundles a protobuf runtime that aborts when
  // loaded next to the importer's libprotobuf.
  SmallString<128> tokensFile;
  // Driven by the flags: a recipe's calibrate{} then names the text, which
  // must not be tokenized in this process.
  if ((StringRef(*pipeline).contains("calibrate{") || measuresKL(*pipeline)) &&
      options.calibrationTokens.empty() && !options.calibrationText.empty()) {
    std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
    SmallString<256> tool(llvm::sys::path::parent_path(exe));
    llvm::sys::path::append(tool, "quant-tokenize");
    if (auto ec = llvm::sys::fs::createTemporaryFile("lq-calib", "npy", tokensFile))
      return emitError(fileLoc) << "cannot create a temporary file: "
                                << ec.message();
    SmallVector<StringRef> args = {tool, options.tokenizer,
                                   options.calibrationText, "-o", tokensFile};
    std::string err;
    if (llvm::sys::ExecuteAndWait(tool, args, std::nullopt, {}, 0, 0, &err) != 0)
      return emitError(fileLoc) << "tokenizing '" << options.calibrationText
                                << "' failed" << (err.empty() ? "" : ": ") << err;
    CompileOptions withTokens = options;
    withTokens.calibrationTokens = tokensFile.str().str();
    pipeline = getPipeline(withTokens);
  }
  llvm::scope_exit removeTokens([&] {
    if (!tokensFile.empty())
      llvm::sys::fs::remove(tokensFile);
  });
  // The textual pipeline carries its `builtin.module(...)` anchor, exactly
  // as --print-pipeline shows it.
  auto runPipeline = [&](StringRef text) -> LogicalResult {
    FailureOr<OpPassManager> parsed = parsePassPipeline(text);
    if (failed(parsed))
      return emitError(fileLoc) << "bad pipeline '" << text << "'";
    PassManager pm(&context);
    static_cast<OpPassManager &>(pm) = *parsed;
    return pm.run(*module);
  };
  if (options.emit == EmitStage::Quantized) {
    // Everything before lower-to-cpu.
    std::string quant = *pipeline;
    std::string lowerText = "," + lowerStage(options);
    StringRef lower = lowerText;
    quant.replace(quant.find(lower.str()), lower.size(), "");
    if (failed(runPipeline(quant)))
      return failure();
    return print(*module);
  }
  // The pipeline runs in two parts so the weights are counted after
  // quantization and before lowering; together they are exactly *pipeline.
  {
    std::string quant = *pipeline;
    std::string lowerText = "," + lowerStage(options);
    StringRef lower = lowerText;
    size_t at = quant.find(lower.str());
    if (at == std::string::npos) {
      if (failed(takeSignature(entry)) || failed(runPipeline(*pipeline)))
        return failure();
    } else {
      quant.replace(at, lower.size(), "");
      if (failed(runPipeline(quant)))
        return failure();
      auto f = module->lookupSymbol<func::FuncOp>("lq_model_graph");
      if (!f)
        return emitError(fileLoc) << "the pipeline removed the model's entry";
      if (failed(takeSignature(f)))
        return failure();
      *signature += weightLinesOf(f);
      if (failed(runPipeline(("builtin.module(" + lower.drop_front() + ")")
                                 .str())))
        return failure();
    }
  }
  log << "quant-compile: lowered (" << llvm::format("%.2f", since(start))
      << " s)\n";
  if (options.emit == EmitStage::Lowered && !jit)
    return print(*module);

  // 3. LLVM IR, optimized for the target.
  DialectRegistry translations;
  registerAllToLLVMIRTranslations(translations);
  context.appendDialectRegistry(translations);
  if (jit)
    return jitCompile(*module, options, *signature, numInputs, hasResults,
                      fileLoc, *jit, log, start);
  llvm::LLVMContext llvmContext;
  auto llvmModule = translateModuleToLLVMIR(*module, llvmContext);
  if (!llvmModule)
    return emitError(fileLoc) << "translation to LLVM IR failed";
  // Buffers from lq_rt's allocator (--lower-to-cpu with runtime kernels):
  // the runtime must release the model's outputs with its free, not libc's.
  if (llvmModule->getFunction("_mlir_memref_to_llvm_alloc") ||
      llvmModule->getFunction("_mlir_memref_to_llvm_aligned_alloc"))
    *signature += "alloc lq_rt\n";
  if (failed(addEntryPoints(*llvmModule, *signature, numInputs, hasResults,
                            fileLoc)))
    return failure();

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::string triple = llvm::sys::getDefaultTargetTriple();
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return emitError(fileLoc) << "no target for '" << triple << "': " << error;
  std::string cpu = options.cpu == "native" ? llvm::sys::getHostCPUName().str()
                                            : options.cpu;
  llvm::SubtargetFeatures features;
  if (options.cpu == "native")
    for (auto &f : llvm::sys::getHostCPUFeatures())
      features.AddFeature(f.first(), f.second);
  llvm::TargetOptions targetOptions;
  // Static constructors (the CUDA modules' mgpuModuleLoad calls) must go to
  // .init_array: glibc's loader does not run a shared object's .ctors.
  targetOptions.UseInitArray = true;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      llvm::Triple(triple), cpu, features.getString(), targetOptions,
      llvm::Reloc::PIC_, std::nullopt,
      options.optLevel >= 2 ? llvm::CodeGenOptLevel::Aggressive
                            : llvm::CodeGenOptLevel::Default));
  llvmModule->setDataLayout(tm->createDataLayout());
  llvmModule->setTargetTriple(llvm::Triple(triple));
  auto optimize = makeOptimizingTransformer(options.optLevel, 0, tm.get());
  if (auto err = optimize(llvmModule.get()))
    return emitError(fileLoc) << "LLVM optimization failed: "
                              << llvm::toString(std::move(err));
  log << "quant-compile: LLVM IR optimized (" << llvm::format("%.2f", since(start))
      << " s)\n";
  if (options.emit == EmitStage::LLVM) {
    std::string text;
    llvm::raw_string_ostream os(text);
    llvmModule->print(os, nullptr);
    return writeFile(options.output, text, fileLoc);
  }

  // 4. Object code.
  SmallString<128> objPath;
  if (options.emit == EmitStage::Object) {
    objPath = options.output;
  } else if (auto ec = llvm::sys::fs::createTemporaryFile("lq-model", "o",
                                                          objPath)) {
    return emitError(fileLoc) << "cannot create a temporary file: "
                              << ec.message();
  }
  {
    std::string objError;
    auto obj = openOutputFile(objPath, &objError);
    if (!obj)
      return emitError(fileLoc) << objError;
    llvm::legacy::PassManager codegen;
    if (tm->addPassesToEmitFile(codegen, obj->os(), nullptr,
                                llvm::CodeGenFileType::ObjectFile))
      return emitError(fileLoc) << "the target cannot emit object files";
    codegen.run(*llvmModule);
    obj->keep();
  }
  log << "quant-compile: object written (" << llvm::format("%.2f", since(start))
      << " s)\n";
  auto writeHeader = [&]() -> LogicalResult {
    if (!options.emitHeader || options.output == "-")
      return success();
    SmallString<128> header(options.output);
    llvm::sys::path::replace_extension(header, "h");
    return writeFile(header,
                     headerFor(llvm::sys::path::filename(options.output),
                               *signature),
                     fileLoc);
  };
  if (options.emit == EmitStage::Object)
    return writeHeader();

  // 5. Shared library: ld.lld links the object alone (malloc/free resolve
  // against the loading process).
  auto lld = llvm::sys::findProgramByName("ld.lld-22");
  if (!lld)
    lld = llvm::sys::findProgramByName("ld.lld");
  if (!lld) {
    llvm::sys::fs::remove(objPath);
    return emitError(fileLoc) << "cannot find ld.lld-22 to link '"
                              << options.output << "'";
  }
  SmallString<128> tmpSo(options.output);
  tmpSo += ".tmp";
  // Kernels called by the model resolve in liblq_rt.so, found next to the
  // model ($ORIGIN) or in lq's own lib/ directory.
  std::string exe = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
  SmallString<256> libDir(llvm::sys::path::parent_path(
      llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(libDir, "lib");
  std::string rpath = "$ORIGIN:" + libDir.str().str();
  std::string libFlag = "-L" + libDir.str().str();
  SmallVector<StringRef> args = {*lld,   "-shared", "-o",      tmpSo,
                                 objPath, libFlag,  "-llq_rt", "-rpath",
                                 rpath};
  // CUDA models also call liblq_rt_cuda (kernels and the mgpu* entry points
  // of the generated host code).
  if (options.target == "cuda") {
    SmallString<256> cudaLib(libDir);
    llvm::sys::path::append(cudaLib, "liblq_rt_cuda.so");
    if (!llvm::sys::fs::exists(cudaLib)) {
      llvm::sys::fs::remove(objPath);
      return emitError(fileLoc)
             << "--target=cuda needs " << cudaLib
             << ", which this build of lq does not have (built without a "
                "CUDA toolkit?)";
    }
    args.push_back("-llq_rt_cuda");
  }
  std::string linkError;
  int rc = llvm::sys::ExecuteAndWait(*lld, args, std::nullopt, {}, 0, 0,
                                     &linkError);
  llvm::sys::fs::remove(objPath);
  if (rc != 0) {
    llvm::sys::fs::remove(tmpSo);
    return emitError(fileLoc) << "linking '" << options.output
                              << "' failed: " << linkError;
  }
  if (auto ec = llvm::sys::fs::rename(tmpSo, options.output))
    return emitError(fileLoc) << "cannot write '" << options.output
                              << "': " << ec.message();
  log << "quant-compile: wrote " << options.output << " ("
      << llvm::format("%.2f", since(start)) << " s)\n";
  return writeHeader();
}

LogicalResult compile(const CompileOptions &options, MLIRContext &context,
                      llvm::raw_ostream &log) {
  return compileImpl(options, context, log, nullptr);
}

FailureOr<JitModel> compileJit(const CompileOptions &options,
                               MLIRContext &context, llvm::raw_ostream &log) {
  JitModel jit;
  if (failed(compileImpl(options, context, log, &jit)))
    return failure();
  return jit;
}

} // namespace lq
