//===- formats.cpp - Reference codecs of lq's quantized formats -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
///
/// \file
/// Implementation of lq_rt/formats.h. Every minifloat shares one generic
/// codec parameterised by its bit layout; rounding is done in double, where
/// scaling a float by a power of two and the mantissa rounding are exact, so
/// the result does not depend on the FP environment's rounding mode.
///
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace {

/// How a minifloat spends its top exponent code.
enum class Special {
  None,    ///< All codes finite (OCP FP6, FP4).
  NanOnly, ///< Only S.1..1.1..1 is NaN, no Inf (E4M3FN).
  Ieee,    ///< Top exponent is Inf (mantissa 0) or NaN (E5M2).
};

struct MiniFloat {
  int ebits;
  int mbits;
  int bias;
  Special special;
  /// Code of the largest finite positive value.
  uint8_t maxCode;
  /// Code returned for a NaN input (0 for formats without NaN).
  uint8_t nanCode;
};

constexpr MiniFloat kE4M3FN{4, 3, 7, Special::NanOnly, 0x7E, 0x7F};
constexpr MiniFloat kE5M2{5, 2, 15, Special::Ieee, 0x7B, 0x7F};
constexpr MiniFloat kE2M3{2, 3, 1, Special::None, 0x1F, 0x00};
constexpr MiniFloat kE3M2{3, 2, 3, Special::None, 0x1F, 0x00};
constexpr MiniFloat kE2M1{2, 1, 1, Special::None, 0x07, 0x00};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// Round half to even of a double, independent of the rounding mode.
double roundHalfEven(double v) {
  double f = std::floor(v);
  double d = v - f; // Exact: fractional bits of v.
  if (d < 0.5)
    return f;
  if (d > 0.5)
    return f + 1.0;
  // A tie: round to the even neighbour. Doubles of magnitude >= 2^53 are
  // even integers; below that the integer conversion is exact (and much
  // cheaper than fmod, which GPTQ's per-element quantization used to spend
  // a few percent of its time in).
  const bool odd = std::fabs(f) < 9007199254740992.0 &&
                   (static_cast<int64_t>(f) & 1) != 0;
  return odd ? f + 1.0 : f;
}

float decodeMini(const MiniFloat &fmt, uint8_t code) {
  const unsigned width = 1 + fmt.ebits + fmt.mbits;
  code &= static_cast<uint8_t>((1u << width) - 1u);
  const bool neg = (code >> (width - 1)) & 1u;
  const unsigned emask = (1u << fmt.ebits) - 1u;
  const unsigned mmask = (1u << fmt.mbits) - 1u;
  const unsigned e = (code >> fmt.mbits) & emask;
  const unsigned m = code & mmask;
  double mag;
  if (fmt.special == Special::Ieee && e == emask)
    return m == 0 ? (neg ? -INFINITY : INFINITY) : kNaN;
  if (fmt.special == Special::NanOnly && e == emask && m == mmask)
    return kNaN;
  if (e == 0)
    mag = std::ldexp(static_cast<double>(m), 1 - fmt.bias - fmt.mbits);
  else
    mag = std::ldexp(static_cast<double>(m | (1u << fmt.mbits)),
                     static_cast<int>(e) - fmt.bias - fmt.mbits);
  // All minifloat values are exact in float.
  return static_cast<float>(neg ? -mag : mag);
}

uint8_t encodeMini(const MiniFloat &fmt, double v) {
  const unsigned width = 1 + fmt.ebits + fmt.mbits;
  if (std::isnan(v))
    return fmt.nanCode;
  const uint8_t sign = std::signbit(v) ? static_cast<uint8_t>(1u << (width - 1))
                                       : static_cast<uint8_t>(0);
  const double a = std::fabs(v);
  if (std::isinf(a)) {
    if (fmt.special == Special::Ieee)
      return sign | static_cast<uint8_t>(((1u << fmt.ebits) - 1u) << fmt.mbits);
    return sign | fmt.maxCode;
  }
  const double maxFinite = std::fabs(decodeMini(fmt, fmt.maxCode));
  if (a >= maxFinite)
    return sign | fmt.maxCode; // Saturating conversion.
  if (a == 0.0)
    return sign;

  // Quantum (ulp) of the binade holding a; subnormals share the quantum of
  // the smallest normal binade.
  const int minExp = 1 - fmt.bias;
  int e2;
  (void)std::frexp(a, &e2); // a = f * 2^e2, f in [0.5, 1).
  int exp = e2 - 1;
  if (exp < minExp)
    exp = minExp;
  // a / 2^(exp - mbits) is exact in double and below 2^(mbits+1).
  double q = roundHalfEven(std::ldexp(a, fmt.mbits - exp));
  if (q == 0.0)
    return sign;
  const double implicitOne = std::ldexp(1.0, fmt.mbits);
  if (q >= 2.0 * implicitOne) { // Mantissa carried into the next binade.
    q = implicitOne;
    ++exp;
  }
  // No overflow check needed here: a < maxFinite, and maxFinite is itself on
  // the grid, so a cannot round past it.
  unsigned efield, mfield;
  if (q < implicitOne) { // Subnormal (exp == minExp).
    efield = 0;
    mfield = static_cast<unsigned>(q);
  } else {
    efield = static_cast<unsigned>(exp + fmt.bias);
    mfield = static_cast<unsigned>(q - implicitOne);
  }
  return sign | static_cast<uint8_t>((efield << fmt.mbits) | mfield);
}

const MiniFloat *elementMini(lq_format_t f) {
  switch (f) {
  case LQ_FORMAT_FP8_E4M3:
  case LQ_FORMAT_MXFP8_E4M3:
    return &kE4M3FN;
  case LQ_FORMAT_FP8_E5M2:
  case LQ_FORMAT_MXFP8_E5M2:
    return &kE5M2;
  case LQ_FORMAT_MXFP6_E2M3:
    return &kE2M3;
  case LQ_FORMAT_MXFP6_E3M2:
    return &kE3M2;
  case LQ_FORMAT_MXFP4:
  case LQ_FORMAT_NVFP4:
    return &kE2M1;
  default:
    return nullptr;
  }
}

bool isMx(lq_format_t f) {
  return f == LQ_FORMAT_MXFP4 || f == LQ_FORMAT_MXFP6_E2M3 ||
         f == LQ_FORMAT_MXFP6_E3M2 || f == LQ_FORMAT_MXFP8_E4M3 ||
         f == LQ_FORMAT_MXFP8_E5M2;
}

bool isFp8(lq_format_t f) {
  return f == LQ_FORMAT_FP8_E4M3 || f == LQ_FORMAT_FP8_E5M2 ||
         f == LQ_FORMAT_MXFP8_E4M3 || f == LQ_FORMAT_MXFP8_E5M2;
}

/// max|x| over the non-NaN elements (fmax ignores a NaN operand).
float absMax(const float *x, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i)
    m = std::fmax(m, std::fabs(x[i]));
  return m;
}

