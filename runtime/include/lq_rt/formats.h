//===- formats.h - Bit layouts and reference codecs of lq's formats -*- C -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
///
/// \file
/// Bit layouts and bit-exact reference codecs of every number format lq can
/// quantize to. This is the single source of truth for the numerics: the
/// runtime kernels, the RTN weight quantizer and the compiler's constant
/// folder all call these functions, so a weight folded at compile time is
/// bit-identical to one quantized at run time.
///
/// The header is plain C (C99) so that it can be used from C, C++ and through
/// an FFI; the implementation is C++17 in src/core/formats.cpp.
///
/// Conventions shared by every function below:
///  - "Round to nearest even" (RNE) is exact: the input float is rounded once,
///    straight to the target format, independently of the FP environment's
///    rounding mode.
///  - A "code" is the raw bit pattern of one element, right-aligned in a
///    uint8_t (e.g. an FP4 code is 0x0..0xF). Decoders ignore bits above the
///    format's width.
///  - Group functions take and produce one unpacked code per byte; use
///    lq_pack_bits()/lq_unpack_bits() to convert to the storage layout.
///  - Arithmetic that a Python reference would do in float32 (x / scale,
///    code * scale) is done in float32 here too, so that numpy float32
///    references reproduce these results bit for bit.
///
//===----------------------------------------------------------------------===//

#ifndef LQ_RT_FORMATS_H
#define LQ_RT_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//===----------------------------------------------------------------------===//
// Format identifiers
//===----------------------------------------------------------------------===//

/// Quantized number formats. The compiler's MLIR attribute mirrors these
/// names and values exactly; never renumber, only append.
// clang-format off
typedef enum lq_format {
  LQ_FORMAT_INT = 0,        /* integer 2..8 bits, sym or asym */
  LQ_FORMAT_NF4 = 1,
  LQ_FORMAT_FP8_E4M3 = 2,
  LQ_FORMAT_FP8_E5M2 = 3,
  LQ_FORMAT_MXFP4 = 4,      /* f4E2M1 elements, E8M0 scale per 32 */
  LQ_FORMAT_MXFP6_E2M3 = 5,
  LQ_FORMAT_MXFP6_E3M2 = 6,
  LQ_FORMAT_MXFP8_E4M3 = 7,
  LQ_FORMAT_MXFP8_E5M2 = 8,
  LQ_FORMAT_NVFP4 = 9,      /* f4E2M1 elements, E4M3 scale per 16, plus one f32 tensor scale */
  LQ_FORMAT_BF16 = 10,      /* bfloat16 elements (16-bit codes), one per-tensor scale of 1 */
} lq_format_t;
// clang-format on

/// Width in bits of one stored element of \p f. For LQ_FORMAT_INT this is
/// \p int_bits (which is otherwise ignored). Returns 0 for an unknown format.
unsigned lq_format_element_bits(lq_format_t f, unsigned int_bits);

/// Block size fixed by the format's specification: 32 for the OCP MX
/// formats, 16 for NVFP4, 0 for formats whose group size is a free choice.
int64_t lq_format_required_group(lq_format_t f);

/// Lower-case stable name: "int", "nf4", "fp8_e4m3", "fp8_e5m2", "mxfp4",
/// "mxfp6_e2m3", "mxfp6_e3m2", "mxfp8_e4m3", "mxfp8_e5m2", "nvfp4", "bf16".
/// Returns NULL for a value outside the enum, so it doubles as a validity
/// check.
const char *lq_format_name(lq_format_t f);

/// Largest finite element value of a floating-point or codebook format
/// (448, 57344, 6, 7.5, 28, 1 for NF4, 0x1.fep127 for BF16). Returns 0 for
/// LQ_FORMAT_INT and
/// unknown formats.
float lq_format_element_max(lq_format_t f);

/// emax of the element type of an MX or NVFP4 format, i.e.
/// floor(log2(max finite element)): E2M1 2, E2M3 2, E3M2 4, E4M3 8, E5M2 15
/// (OCP MX v1.0 Table 1). Also accepted for the plain FP8 formats. Returns
/// INT32_MIN for formats without one.
int lq_format_element_emax(lq_format_t f);

//===----------------------------------------------------------------------===//
// Element codecs
//
// Encoders round to nearest, ties to even mantissa, and use the OCP
// "saturating" overflow mode: finite values above the largest finite value
// become +-max. Signs are kept, including on zero: -0.0 and negative values
// that round to zero encode as the negative-zero code (sign bit set), and
// the negative-zero code decodes to -0.0f. Every code except NaN codes
// therefore round-trips: encode(decode(c)) == c.
//===----------------------------------------------------------------------===//

