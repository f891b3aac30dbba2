//===- quant-compile.cpp - ONNX/MLIR to a shared library ----------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// quant-compile model.onnx|model.mlir [--recipe NAME | --pipeline '...']
//               [--emit=graph|quantized|lowered|llvm|obj|so] -o model.so
//
//===----------------------------------------------------------------------===//

#include "lq/Driver/Compile.h"
#include "lq/InitAll.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/PrettyStackTrace.h"
#include "llvm/Support/SourceMgr.h"

#include <optional>

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model>"));
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("file"));
static cl::opt<lq::EmitStage> emit(
    "emit", cl::desc("Stage to write"), cl::init(lq::EmitStage::Shared),
    cl::values(clEnumValN(lq::EmitStage::Graph, "graph", "imported graph IR"),
               clEnumValN(lq::EmitStage::Quantized, "quantized",
                          "after the recipe's passes"),
               clEnumValN(lq::EmitStage::Lowered, "lowered", "LLVM dialect"),
               clEnumValN(lq::EmitStage::LLVM, "llvm", "optimized LLVM IR"),
               clEnumValN(lq::EmitStage::Object, "obj", "object file"),
               clEnumValN(lq::EmitStage::Shared, "so", "shared library")));
static cl::opt<bool> objectOnly("c", cl::desc("Write an object file (--emit=obj)"));
static cl::opt<std::string> recipe("recipe", cl::desc("Quantization recipe"),
                                   cl::init("float"));
static cl::opt<std::string>
    pipeline("pipeline", cl::desc("quant-opt pipeline to run instead of the "
                                  "recipe's, e.g. 'func.func(...)'"));
static cl::opt<bool> printPipeline("print-pipeline",
                                   cl::desc("Print the pipeline and exit"));
static cl::opt<bool> listRecipesFlag("list-recipes",
                                     cl::desc("List the recipes and exit"));
static cl::opt<std::string> cpu("cpu", cl::desc("Target CPU"),
                                cl::init("native"));
static cl::list<std::string>
    inputShapes("input-shape", cl::desc("Pin an input's shape: name=1x128"));
static cl::list<std::string> dims("dim",
                                  cl::desc("Pin a symbolic dim: seq=128"));
static cl::opt<bool> quiet("q", cl::desc("No progress lines"));
static cl::opt<bool> listLinears(
    "list-linears",
    cl::desc("Print 'index name NxK' for every lq.linear and exit"));
static cl::opt<std::string>
    calibrationText("calibration-text",
                    cl::desc("Calibration text (recipes that calibrate)"));
static cl::opt<std::string> tokenizer("tokenizer",
                                      cl::desc("SentencePiece model"));
static cl::opt<std::string>
    calibrationTokens("calibration-tokens",
                      cl::desc("Calibration token ids (.npy) instead of text"));
static cl::opt<int64_t> kvCache(
    "kv-cache",
    cl::desc("Give a KV-cache step (e.g. model_kv.onnx imported with --dim "
             "past_seq=1) a runtime-managed cache of N tokens, for "
             "quant-run --generate / lq_generate"),
    cl::init(0));
static cl::opt<std::string> kvFormat(
    "kv-format",
    cl::desc("Store the KV cache quantized: int8, int4, fp8-e4m3 or fp8-e5m2 "
             "(--quantize-kv-cache after the recipe; on a model without a "
             "cache, keys and values are quantized in place)"),
    cl::init(""));
static cl::opt<std::string>
    target("target",
           cl::desc("cpu (default) or cuda (--lower-to-cuda; the model links "
                    "liblq_rt_cuda and runs on an NVIDIA GPU)"),
           cl::init("cpu"));
static cl::opt<std::string>
    cudaChip("cuda-chip",
             cl::desc("GPU architecture for --target=cuda (sm_80, sm_89, "
                      "sm_90a, sm_100a, ...)"),
             cl::init("sm_90a"));
static cl::opt<bool> cudaResidentWeights(
    "cuda-resident-weights",
    cl::desc("--target=cuda: copy the weights to the device once and keep "
             "them there (default); false copies them at every call, the "
             "baseline bench/gpu-e2e.sh times against"),
    cl::init(true), cl::Hidden);
static cl::opt<bool> cudaStreamOrdered(
    "cuda-stream-ordered",
    cl::desc("--target=cuda: enqueue a call's device steps in order on one "
             "stream and wait only for the results (not yet run on a GPU; "
             "bench/gpu-e2e.sh compares it with the default)"),
    cl::init(false), cl::Hidden);