/// floor(log2(a)) for finite a > 0, exact for subnormals too.
int floorLog2(double a) {
  int e;
  (void)std::frexp(a, &e);
  return e - 1;
}

int32_t quantizeIntRange(float x, float scale, int32_t zp, int32_t qmin,
                         int32_t qmax) {
  double q;
  if (scale == 0.0f) {
    q = zp;
  } else {
    // float32 division on purpose: matches np.round(x / scale) in float32.
    const float v = x / scale;
    if (std::isnan(v))
      q = zp;
    else if (std::isinf(v))
      q = v > 0 ? qmax : qmin;
    else
      q = roundHalfEven(static_cast<double>(v)) + zp;
  }
  if (q < qmin)
    q = qmin;
  if (q > qmax)
    q = qmax;
  return static_cast<int32_t>(q);
}

} // namespace

extern "C" {

//===----------------------------------------------------------------------===//
// Format identifiers
//===----------------------------------------------------------------------===//

unsigned lq_format_element_bits(lq_format_t f, unsigned int_bits) {
  switch (f) {
  case LQ_FORMAT_INT:
    return int_bits;
  case LQ_FORMAT_NF4:
  case LQ_FORMAT_MXFP4:
  case LQ_FORMAT_NVFP4:
    return 4;
  case LQ_FORMAT_MXFP6_E2M3:
  case LQ_FORMAT_MXFP6_E3M2:
    return 6;
  case LQ_FORMAT_FP8_E4M3:
  case LQ_FORMAT_FP8_E5M2:
  case LQ_FORMAT_MXFP8_E4M3:
  case LQ_FORMAT_MXFP8_E5M2:
    return 8;
  case LQ_FORMAT_BF16:
    return 16;
  }
  return 0;
}

int64_t lq_format_required_group(lq_format_t f) {
  if (isMx(f))
    return 32;
  if (f == LQ_FORMAT_NVFP4)
    return 16;
  return 0;
}

const char *lq_format_name(lq_format_t f) {
  switch (f) {
  case LQ_FORMAT_INT:
    return "int";
  case LQ_FORMAT_NF4:
    return "nf4";
  case LQ_FORMAT_FP8_E4M3:
    return "fp8_e4m3";
  case LQ_FORMAT_FP8_E5M2:
    return "fp8_e5m2";
  case LQ_FORMAT_MXFP4:
    return "mxfp4";
  case LQ_FORMAT_MXFP6_E2M3:
    return "mxfp6_e2m3";
  case LQ_FORMAT_MXFP6_E3M2:
    return "mxfp6_e3m2";
  case LQ_FORMAT_MXFP8_E4M3:
    return "mxfp8_e4m3";
  case LQ_FORMAT_MXFP8_E5M2:
    return "mxfp8_e5m2";
  case LQ_FORMAT_NVFP4:
    return "nvfp4";
  case LQ_FORMAT_BF16:
    return "bf16";
  }
  return nullptr;
}

float lq_format_element_max(lq_format_t f) {
  if (f == LQ_FORMAT_NF4)
    return 1.0f;
  if (f == LQ_FORMAT_BF16)
    return lq_bf16_to_f32(0x7F7F);
  const MiniFloat *m = elementMini(f);
  return m ? decodeMini(*m, m->maxCode) : 0.0f;
}

int lq_format_element_emax(lq_format_t f) {
  const MiniFloat *m = elementMini(f);
  if (!m)
    return INT32_MIN;
  return floorLog2(decodeMini(*m, m->maxCode));
}

//===----------------------------------------------------------------------===//
// Element codecs
//===----------------------------------------------------------------------===//

uint8_t lq_fp8_e4m3fn_from_f32(float x) { return encodeMini(kE4M3FN, x); }
float lq_fp8_e4m3fn_to_f32(uint8_t code) { return decodeMini(kE4M3FN, code); }
uint8_t lq_fp8_e5m2_from_f32(float x) { return encodeMini(kE5M2, x); }
float lq_fp8_e5m2_to_f32(uint8_t code) { return decodeMini(kE5M2, code); }
uint8_t lq_fp6_e2m3_from_f32(float x) { return encodeMini(kE2M3, x); }
float lq_fp6_e2m3_to_f32(uint8_t code) { return decodeMini(kE2M3, code); }
uint8_t lq_fp6_e3m2_from_f32(float x) { return encodeMini(kE3M2, x); }
float lq_fp6_e3m2_to_f32(uint8_t code) { return decodeMini(kE3M2, code); }
uint8_t lq_fp4_e2m1_from_f32(float x) { return encodeMini(kE2M1, x); }
float lq_fp4_e2m1_to_f32(uint8_t code) { return decodeMini(kE2M1, code); }

// bfloat16: RNE on the bit pattern. Adding 0x7FFF + (bit 16) to the
// float's bits rounds the low 16 bits half to even (a carry into the
// exponent is the correct rounding up, up to Inf); NaN is handled apart so
// that the addition cannot carry a NaN payload into Inf or the sign.
uint16_t lq_bf16_from_f32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u)
    return uint16_t((u >> 16) | 0x0040u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float lq_bf16_to_f32(uint16_t code) {
  const uint32_t u = uint32_t(code) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

uint8_t lq_e8m0_from_f32(float x) {
  if (std::isnan(x))
    return 255;
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0.0)
    return 0;
  if (std::isinf(a))
    return 254;
  int e2;
  const double f = std::frexp(a, &e2); // a = f * 2^e2, f in [0.5, 1).
  int k = e2 - 1;                      // a = (2f) * 2^k, 2f in [1, 2).
  if (2.0 * f >= 1.5)
    ++k; // Linear-domain nearest, ties up.
  if (k < -127)
    k = -127;
  if (k > 127)
    k = 127;
  return static_cast<uint8_t>(k + 127);
}

float lq_e8m0_to_f32(uint8_t code) {
  if (code == 255)
    return kNaN;
  return std::ldexp(1.0f, static_cast<int>(code) - 127);
}

uint8_t lq_mx_shared_exponent(float amax, int elem_emax) {
  if (std::isnan(amax) || std::isinf(amax))
    return 255;
  const double a = std::fabs(static_cast<double>(amax));
  if (a == 0.0)
    return 0;
  // int64 so that an absurd elem_emax cannot overflow before the clamp.
  int64_t e = static_cast<int64_t>(floorLog2(a)) - elem_emax;
  if (e < -127)
    e = -127;
  if (e > 127)
    e = 127;
  return static_cast<uint8_t>(e + 127);
}

const float lq_nf4_codebook[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

uint8_t lq_nf4_from_f32(float normalized) {
  if (std::isnan(normalized))
    return 7;
  const double v = normalized;
  uint8_t best = 0;
  double bestDist = std::fabs(v - static_cast<double>(lq_nf4_codebook[0]));
  for (uint8_t i = 1; i < 16; ++i) {
    const double d = std::fabs(v - static_cast<double>(lq_nf4_codebook[i]));
    if (d < bestDist) { // Strict: a tie keeps the lower index.
      bestDist = d;
      best = i;
    }
  }
  return best;
}

float lq_nf4_to_f32(uint8_t code) { return lq_nf4_codebook[code & 15u]; }

uint8_t lq_encode_element(lq_format_t f, float scaled_value) {
  if (f == LQ_FORMAT_NF4)
    return lq_nf4_from_f32(scaled_value);
  const MiniFloat *m = elementMini(f);
  return m ? encodeMini(*m, scaled_value) : 0;
}

float lq_decode_element(lq_format_t f, uint8_t code) {
  if (f == LQ_FORMAT_NF4)
    return lq_nf4_to_f32(code);
  const MiniFloat *m = elementMini(f);
  return m ? decodeMini(*m, code) : kNaN;
}

//===----------------------------------------------------------------------===//
// Integers
//===----------------------------------------------------------------------===//

int32_t lq_int_qmin(unsigned bits, int is_signed) {
  return is_signed ? -(INT32_C(1) << (bits - 1)) : 0;
}

int32_t lq_int_qmax(unsigned bits, int is_signed) {
  return is_signed ? (INT32_C(1) << (bits - 1)) - 1 : (INT32_C(1) << bits) - 1;
}

int32_t lq_int_quantize(float x, float scale, int32_t zero_point, unsigned bits,
                        int is_signed) {
  return quantizeIntRange(x, scale, zero_point, lq_int_qmin(bits, is_signed),
                          lq_int_qmax(bits, is_signed));
}

float lq_int_dequantize(int32_t q, float scale, int32_t zero_point) {
  return static_cast<float>(q - zero_point) * scale;
}

int32_t lq_sign_extend(uint8_t code, unsigned bits) {
  const uint32_t mask = (1u << bits) - 1u;
  const uint32_t signBit = 1u << (bits - 1);
  const uint32_t v = code & mask;
  return static_cast<int32_t>(v ^ signBit) - static_cast<int32_t>(signBit);
}

//===----------------------------------------------------------------------===//
// Bit packing
//===----------------------------------------------------------------------===//

size_t lq_packed_size(size_t n, unsigned bits) {
  // Split to avoid overflowing n * bits for huge n.
  return (n / 8) * bits + ((n % 8) * bits + 7) / 8;
}

void lq_pack_bits(const uint8_t *codes, size_t n, unsigned bits, uint8_t *out) {
  if (bits < 1 || bits > 8)
    return;
  std::memset(out, 0, lq_packed_size(n, bits));
  const unsigned mask = (1u << bits) - 1u;
  for (size_t i = 0; i < n; ++i) {
    const size_t bit = i * bits;
    // Two bytes always suffice for an element of at most 8 bits.
    const unsigned v = (codes[i] & mask) << (bit % 8);
    out[bit / 8] |= static_cast<uint8_t>(v);
    if ((bit % 8) + bits > 8)
      out[bit / 8 + 1] |= static_cast<uint8_t>(v >> 8);
  }
}

void lq_unpack_bits(const uint8_t *packed, size_t n, unsigned bits,
                    uint8_t *out) {
  if (bits < 1 || bits > 8)
    return;
  const unsigned mask = (1u << bits) - 1u;
  for (size_t i = 0; i < n; ++i) {
    const size_t bit = i * bits;
    unsigned v = packed[bit / 8];
    if ((bit % 8) + bits > 8)
      v |= static_cast<unsigned>(packed[bit / 8 + 1]) << 8;
    out[i] = static_cast<uint8_t>((v >> (bit % 8)) & mask);
  }
}

//===----------------------------------------------------------------------===//
// Group quantizers
//===----------------------------------------------------------------------===//

void lq_quantize_group_int(const float *x, size_t n, unsigned bits,
                           int symmetric, float *scale, int32_t *zero_point,
                           uint8_t *codes) {
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1u);
  if (symmetric) {
    const int32_t qmax = lq_int_qmax(bits, 1);
    float s = absMax(x, n) / static_cast<float>(qmax);
    if (!(s > 0.0f))
      s = 1.0f; // All-zero group: scale 1 keeps x / scale free of NaN.
    *scale = s;
    *zero_point = 0;
    for (size_t i = 0; i < n; ++i)
      codes[i] =
          static_cast<uint8_t>(quantizeIntRange(x[i], s, 0, -qmax, qmax)) &
          mask;
    return;
  }
  const int32_t qmax = lq_int_qmax(bits, 0);
  float lo = 0.0f, hi = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
  }
  float s = (hi - lo) / static_cast<float>(qmax);
  int32_t zp = 0;
  if (!(s > 0.0f)) {
    s = 1.0f;
  } else {
    const float z = -lo / s;
    zp = static_cast<int32_t>(
        std::fmin(std::fmax(roundHalfEven(z), 0.0), static_cast<double>(qmax)));
  }
  *scale = s;
  *zero_point = zp;
  for (size_t i = 0; i < n; ++i)
    codes[i] = static_cast<uint8_t>(quantizeIntRange(x[i], s, zp, 0, qmax));
}