/// OCP FP8 E4M3 ("E4M3FN"): S.EEEE.MMM, bias 7, no infinities, NaN is
/// S.1111.111 only. Max 448 (0x7E), min normal 2^-6 (0x08), min subnormal
/// 2^-9 (0x01). NaN input gives 0x7F (sign dropped); +-Inf and finite
/// overflow saturate to +-448.
uint8_t lq_fp8_e4m3fn_from_f32(float x);
/// Decodes an E4M3FN code; 0x7F and 0xFF decode to NaN.
float lq_fp8_e4m3fn_to_f32(uint8_t code);

/// OCP FP8 E5M2: S.EEEEE.MM, bias 15, IEEE-like with infinities (0x7C,
/// 0xFC) and NaNs (exponent 11111, mantissa != 0). Max finite 57344 (0x7B).
/// Conversion is OCP "satfinite": finite inputs above the max (including
/// those that would round up to infinity) saturate to +-57344, while +-Inf
/// inputs stay +-Inf and NaN gives the canonical NaN 0x7F (sign dropped).
/// Note this differs from the IEEE/ml_dtypes cast, which overflows to Inf.
uint8_t lq_fp8_e5m2_from_f32(float x);
/// Decodes an E5M2 code, including Inf and NaN codes.
float lq_fp8_e5m2_to_f32(uint8_t code);

/// OCP MX FP6 E2M3: S.EE.MMM, bias 1, no Inf/NaN. Max 7.5 (0x1F), min
/// subnormal 0.125. Formats without NaN have no good answer for a NaN
/// input (OCP leaves it implementation-defined); lq maps NaN to +0 (0x00)
/// so that a NaN cannot inflate a tensor's magnitude. +-Inf saturates to
/// +-max like any other overflow.
uint8_t lq_fp6_e2m3_from_f32(float x);
/// Decodes the low 6 bits of \p code as E2M3.
float lq_fp6_e2m3_to_f32(uint8_t code);

/// OCP MX FP6 E3M2: S.EEE.MM, bias 3, no Inf/NaN. Max 28 (0x1F), min
/// subnormal 0.0625. NaN -> +0, +-Inf -> +-28 (see lq_fp6_e2m3_from_f32).
uint8_t lq_fp6_e3m2_from_f32(float x);
/// Decodes the low 6 bits of \p code as E3M2.
float lq_fp6_e3m2_to_f32(uint8_t code);

/// OCP MX FP4 E2M1: S.EE.M, bias 1, no Inf/NaN. Values
/// +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}. NaN -> +0, +-Inf -> +-6.
uint8_t lq_fp4_e2m1_from_f32(float x);
/// Decodes the low 4 bits of \p code as E2M1.
float lq_fp4_e2m1_to_f32(uint8_t code);

/// OCP MX E8M0 scale: unsigned pure exponent, value 2^(code-127), code 255
/// is NaN; there is no zero and no sign.
///
/// This general-purpose encoder rounds |x| to the nearest power of two in
/// the linear domain: with |x| = m * 2^k, 1 <= m < 2, the result is 2^k
/// for m < 1.5 and 2^(k+1) for m >= 1.5 (ties go up). The sign is ignored;
/// zero and values below 2^-127 clamp to code 0 (2^-127); values above
/// 2^127 and +-Inf clamp to 254 (2^127); NaN gives 255. For the MX shared
/// scale, which rounds down instead, use lq_mx_shared_exponent().
uint8_t lq_e8m0_from_f32(float x);
/// 2^(code-127) as a float (2^-127 is a float subnormal, still exact);
/// code 255 decodes to NaN.
float lq_e8m0_to_f32(uint8_t code);

/// The OCP MX v1.0 (section 6.3) shared scale of a block whose largest
/// magnitude is \p amax, as an E8M0 code:
///   X = 2^(floor(log2(amax)) - elem_emax), clamped to [2^-127, 2^127].
/// floor(log2()) is computed exactly from the float's exponent (subnormal
/// amax included). Choices where the spec is silent: amax == 0 gives code 0
/// (2^-127; every element is zero whatever the scale, and this matches the
/// microxcaling reference, which clamps log2(0) to the bottom of the range);
/// a negative amax is treated as |amax|; NaN or Inf amax gives 255 (NaN
/// scale), so the whole block decodes to NaN. Elements of the block are then
/// x / X encoded with saturation, which may clip values in
/// (max_elem, 2^(elem_emax+1)) to max_elem, as the spec prescribes.
uint8_t lq_mx_shared_exponent(float amax, int elem_emax);

