//===- WeightQuantizer.h - Codes, scales and IR for quantized weights -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// What every weight-quantization method (RTN, GPTQ, AWQ) shares: parsing a
// format spec into a #lq.scheme for a [N, K] weight, round-to-nearest group
// quantization with lq_rt's codecs, and building the constants plus the
// lq.dequantize that replace the float weight.
//
//===----------------------------------------------------------------------===//

#ifndef LQ_PASSES_QUANTIZE_WEIGHTQUANTIZER_H
#define LQ_PASSES_QUANTIZE_WEIGHTQUANTIZER_H

#include "dialects/LQ/IR/LQOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/Regex.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::lq {

/// A quantized [N, K] weight: one code per element (row-major) and per-group
/// scale data, groups running along K.
struct QuantizedWeight {
  int64_t rows = 0, cols = 0, groupSize = 0; // groups per row = cols / groupSize
  std::vector<uint8_t> codes;
  std::vector<float> scales;       // int, nf4, fp8: f32 per group
  std::vector<int32_t> zeroPoints; // asymmetric int
  std::vector<uint8_t> scaleCodes; // mx: E8M0, nvfp4: E4M3 per group
  float globalScale = 1.0f;        // nvfp4
  std::vector<uint16_t> codes16;   // bf16: one bfloat16 per element (codes empty)

  int64_t groupsPerRow() const { return cols / groupSize; }
};

/// The scheme for an [N, K] weight: `format` is int|nf4|fp8-e4m3|fp8-e5m2|
/// mxfp4|mxfp6-e2m3|mxfp6-e3m2|mxfp8-e4m3|mxfp8-e5m2|nvfp4|bf16 (bf16: per
/// tensor, `group` must be 0); `group` < 0
/// means per output channel (one group of K), 0 the format's default. Emits a diagnostic at `loc`
/// and fails on impossible combinations.
FailureOr<SchemeAttr> weightScheme(MLIRContext *ctx, Location loc,
                                   StringRef format, unsigned bits,
                                   int64_t group, bool symmetric, int64_t K);

/// Elements per group along K of `scheme` for a weight with K columns.
int64_t groupSizeOf(SchemeAttr scheme, int64_t K);

/// Round-to-nearest quantization of every group (lq_rt's reference codecs).
/// bf16: codes16 = the nearest-even bfloat16 of each weight (NaN kept) and
/// one scale of 1.0 (`clip` is ignored).
/// With `clip` (one ratio in (0, 1] per group, row-major like the scales),
/// each group's range [min(x, 0), max(x, 0)] is first shrunk by its ratio:
/// the values are clamped to [r·lo, r·hi] before the codec computes the
/// scale, trading the few largest weights' error for a finer step (AWQ's
/// clipping search). A ratio of 1 is plain RTN.
QuantizedWeight quantizeRTN(SchemeAttr scheme, ArrayRef<float> w, int64_t rows,
                            int64_t cols, ArrayRef<float> clip = {});

/// Quantizes one group with a fixed scale (GPTQ's inner loop): returns the
/// code and writes the dequantized value to `deq`. Not for bf16 (16-bit
/// codes; GPTQ and AWQ reject it).
uint8_t quantizeWithScale(SchemeAttr scheme, const QuantizedWeight &q,
                          int64_t row, int64_t group, float x, float &deq);

/// Dequantized values of `q` (for error measurements and tests).
std::vector<float> dequantize(SchemeAttr scheme, const QuantizedWeight &q);

/// Whether `v` reaches the function's return through reshapes only: the
/// result of the output projection (lm_head), which recipes treat apart.
bool feedsReturn(Value v);

/// Collects the lq.linear ops reading `v` (through reshapes) as their input;
/// false if anything else reads it. The linears of one norm output share
/// their per-channel scales in SmoothQuant and AWQ.
bool collectLinearUsers(Value v, SmallVectorImpl<LinearOp> &out);

/// The op's name as the importer recorded it (the ONNX node name in its
/// location), or "".
std::string opName(Operation *op);

/// Compiles the `keep` option of the weight-quantization passes (regexes of
/// op names left in float); emits an error at `anchor` naming a bad one.
FailureOr<std::vector<llvm::Regex>> compileKeep(Operation *anchor,
                                                ArrayRef<std::string> keep);

/// Whether `op`'s name matches one of `keep`.
bool isKept(Operation *op, ArrayRef<llvm::Regex> keep);

/// Builds the code/scale/zero-point constants and the lq.dequantize whose
/// f32 result replaces the float weight.
Value buildDequantize(OpBuilder &b, Location loc, SchemeAttr scheme,
                      const QuantizedWeight &q, Type floatType);

/// The function's weights as quant-eval reports them: {params, storage bits}
/// (bits per weight = storage bits / params), shared by quant-compile's
/// `params` / `weight_bytes` signature lines and --assign-mixed-precision's
/// budget, so the two always agree.
///
/// A weight is a constant that feeds a weight operand of an lq op (linear
/// weight and bias, embedding table, norm weight and bias, the quantized
/// input of lq.dequantize/lq.quantize), or a float or quantized constant of
/// rank >= 2 that no lq op uses (the weight of a matmul the raising did not
/// recognize). Scales, zero points and global scales add storage but no
/// parameters; rotary tables and masks are neither. Identical constants (an
/// importer's copy of a tied embedding) count once. Storage is numel *
/// element bits, so i4 and f4 weights count half a byte each.
std::pair<uint64_t, uint64_t> countModelWeights(func::FuncOp f);

} // namespace mlir::lq

#endif // LQ_PASSES_QUANTIZE_WEIGHTQUANTIZER_H
