//===- quant-import.cpp - ONNX to MLIR ----------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// quant-import model.onnx [-o model.mlir] [--input-shape input_ids=1x128]
//              [--elide-weights] [--stats] [--no-raise]
//
// Writes nothing unless the whole import succeeds.
//
//===----------------------------------------------------------------------===//

#include "lq/Import/ONNX.h"
#include "lq/InitAll.h"
#include "passes/Passes.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/PrettyStackTrace.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "mlir/IR/Diagnostics.h"

#include <algorithm>

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.onnx>"),
                                      cl::Required);
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"));
static cl::list<std::string>
    inputShapes("input-shape",
                cl::desc("Pin an input's shape: name=1x128 ('?' keeps a dim "
                         "dynamic); repeatable"),
                cl::value_desc("name=DxD..."));
static cl::list<std::string>
    dimParams("dim", cl::desc("Pin a symbolic dimension everywhere: seq=128"),
              cl::value_desc("name=N"));
static cl::opt<bool> elideWeights("elide-weights",
                                  cl::desc("Print weights as placeholders"));
// `--stats` is LLVM's own flag for pass statistics; the tool renames the
// user's `--stats` to this before parsing.
static cl::opt<bool> printStats("import-stats",
                                cl::desc("Print a summary to stderr (--stats)"));
static cl::opt<bool> noRaise("no-raise",
                             cl::desc("Skip --lq-raise after import"));
static cl::opt<bool> noPrint(
    "no-print", cl::desc("Import (and raise) but print nothing: for timing "
                         "the importer without the printer's hex encoding"));

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  llvm::setBugReportMsg("lq hit an internal error; please file an issue with "
                        "the input and the command line\n");
  SmallVector<const char *> args(argv, argv + argc);
  for (const char *&a : args)
    if (StringRef(a) == "--stats" || StringRef(a) == "-stats")
      a = "--import-stats";
  cl::ParseCommandLineOptions(args.size(), args.data(), "lq ONNX importer\n");

  lq::ONNXImportOptions options;
  if (!lq::parseShapeFlags(std::vector<std::string>(inputShapes.begin(), inputShapes.end()),
                           std::vector<std::string>(dimParams.begin(), dimParams.end()), options,
                           errs()))
    return 1;

  mlir::DialectRegistry registry;
  lq::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  // Importer locations are model:node-number:1, not text positions: print
  // them without quoting a "source line" (of a binary file, or the wrong
  // line of a text one).
  mlir::ScopedDiagnosticHandler plain(&context, [&](mlir::Diagnostic &diag) {
    handler.emitDiagnostic(diag.getLocation(), diag.str(), diag.getSeverity(),
                           /*displaySourceLine=*/false);
    for (mlir::Diagnostic &note : diag.getNotes())
      handler.emitDiagnostic(note.getLocation(), note.str(),
                             note.getSeverity(), /*displaySourceLine=*/false);
    return mlir::success();
  });

  lq::ONNXImportStats stats;
  auto module = lq::importONNXFile(inputFile, &context, options, &stats);
  if (failed(module))
    return 1;

  if (!noRaise) {
    mlir::PassManager pm(&context);
    pm.addPass(mlir::createCanonicalizerPass());
    pm.addNestedPass<mlir::func::FuncOp>(mlir::lq::createLQRaisePass());
    pm.addPass(mlir::createCanonicalizerPass());
    pm.addPass(mlir::createCSEPass());
    if (failed(pm.run(**module)))
      return 1;
  }

  if (printStats) {
    errs() << "model: " << inputFile << "\n  ir_version " << stats.irVersion
           << ", opsets:";
    for (auto &[domain, version] : stats.opsets)
      errs() << " " << domain << "=" << version;
    errs() << "\n  nodes " << stats.numNodes << " (" << stats.numFoldedNodes
           << " folded at import), parameters " << stats.numParameters
           << "\n  ops:";
    SmallVector<std::pair<std::string, int64_t>> counts;
    for (auto &kv : stats.opCounts)
      counts.push_back({kv.getKey().str(), kv.getValue()});
    std::sort(counts.begin(), counts.end(), [](auto &a, auto &b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (auto &[op, n] : counts)
      errs() << " " << op << "=" << n;
    errs() << "\n  lq ops after import:";
    llvm::StringMap<int64_t> lqCounts;
    (*module)->walk([&](mlir::Operation *op) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "lq")
        ++lqCounts[op->getName().getStringRef()];
    });
    // Sorted by name: stable output for tests and diffs.
    SmallVector<StringRef> lqNames;
    for (auto &kv : lqCounts)
      lqNames.push_back(kv.getKey());
    llvm::sort(lqNames);
    for (StringRef name : lqNames)
      errs() << " " << name << "=" << lqCounts.lookup(name);
    errs() << "\n";
  }

  if (noPrint)
    return 0;
  std::string error;
  auto output = mlir::openOutputFile(outputFile, &error);
  if (!output) {
    errs() << "error: " << error << "\n";
    return 1;
  }
  mlir::OpPrintingFlags flags;
  if (elideWeights)
    flags.elideLargeElementsAttrs(16).elideLargeResourceString(64);
  (*module)->print(output->os(), flags);
  output->keep();
  return 0;
}