/// bfloat16 (S.8E.7M, the top half of an IEEE float32; the element of
/// LQ_FORMAT_BF16, 16-bit codes, so not a lq_encode_element format). The
/// encoder rounds to nearest, ties to even (the result of an exact
/// round-to-nearest-even of the 16 dropped bits), keeps signs and
/// infinities, overflows to +-Inf as IEEE rounding does (values at or above
/// 0x1.ffp127 in magnitude), and turns a NaN into a quiet NaN with its sign
/// (payload's top bits kept, quiet bit set), never into Inf. Decoding is
/// exact: the code shifted left by 16.
uint16_t lq_bf16_from_f32(float x);
float lq_bf16_to_f32(uint16_t code);

/// The 16 NF4 values of QLoRA, bit-identical to bitsandbytes' table.
extern const float lq_nf4_codebook[16];

/// Index (0..15) of the codebook value nearest to \p normalized (an input
/// already divided by the block absmax, so nominally in [-1, 1]; values
/// outside clamp to index 0 or 15). Distances are compared exactly (in
/// double); an input exactly halfway between two entries takes the lower
/// index. NaN gives 7 (the 0.0 entry). bitsandbytes' CUDA encoder compares
/// against decimal midpoint constants, so it can differ from this one for
/// inputs within about one float ulp of a midpoint.
uint8_t lq_nf4_from_f32(float normalized);
/// lq_nf4_codebook[code & 15].
float lq_nf4_to_f32(uint8_t code);

/// Encodes an element value (already divided by its scale) in the element
/// format of \p f: NF4 -> lq_nf4_from_f32, FP8/MXFP8 -> E4M3FN or E5M2,
/// MXFP6 -> E2M3 or E3M2, MXFP4/NVFP4 -> E2M1. LQ_FORMAT_INT and unknown
/// formats return 0 (use lq_int_quantize for integers).
uint8_t lq_encode_element(lq_format_t f, float scaled_value);
/// Inverse of lq_encode_element; returns NaN for LQ_FORMAT_INT and unknown
/// formats.
float lq_decode_element(lq_format_t f, uint8_t code);

//===----------------------------------------------------------------------===//
// Integers
//===----------------------------------------------------------------------===//

/// Smallest code of a \p bits-wide integer (2 <= bits <= 8):
/// -2^(bits-1) if \p is_signed, else 0.
int32_t lq_int_qmin(unsigned bits, int is_signed);
/// Largest code: 2^(bits-1)-1 if \p is_signed, else 2^bits-1.
int32_t lq_int_qmax(unsigned bits, int is_signed);

/// q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax).
/// x / scale is a float32 division (not a multiplication by 1/scale), so
/// the result matches numpy's np.round(np.float32(x) / np.float32(scale))
/// bit for bit. If \p scale is 0 or x / scale is NaN (x NaN, or both
/// infinite), the result is clamp(zero_point, qmin, qmax): a missing value
/// quantizes to the code of 0.0.
int32_t lq_int_quantize(float x, float scale, int32_t zero_point, unsigned bits,
                        int is_signed);
/// (float)(q - zero_point) * scale, in float32.
float lq_int_dequantize(int32_t q, float scale, int32_t zero_point);

/// Sign-extends the low \p bits (1..8) of a two's complement \p code.
int32_t lq_sign_extend(uint8_t code, unsigned bits);

//===----------------------------------------------------------------------===//
// Bit packing
//
// Sub-byte codes are stored as a little-endian bit stream: element i
// occupies bits [i*b, i*b+b) of the stream, where bit j of the stream is bit
// (j % 8) of byte j / 8. So for b = 4, element 2k is the LOW nibble of byte
// k and element 2k+1 the HIGH nibble (the ONNX int4 and onnxruntime
// MatMulNBits order); for b = 2, element 4k sits in bits 0..1 of byte k.
// Elements may straddle bytes for b = 3, 5, 6, 7. Unused bits of the last
// byte are zero.
//===----------------------------------------------------------------------===//

/// Number of bytes holding \p n packed \p bits-wide codes: ceil(n*bits/8).
size_t lq_packed_size(size_t n, unsigned bits);

/// Packs \p n codes (the low \p bits of each byte of \p codes; higher bits
/// are ignored, so signed values can be passed as truncated two's
/// complement) into lq_packed_size(n, bits) bytes at \p out, which are fully
/// overwritten. \p bits must be in 1..8; otherwise nothing is written.
void lq_pack_bits(const uint8_t *codes, size_t n, unsigned bits, uint8_t *out);
/// Inverse of lq_pack_bits: writes \p n codes, zero-extended, to \p out.
/// Use lq_sign_extend for signed integers. Does nothing if \p bits is not
/// in 1..8.
void lq_unpack_bits(const uint8_t *packed, size_t n, unsigned bits,
                    uint8_t *out);

