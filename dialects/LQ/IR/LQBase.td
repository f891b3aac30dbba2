//===- LQBase.td - The lq dialect and its type constraints -*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#ifndef LQ_BASE_TD
#define LQ_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def LQ_Dialect : Dialect {
  let name = "lq";
  let cppNamespace = "::mlir::lq";
  let summary = "Quantization formats and the graph-level building blocks of LLMs";
  let description = [{
    The `lq` dialect describes how tensors are quantized and the building blocks
    that quantization passes reason about (linear layers, norms, rotary
    embeddings, attention, embeddings).

    A quantized tensor is a builtin tensor of its *storage* element type (`i4`,
    `i8`, `f8E4M3FN`, `f4E2M1FN`, ...) whose encoding is a `#lq.scheme`.
    Scales, zero points and tensor scales are ordinary SSA tensors: they are
    data, not types, so a 4096x32 table of GPTQ scales never enters the
    context's uniqued type storage.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

class LQ_Op<string mnemonic, list<Trait> traits = []>
    : Op<LQ_Dialect, mnemonic, traits>;

class LQ_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<LQ_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

/// A ranked tensor whose encoding is a `#lq.scheme`.
def LQ_QuantizedTensor : Type<
    And<[CPred<"::llvm::isa<::mlir::RankedTensorType>($_self)">,
         CPred<"::llvm::isa_and_nonnull<::mlir::lq::SchemeAttr>("
               "::llvm::cast<::mlir::RankedTensorType>($_self).getEncoding())">]>,
    "ranked tensor with a #lq.scheme encoding",
    "::mlir::RankedTensorType">;

def LQ_FloatTensor : RankedTensorOf<[AnyFloat]>;
def LQ_IntTensor : RankedTensorOf<[AnySignlessInteger]>;

#endif // LQ_BASE_TD
