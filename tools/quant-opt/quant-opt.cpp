//===- quant-opt.cpp - mlir-opt with lq's dialects and passes -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq/InitAll.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/PrettyStackTrace.h"

int main(int argc, char **argv) {
  llvm::setBugReportMsg("lq hit an internal error; please file an issue with "
                        "the input and the command line\n");
  mlir::DialectRegistry registry;
  lq::registerAllDialects(registry);
  lq::registerAllPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "lq optimizer: quantization passes and pipelines\n",
      registry));
}