void lq_dequantize_group_int(const uint8_t *codes, size_t n, unsigned bits,
                             int symmetric, float scale, int32_t zero_point,
                             float *out) {
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1u);
  for (size_t i = 0; i < n; ++i) {
    const int32_t q = symmetric ? lq_sign_extend(codes[i], bits)
                                : static_cast<int32_t>(codes[i] & mask);
    out[i] = lq_int_dequantize(q, scale, zero_point);
  }
}

void lq_quantize_group_nf4(const float *x, size_t n, float *scale,
                           uint8_t *codes) {
  float s = absMax(x, n);
  if (s == 0.0f)
    s = 1.0f;
  *scale = s;
  for (size_t i = 0; i < n; ++i)
    codes[i] = lq_nf4_from_f32(x[i] / s);
}

void lq_dequantize_group_nf4(const uint8_t *codes, size_t n, float scale,
                             float *out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = lq_nf4_to_f32(codes[i]) * scale;
}

int lq_quantize_group_mx(lq_format_t f, const float *x, size_t n,
                         uint8_t *scale_e8m0, uint8_t *codes) {
  if (!isMx(f))
    return -1;
  const MiniFloat &m = *elementMini(f);
  const uint8_t s =
      lq_mx_shared_exponent(absMax(x, n), lq_format_element_emax(f));
  *scale_e8m0 = s;
  // Dividing by a power of two is exact in double (no float subnormal
  // rounding before the element rounding).
  const int shift = 127 - static_cast<int>(s);
  for (size_t i = 0; i < n; ++i)
    codes[i] =
        s == 255 ? m.nanCode
                 : encodeMini(m, std::ldexp(static_cast<double>(x[i]), shift));
  return 0;
}