static cl::opt<bool> cudaDeviceKvCache(
    "cuda-device-kv-cache",
    cl::desc("--target=cuda with --kv-cache: the caches are updated in place "
             "on the device and stay there across steps (never copied back "
             "to the host; not yet run on a GPU)"),
    cl::init(false), cl::Hidden);
static cl::opt<std::string> rotations(
    "rotations",
    cl::desc("Learned rotations for w4a4kv4-spinquant: a directory with "
             "R1.npy and R2.npy, or FILE.npz / FILE.safetensors with tensors "
             "R1 and R2 (tools/spinquant/learn.py); none or `learn`: learned "
             "in the pass on the calibration data"),
    cl::init(""));
static cl::opt<int64_t> calibrationSamples(
    "calibration-samples", cl::desc("Calibration windows"), cl::init(32));

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  llvm::setBugReportMsg("lq hit an internal error; please file an issue with "
                        "the input and the command line\n");
  mlir::DialectRegistry registry;
  lq::registerAllDialects(registry);
  lq::registerAllPasses();
  cl::ParseCommandLineOptions(argc, argv, "lq model compiler\n");

  if (listRecipesFlag) {
    for (auto [name, help] : lq::listRecipes())
      outs() << name << "\t" << help << "\n";
    return 0;
  }
  lq::CompileOptions options;
  options.recipe = recipe;
  options.pipeline = pipeline;
  options.cpu = cpu;
  options.calibrationText = calibrationText;
  options.tokenizer = tokenizer;
  options.calibrationTokens = calibrationTokens;
  options.calibrationSamples = calibrationSamples;
  options.listLinears = listLinears;
  options.target = target;
  options.cudaChip = cudaChip;
  options.cudaResidentWeights = cudaResidentWeights;
  options.cudaStreamOrdered = cudaStreamOrdered;
  options.cudaDeviceKvCache = cudaDeviceKvCache;
  options.kvCache = kvCache;
  options.kvFormat = kvFormat;
  options.rotations = rotations;
  options.emit = objectOnly ? lq::EmitStage::Object : emit.getValue();
  // Checked before anything is imported (and before --print-pipeline, whose
  // only other failure is an unknown recipe).
  if (options.target != "cpu" && options.target != "cuda") {
    errs() << "error: unknown target '" << options.target << "' (cpu or cuda)\n";
    return 1;
  }
  if (options.kvCache < 0) {
    errs() << "error: --kv-cache takes a number of tokens > 0, got "
           << options.kvCache << "\n";
    return 1;
  }
  if (printPipeline) {
    auto p = lq::getPipeline(options);
    if (failed(p)) {
      errs() << "error: unknown recipe '" << recipe << "'\n";
      return 1;
    }
    outs() << *p << "\n";
    return 0;
  }
  if (inputFile.empty()) {
    errs() << "error: no input model (see --help)\n";
    return 1;
  }
  options.input = inputFile;
  if (outputFile.empty())
    outputFile = options.emit < lq::EmitStage::Object ? "-" : "model.so";
  options.output = outputFile;
  if (!lq::parseShapeFlags(std::vector<std::string>(inputShapes.begin(), inputShapes.end()),
                           std::vector<std::string>(dims.begin(), dims.end()), options.import,
                           llvm::errs()))
    return 1;

  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  // ONNX locations are model:node-number:1, not text positions: print them
  // without quoting a "source line" (of a binary file). MLIR inputs keep
  // their source lines.
  bool onnx = StringRef(inputFile).ends_with(".onnx") ||
              StringRef(inputFile).ends_with(".onnxtext");
  std::optional<mlir::ScopedDiagnosticHandler> plain;
  if (onnx)
    plain.emplace(&context, [&](mlir::Diagnostic &diag) {
      handler.emitDiagnostic(diag.getLocation(), diag.str(), diag.getSeverity(),
                             /*displaySourceLine=*/false);
      for (mlir::Diagnostic &note : diag.getNotes())
        handler.emitDiagnostic(note.getLocation(), note.str(),
                               note.getSeverity(), /*displaySourceLine=*/false);
      return mlir::success();
    });
  return failed(lq::compile(options, context, quiet ? llvm::nulls() : llvm::errs()))
             ? 1
             : 0;
}
