//===- InitAll.cpp - Register every dialect and pass lq tools use -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq/InitAll.h"

#include "dialects/LQ/IR/LQDialect.h"
#include "passes/Conversion/Passes.h"
#include "passes/Passes.h"
#include "passes/Pipelines/Pipelines.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void lq::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::lq::LQDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary needs the GPU-to-LLVM-IR translations.
  mlir::registerAllGPUToLLVMIRTranslations(registry);
}

void lq::registerAllPasses() {
  mlir::registerAllPasses();
  mlir::lq::registerLQPasses();
  mlir::lq::registerLQConversionPasses();
  mlir::lq::registerPipelines();
}