int lq_dequantize_group_mx(lq_format_t f, const uint8_t *codes, size_t n,
                           uint8_t scale_e8m0, float *out) {
  if (!isMx(f))
    return -1;
  const MiniFloat &m = *elementMini(f);
  const float s = lq_e8m0_to_f32(scale_e8m0);
  for (size_t i = 0; i < n; ++i)
    out[i] = decodeMini(m, codes[i]) * s;
  return 0;
}

float lq_nvfp4_tensor_scale(float tensor_absmax) {
  const float a = std::fabs(tensor_absmax);
  if (a == 0.0f || std::isnan(a) || std::isinf(a))
    return 1.0f;
  return a / (448.0f * 6.0f);
}

void lq_quantize_group_nvfp4(const float *x, size_t n, float tensor_scale,
                             uint8_t *scale_e4m3, uint8_t *codes) {
  const uint8_t sc = lq_fp8_e4m3fn_from_f32(absMax(x, n) / 6.0f / tensor_scale);
  *scale_e4m3 = sc;
  const float d = lq_fp8_e4m3fn_to_f32(sc) * tensor_scale;
  for (size_t i = 0; i < n; ++i)
    codes[i] = d == 0.0f ? 0 : encodeMini(kE2M1, x[i] / d);
}

void lq_dequantize_group_nvfp4(const uint8_t *codes, size_t n,
                               float tensor_scale, uint8_t scale_e4m3,
                               float *out) {
  const float d = lq_fp8_e4m3fn_to_f32(scale_e4m3) * tensor_scale;
  for (size_t i = 0; i < n; ++i)
    out[i] = decodeMini(kE2M1, codes[i]) * d;
}

int lq_quantize_group_fp8(lq_format_t f, const float *x, size_t n, float *scale,
                          uint8_t *codes) {
  if (!isFp8(f))
    return -1;
  const MiniFloat &m = *elementMini(f);
  float s = absMax(x, n) / decodeMini(m, m.maxCode);
  if (s == 0.0f)
    s = 1.0f;
  *scale = s;
  for (size_t i = 0; i < n; ++i)
    codes[i] = encodeMini(m, x[i] / s);
  return 0;
}

int lq_dequantize_group_fp8(lq_format_t f, const uint8_t *codes, size_t n,
                            float scale, float *out) {
  if (!isFp8(f))
    return -1;
  const MiniFloat &m = *elementMini(f);
  for (size_t i = 0; i < n; ++i)
    out[i] = decodeMini(m, codes[i]) * scale;
  return 0;
}

} // extern "C"