//===----------------------------------------------------------------------===//
// Group (block) reference quantizers
//
// Each function quantizes one contiguous group of n floats and writes one
// unpacked code per element. Scales are never 0 or NaN for finite input: a
// group whose largest magnitude is 0 gets scale 1 (int, NF4, FP8) so that
// dequantization stays exact and division never produces NaN. NaN inputs
// are ignored when computing the absmax/min/max and then encode as the
// element codec says.
//===----------------------------------------------------------------------===//

/// Round-to-nearest integer quantization of one group, \p bits in 2..8.
///  - symmetric: scale = absmax / (2^(b-1)-1), zero_point = 0, codes are
///    two's complement truncated to b bits and restricted to the symmetric
///    range [-(2^(b-1)-1), 2^(b-1)-1] (the code -2^(b-1) is never produced).
///  - asymmetric: lo = min(min(x), 0), hi = max(max(x), 0),
///    scale = (hi - lo) / (2^b-1), zero_point = clamp(round_half_even(-lo /
///    scale), 0, 2^b-1), codes unsigned in [0, 2^b-1]. Including 0 in the
///    range makes 0.0 exactly representable (padding, ReLU outputs).
/// Scale arithmetic is float32; codes use lq_int_quantize. If the range is
/// 0 (all-zero group) the scale is 1 and every code is the zero point.
void lq_quantize_group_int(const float *x, size_t n, unsigned bits,
                           int symmetric, float *scale, int32_t *zero_point,
                           uint8_t *codes);
/// out[i] = lq_int_dequantize(q_i, scale, zero_point), with q_i the
/// sign-extended code if \p symmetric, else the unsigned code.
void lq_dequantize_group_int(const uint8_t *codes, size_t n, unsigned bits,
                             int symmetric, float scale, int32_t zero_point,
                             float *out);

/// NF4 with absmax scaling: scale = max|x| (1 if 0), codes =
/// lq_nf4_from_f32(x / scale) with a float32 division.
void lq_quantize_group_nf4(const float *x, size_t n, float *scale,
                           uint8_t *codes);
/// out[i] = lq_nf4_codebook[code] * scale.
void lq_dequantize_group_nf4(const uint8_t *codes, size_t n, float scale,
                             float *out);

/// OCP MX block: *scale_e8m0 = lq_mx_shared_exponent(max|x|, emax of the
/// element type); codes = element encode of x / 2^(scale-127). \p f must be
/// one of the five LQ_FORMAT_MX* formats; returns 0 on success and -1 (with
/// nothing written) otherwise. \p n is normally 32
/// (lq_format_required_group) but any n is accepted.
int lq_quantize_group_mx(lq_format_t f, const float *x, size_t n,
                         uint8_t *scale_e8m0, uint8_t *codes);
/// out[i] = decode(code) * 2^(scale-127) (NaN for scale 255). Returns -1 for
/// a non-MX format.
int lq_dequantize_group_mx(lq_format_t f, const uint8_t *codes, size_t n,
                           uint8_t scale_e8m0, float *out);

/// The NVFP4 per-tensor float32 scale: tensor_absmax / (448 * 6), so that
/// the largest block scale lands on E4M3's max. Returns 1 for a zero, NaN
/// or infinite absmax.
float lq_nvfp4_tensor_scale(float tensor_absmax);
/// NVFP4 block (normally n = 16) with a positive, finite \p tensor_scale:
///   *scale_e4m3 = E4M3FN(max|x| / 6 / tensor_scale)   (float32 ops)
///   d = E4M3FN_to_f32(*scale_e4m3) * tensor_scale       (float32)
///   codes[i] = E2M1(x[i] / d)                           (saturating)
/// If d is 0 (the block scale underflowed to zero), every code is +0.
void lq_quantize_group_nvfp4(const float *x, size_t n, float tensor_scale,
                             uint8_t *scale_e4m3, uint8_t *codes);
/// out[i] = E2M1_to_f32(code) * d, with d computed exactly as above.
void lq_dequantize_group_nvfp4(const uint8_t *codes, size_t n,
                               float tensor_scale, uint8_t scale_e4m3,
                               float *out);

/// FP8 with a float32 per-group scale: scale = max|x| / max_finite (448 for
/// E4M3, 57344 for E5M2; 1 if max|x| is 0), codes = encode(x / scale).
/// Accepts LQ_FORMAT_FP8_* and LQ_FORMAT_MXFP8_* (only the element type is
/// used); returns -1 with nothing written for other formats.
int lq_quantize_group_fp8(lq_format_t f, const float *x, size_t n, float *scale,
                          uint8_t *codes);
/// out[i] = decode(code) * scale. Returns -1 for a non-FP8 format.
int lq_dequantize_group_fp8(lq_format_t f, const uint8_t *codes, size_t n,
                            float scale, float *out);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // LQ_RT_FORMATS_H
