//===- Ops.h - ONNX op translator registry -------------------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_LIB_IMPORT_ONNX_OPS_H
#define LQ_LIB_IMPORT_ONNX_OPS_H

#include "Importer.h"

namespace lq::onnx_import {

/// Standard ONNX ops: elementwise, shapes, data movement, reductions, matmul.
void registerCoreOps(llvm::StringMap<Translator> &table);
/// LLM building blocks and quantization ops of ai.onnx.
void registerLLMOps(llvm::StringMap<Translator> &table);
/// com.microsoft contrib ops.
void registerMicrosoftOps(llvm::StringMap<Translator> &table);
/// Fused LLM ops (RoPE, attention, GQA, integer matmuls, block-quantized
/// gather) of ai.onnx (`ai`) and com.microsoft (`ms`).
void registerFusedOps(llvm::StringMap<Translator> &ai,
                      llvm::StringMap<Translator> &ms);

/// Numpy-semantics matmul (see OpsCore.cpp).
mlir::FailureOr<mlir::Value> emitMatMul(Importer &im, mlir::Location loc,
                                        mlir::Value a, mlir::Value b);

} // namespace lq::onnx_import

#endif // LQ_LIB_IMPORT_ONNX_OPS_H
