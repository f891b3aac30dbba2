//===- formats_test.cpp - Tests of lq_rt's format codecs -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
///
/// \file
/// Checks lq_rt/formats.h against values that do not come from the code under
/// test: constants transcribed from the OCP FP8 and MX v1.0 specifications
/// and bitsandbytes, brute-force nearest-value searches, bit-by-bit packing
/// references and float64 integer quantization.
///
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

extern "C" int lq_rt_c_abi_check(void);

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// One minifloat under test, with its layout restated independently of the
/// implementation.
struct Mini {
  const char *name;
  uint8_t (*encode)(float);
  float (*decode)(uint8_t);
  int ebits, mbits, bias;
  bool hasInf;     // E5M2 only.
  int nanKind;     // 0: none, 1: only S.1..1.1..1 (E4M3FN), 2: IEEE.
  uint8_t nanCode; // What a NaN input must encode to.
  double maxFinite;
  int width() const { return 1 + ebits + mbits; }
  int numCodes() const { return 1 << width(); }
};

const Mini kMinis[] = {
    {"e4m3fn", lq_fp8_e4m3fn_from_f32, lq_fp8_e4m3fn_to_f32, 4, 3, 7, false, 1,
     0x7F, 448.0},
    {"e5m2", lq_fp8_e5m2_from_f32, lq_fp8_e5m2_to_f32, 5, 2, 15, true, 2, 0x7F,
     57344.0},
    {"e2m3", lq_fp6_e2m3_from_f32, lq_fp6_e2m3_to_f32, 2, 3, 1, false, 0, 0x00,
     7.5},
    {"e3m2", lq_fp6_e3m2_from_f32, lq_fp6_e3m2_to_f32, 3, 2, 3, false, 0, 0x00,
     28.0},
    {"e2m1", lq_fp4_e2m1_from_f32, lq_fp4_e2m1_to_f32, 2, 1, 1, false, 0, 0x00,
     6.0},
};

/// Independent decoder: the textbook formula with std::pow.
double refDecode(const Mini &m, unsigned code) {
  unsigned s = (code >> (m.width() - 1)) & 1;
  unsigned e = (code >> m.mbits) & ((1u << m.ebits) - 1);
  unsigned f = code & ((1u << m.mbits) - 1);
  unsigned emax = (1u << m.ebits) - 1;
  double sign = s ? -1.0 : 1.0;
  if (m.nanKind == 2 && e == emax)
    return f == 0 ? sign * HUGE_VAL : NAN;
  if (m.nanKind == 1 && e == emax && f == (1u << m.mbits) - 1)
    return NAN;
  double frac = f / std::pow(2.0, m.mbits);
  if (e == 0)
    return sign * frac * std::pow(2.0, 1 - m.bias);
  return sign * (1.0 + frac) * std::pow(2.0, double(e) - m.bias);
}

/// Brute force: nearest finite code with the input's sign, ties to the code
/// with an even mantissa (even code). Saturation falls out of the search
/// because only finite codes are candidates.
uint8_t refEncode(const Mini &m, float x) {
  const unsigned signBit = 1u << (m.width() - 1);
  const unsigned s = std::signbit(x) ? signBit : 0;
  const double a = std::fabs(double(x));
  int best = -1;
  double bestDist = 0;
  for (unsigned c = 0; c < signBit; ++c) {
    double v = refDecode(m, c);
    if (std::isnan(v) || std::isinf(v))
      continue;
    double d = std::fabs(a - v);
    if (best < 0 || d < bestDist || (d == bestDist && (c & 1) == 0)) {
      best = int(c);
      bestDist = d;
    }
  }
  return uint8_t(best | s);
}

/// A float with random sign and mantissa and an exponent in [lo, hi].
float randomFloat(std::mt19937 &rng, int lo, int hi) {
  std::uniform_int_distribution<int> e(lo, hi);
  std::uniform_int_distribution<uint32_t> mant(0, (1u << 23) - 1);
  float v = std::ldexp(1.0f + float(mant(rng)) / float(1u << 23), e(rng));
  return (rng() & 1) ? -v : v;
}

bool sameBits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

//===----------------------------------------------------------------------===//
// Format identifiers
//===----------------------------------------------------------------------===//

// The compiler's MLIR attribute mirrors these values.
static_assert(LQ_FORMAT_INT == 0 && LQ_FORMAT_NF4 == 1 &&
                  LQ_FORMAT_FP8_E4M3 == 2 && LQ_FORMAT_FP8_E5M2 == 3 &&
                  LQ_FORMAT_MXFP4 == 4 && LQ_FORMAT_MXFP6_E2M3 == 5 &&
                  LQ_FORMAT_MXFP6_E3M2 == 6 && LQ_FORMAT_MXFP8_E4M3 == 7 &&
                  LQ_FORMAT_MXFP8_E5M2 == 8 && LQ_FORMAT_NVFP4 == 9,
              "lq_format_t values are ABI");

TEST(FormatInfo, NamesBitsGroups) {
  struct Row {
    lq_format_t f;
    const char *name;
    unsigned bits;
    int64_t group;
    float maxElem;
  } rows[] = {
      {LQ_FORMAT_INT, "int", 3, 0, 0.0f},
      {LQ_FORMAT_NF4, "nf4", 4, 0, 1.0f},
      {LQ_FORMAT_FP8_E4M3, "fp8_e4m3", 8, 0, 448.0f},
      {LQ_FORMAT_FP8_E5M2, "fp8_e5m2", 8, 0, 57344.0f},
      {LQ_FORMAT_MXFP4, "mxfp4", 4, 32, 6.0f},
      {LQ_FORMAT_MXFP6_E2M3, "mxfp6_e2m3", 6, 32, 7.5f},
      {LQ_FORMAT_MXFP6_E3M2, "mxfp6_e3m2", 6, 32, 28.0f},
      {LQ_FORMAT_MXFP8_E4M3, "mxfp8_e4m3", 8, 32, 448.0f},
      {LQ_FORMAT_MXFP8_E5M2, "mxfp8_e5m2", 8, 32, 57344.0f},
      {LQ_FORMAT_NVFP4, "nvfp4", 4, 16, 6.0f},
      {LQ_FORMAT_BF16, "bf16", 16, 0, 0x1.fep127f},
  };
  for (const Row &r : rows) {
    SCOPED_TRACE(r.name);
    ASSERT_NE(lq_format_name(r.f), nullptr);
    EXPECT_STREQ(lq_format_name(r.f), r.name);
    EXPECT_EQ(lq_format_element_bits(r.f, 3), r.bits);
    EXPECT_EQ(lq_format_required_group(r.f), r.group);
    EXPECT_EQ(lq_format_element_max(r.f), r.maxElem);
  }
  EXPECT_EQ(lq_format_element_bits(LQ_FORMAT_INT, 7), 7u);
  EXPECT_EQ(lq_format_name(static_cast<lq_format_t>(11)), nullptr);
  EXPECT_EQ(lq_format_element_bits(static_cast<lq_format_t>(42), 4), 0u);
  // OCP MX v1.0 Table 1 emax values.
  EXPECT_EQ(lq_format_element_emax(LQ_FORMAT_MXFP4), 2);
  EXPECT_EQ(lq_format_element_emax(LQ_FORMAT_MXFP6_E2M3), 2);
  EXPECT_EQ(lq_format_element_emax(LQ_FORMAT_MXFP6_E3M2), 4);
  EXPECT_EQ(lq_format_element_emax(LQ_FORMAT_MXFP8_E4M3), 8);
  EXPECT_EQ(lq_format_element_emax(LQ_FORMAT_MXFP8_E5M2), 15);
  EXPECT_EQ(lq_format_element_emax(LQ_FORMAT_NVFP4), 2);
  EXPECT_EQ(lq_format_element_emax(LQ_FORMAT_INT), INT32_MIN);
}

TEST(FormatInfo, CAbi) { EXPECT_EQ(lq_rt_c_abi_check(), 0); }

//===----------------------------------------------------------------------===//
// Spec values
//===----------------------------------------------------------------------===//

TEST(SpecValues, E4M3FN) {
  EXPECT_EQ(lq_fp8_e4m3fn_to_f32(0x7E), 448.0f);
  EXPECT_EQ(lq_fp8_e4m3fn_to_f32(0xFE), -448.0f);
  EXPECT_EQ(lq_fp8_e4m3fn_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(lq_fp8_e4m3fn_to_f32(0x07), 7 * std::ldexp(1.0f, -9));
  EXPECT_EQ(lq_fp8_e4m3fn_to_f32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(lq_fp8_e4m3fn_to_f32(0x38), 1.0f);
  EXPECT_EQ(lq_fp8_e4m3fn_to_f32(0x78), 256.0f); // E=1111 is finite here.
  EXPECT_TRUE(std::isnan(lq_fp8_e4m3fn_to_f32(0x7F)));
  EXPECT_TRUE(std::isnan(lq_fp8_e4m3fn_to_f32(0xFF)));
  EXPECT_TRUE(sameBits(lq_fp8_e4m3fn_to_f32(0x80), -0.0f));
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(448.0f), 0x7E);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(1.0f), 0x38);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(-2.0f), 0xC0);
}

TEST(SpecValues, E5M2) {
  EXPECT_EQ(lq_fp8_e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_EQ(lq_fp8_e5m2_to_f32(0x7C), kInf);
  EXPECT_EQ(lq_fp8_e5m2_to_f32(0xFC), -kInf);
  EXPECT_TRUE(std::isnan(lq_fp8_e5m2_to_f32(0x7D)));
  EXPECT_TRUE(std::isnan(lq_fp8_e5m2_to_f32(0x7E)));
  EXPECT_TRUE(std::isnan(lq_fp8_e5m2_to_f32(0xFF)));
  EXPECT_EQ(lq_fp8_e5m2_to_f32(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(lq_fp8_e5m2_to_f32(0x04), std::ldexp(1.0f, -14));
  EXPECT_EQ(lq_fp8_e5m2_to_f32(0x3C), 1.0f);
}

TEST(SpecValues, Fp6Fp4) {
  EXPECT_EQ(lq_fp6_e2m3_to_f32(0x1F), 7.5f);
  EXPECT_EQ(lq_fp6_e2m3_to_f32(0x3F), -7.5f);
  EXPECT_EQ(lq_fp6_e2m3_to_f32(0x01), 0.125f);
  EXPECT_EQ(lq_fp6_e2m3_to_f32(0x08), 1.0f);
  EXPECT_EQ(lq_fp6_e3m2_to_f32(0x1F), 28.0f);
  EXPECT_EQ(lq_fp6_e3m2_to_f32(0x01), 0.0625f);
  EXPECT_EQ(lq_fp6_e3m2_to_f32(0x04), 0.25f);
  EXPECT_EQ(lq_fp6_e3m2_to_f32(0x0C), 1.0f);
  // E2M1: the whole positive table of OCP MX v1.0 section 5.3.3.
  const float e2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (unsigned c = 0; c < 8; ++c) {
    EXPECT_EQ(lq_fp4_e2m1_to_f32(uint8_t(c)), e2m1[c]) << c;
    EXPECT_EQ(lq_fp4_e2m1_to_f32(uint8_t(c | 8)), -e2m1[c]) << c;
  }
  // Bits above the format width are ignored.
  EXPECT_EQ(lq_fp4_e2m1_to_f32(0xF7), 6.0f);
  EXPECT_EQ(lq_fp6_e2m3_to_f32(0xDF), 7.5f);
}

TEST(SpecValues, E8M0) {
  EXPECT_EQ(lq_e8m0_to_f32(127), 1.0f);
  EXPECT_EQ(lq_e8m0_to_f32(128), 2.0f);
  EXPECT_EQ(lq_e8m0_to_f32(0), std::ldexp(1.0f, -127));
  EXPECT_GT(lq_e8m0_to_f32(0), 0.0f);
  EXPECT_EQ(lq_e8m0_to_f32(254), std::ldexp(1.0f, 127));
  EXPECT_TRUE(std::isnan(lq_e8m0_to_f32(255)));
}

//===----------------------------------------------------------------------===//
// Exhaustive code points
//===----------------------------------------------------------------------===//

TEST(Minifloat, DecodeMatchesFormulaForEveryCode) {
  for (const Mini &m : kMinis) {
    SCOPED_TRACE(m.name);
    for (int c = 0; c < 256; ++c) {
      // Decoders see only the low width() bits.
      double ref = refDecode(m, unsigned(c) & unsigned(m.numCodes() - 1));
      float got = m.decode(uint8_t(c));
      if (std::isnan(ref)) {
        EXPECT_TRUE(std::isnan(got)) << c;
      } else {
        EXPECT_EQ(double(got), ref) << c;
        EXPECT_EQ(std::signbit(got), std::signbit(ref)) << c;
      }
    }
  }
}

TEST(Minifloat, EveryCodeRoundTrips) {
  for (const Mini &m : kMinis) {
    SCOPED_TRACE(m.name);
    int nans = 0;
    for (int c = 0; c < m.numCodes(); ++c) {
      float v = m.decode(uint8_t(c));
      if (std::isnan(v)) {
        ++nans;
        EXPECT_EQ(m.encode(v), m.nanCode) << c;
        continue;
      }
      EXPECT_EQ(m.encode(v), c) << c << " value " << v;
    }
    EXPECT_EQ(nans, m.nanKind == 0 ? 0 : m.nanKind == 1 ? 2 : 6);
  }
}

TEST(E8M0, EveryCodeRoundTrips) {
  for (int c = 0; c < 255; ++c)
    EXPECT_EQ(lq_e8m0_from_f32(lq_e8m0_to_f32(uint8_t(c))), c) << c;
  EXPECT_EQ(lq_e8m0_from_f32(lq_e8m0_to_f32(255)), 255);
}

//===----------------------------------------------------------------------===//
// Rounding, saturation, specials
//===----------------------------------------------------------------------===//

TEST(Rounding, E2M1TiesToEven) {
  EXPECT_EQ(lq_fp4_e2m1_from_f32(2.5f), 0x4);  // 2 vs 3 -> 2
  EXPECT_EQ(lq_fp4_e2m1_from_f32(3.5f), 0x6);  // 3 vs 4 -> 4
  EXPECT_EQ(lq_fp4_e2m1_from_f32(5.0f), 0x6);  // 4 vs 6 -> 4
  EXPECT_EQ(lq_fp4_e2m1_from_f32(0.25f), 0x0); // 0 vs 0.5 -> 0
  EXPECT_EQ(lq_fp4_e2m1_from_f32(0.75f), 0x2); // 0.5 vs 1 -> 1
  EXPECT_EQ(lq_fp4_e2m1_from_f32(1.25f), 0x2); // 1 vs 1.5 -> 1
  EXPECT_EQ(lq_fp4_e2m1_from_f32(1.75f), 0x4); // 1.5 vs 2 -> 2
  EXPECT_EQ(lq_fp4_e2m1_from_f32(-2.5f), 0xC);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(5.0001f), 0x7);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(0.2500001f), 0x1);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(-0.1f), 0x8); // Sign kept on zero.
}

TEST(Rounding, Fp8TiesToEven) {
  // 1 + 1/16 is halfway between 1 (0x38) and 1.125 (0x39).
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(1.0625f), 0x38);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(1.1875f), 0x3A);
  // Half the smallest subnormal goes to zero, 1.5x to the 2nd subnormal.
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(std::ldexp(1.5f, -9)), 0x02);
  // Largest subnormal + half ulp carries into the smallest normal.
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(std::ldexp(7.5f, -9)), 0x08);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(1.125f), 0x3C);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(1.375f), 0x3E);
}

TEST(Saturation, FiniteOverflowClampsToMax) {
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(1e6f), 0x7E);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(464.0f), 0x7E); // Tie with 480 -> even.
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(470.0f), 0x7E); // Would round to 480.
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(-1e6f), 0xFE);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(kInf), 0x7E);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(-kInf), 0xFE);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(1e9f), 0x7B);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(65536.0f), 0x7B);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(-61440.0f), 0xFB);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(std::numeric_limits<float>::max()), 0x7B);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(100.0f), 0x7);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(-7.0f), 0xF);
  EXPECT_EQ(lq_fp6_e2m3_from_f32(8.0f), 0x1F);
  EXPECT_EQ(lq_fp6_e3m2_from_f32(-1000.0f), 0x3F);
}

TEST(Specials, InfAndNaN) {
  // E5M2 keeps infinities (satfinite saturates finite values only).
  EXPECT_EQ(lq_fp8_e5m2_from_f32(kInf), 0x7C);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(-kInf), 0xFC);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(kNaN), 0x7F);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(-kNaN), 0x7F);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(kNaN), 0x7F);
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(-kNaN), 0x7F);
  // No NaN code: NaN -> +0, Inf -> +-max.
  EXPECT_EQ(lq_fp6_e2m3_from_f32(kNaN), 0x00);
  EXPECT_EQ(lq_fp6_e3m2_from_f32(kNaN), 0x00);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(kNaN), 0x00);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(kInf), 0x07);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(-kInf), 0x0F);
  EXPECT_EQ(lq_fp6_e3m2_from_f32(-kInf), 0x3F);
  // Signed zeros.
  EXPECT_EQ(lq_fp8_e4m3fn_from_f32(-0.0f), 0x80);
  EXPECT_EQ(lq_fp8_e5m2_from_f32(-1e-30f), 0x80);
  EXPECT_EQ(lq_fp6_e2m3_from_f32(-0.0f), 0x20);
  EXPECT_EQ(lq_fp4_e2m1_from_f32(0.0f), 0x00);
}

TEST(Minifloat, MatchesBruteForceNearest) {
  std::mt19937 rng(1234);
  for (const Mini &m : kMinis) {
    SCOPED_TRACE(m.name);
    // Every midpoint between adjacent positive finite values, and a bit on
    // either side of it, exercises ties and the rounding boundaries.
    std::vector<double> vals;
    for (unsigned c = 0; c < (1u << (m.width() - 1)); ++c) {
      double v = refDecode(m, c);
      if (std::isfinite(v))
        vals.push_back(v);
    }
    std::sort(vals.begin(), vals.end());
    for (size_t i = 0; i + 1 < vals.size(); ++i) {
      float mid = float((vals[i] + vals[i + 1]) / 2);
      ASSERT_EQ(double(mid), (vals[i] + vals[i + 1]) / 2);
      for (float x :
           {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, kInf), -mid}) {
        ASSERT_EQ(m.encode(x), refEncode(m, x)) << x;
      }
    }
    // Random floats over the whole range, beyond the max and into
    // underflow.
    int emin = 1 - m.bias - m.mbits - 2;
    int emax = int(std::floor(std::log2(m.maxFinite))) + 2;
    for (int i = 0; i < 20000; ++i) {
      float x = randomFloat(rng, emin, emax);
      ASSERT_EQ(m.encode(x), refEncode(m, x)) << x;
    }
  }
}

TEST(E8M0, NearestPowerOfTwo) {
  EXPECT_EQ(lq_e8m0_from_f32(1.0f), 127);
  EXPECT_EQ(lq_e8m0_from_f32(1.49f), 127);
  EXPECT_EQ(lq_e8m0_from_f32(1.5f), 128); // Tie goes up.
  EXPECT_EQ(lq_e8m0_from_f32(3.0f), 129);
  EXPECT_EQ(lq_e8m0_from_f32(0.75f), 127);
  EXPECT_EQ(lq_e8m0_from_f32(0.7f), 126);
  EXPECT_EQ(lq_e8m0_from_f32(-2.0f), 128); // Sign ignored.
  EXPECT_EQ(lq_e8m0_from_f32(0.0f), 0);
  EXPECT_EQ(lq_e8m0_from_f32(std::ldexp(1.0f, -140)), 0);
  EXPECT_EQ(lq_e8m0_from_f32(std::numeric_limits<float>::max()), 254);
  EXPECT_EQ(lq_e8m0_from_f32(kInf), 254);
  EXPECT_EQ(lq_e8m0_from_f32(kNaN), 255);

  // Against a search over all 255 finite values.
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    float x = std::fabs(randomFloat(rng, -135, 127));
    int best = 0;
    for (int c = 1; c < 255; ++c) {
      double dc = std::fabs(double(x) - std::ldexp(1.0, c - 127));
      double db = std::fabs(double(x) - std::ldexp(1.0, best - 127));
      if (dc <= db) // Ties go to the larger power.
        best = c;
    }
    ASSERT_EQ(lq_e8m0_from_f32(x), best) << x;
  }
}

TEST(MxSharedExponent, OcpFormula) {
  const int e2m1 = 2, e4m3 = 8, e5m2 = 15;
  EXPECT_EQ(lq_mx_shared_exponent(6.0f, e2m1), 127);  // 2^(2-2)
  EXPECT_EQ(lq_mx_shared_exponent(7.99f, e2m1), 127); // floor, not round
  EXPECT_EQ(lq_mx_shared_exponent(8.0f, e2m1), 128);
  EXPECT_EQ(lq_mx_shared_exponent(1.0f, e2m1), 125);
  EXPECT_EQ(lq_mx_shared_exponent(448.0f, e4m3), 127);
  EXPECT_EQ(lq_mx_shared_exponent(1.0f, e5m2), 112);
  EXPECT_EQ(lq_mx_shared_exponent(-6.0f, e2m1), 127);
  EXPECT_EQ(lq_mx_shared_exponent(0.0f, e2m1), 0);
  EXPECT_EQ(lq_mx_shared_exponent(std::ldexp(1.0f, -140), e2m1), 0);
  EXPECT_EQ(lq_mx_shared_exponent(std::ldexp(1.0f, -149), e4m3), 0);
  EXPECT_EQ(lq_mx_shared_exponent(std::numeric_limits<float>::max(), e2m1),
            127 + 125);
  EXPECT_EQ(lq_mx_shared_exponent(std::ldexp(1.0f, 127), -5), 254); // clamp
  EXPECT_EQ(lq_mx_shared_exponent(kNaN, e2m1), 255);
  EXPECT_EQ(lq_mx_shared_exponent(kInf, e2m1), 255);

  std::mt19937 rng(99);
  for (int i = 0; i < 5000; ++i) {
    float a = std::fabs(randomFloat(rng, -149, 127));
    if (a == 0.0f)
      continue;
    for (int emax : {e2m1, 4, e4m3, e5m2}) {
      double e = std::floor(std::log2(double(a))) - emax;
      e = std::fmin(std::fmax(e, -127.0), 127.0);
      ASSERT_EQ(lq_mx_shared_exponent(a, emax), int(e) + 127) << a;
    }
  }
}

//===----------------------------------------------------------------------===//
// NF4
//===----------------------------------------------------------------------===//

TEST(Nf4, CodebookIsBitsandbytes) {
  // bitsandbytes functional.py / kernels.cu NF4 table.
  const float bnb[16] = {-1.0f,
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
                         1.0f};
  for (int i = 0; i < 16; ++i) {
    EXPECT_TRUE(sameBits(lq_nf4_codebook[i], bnb[i])) << i;
    EXPECT_EQ(lq_nf4_from_f32(bnb[i]), i);
    EXPECT_EQ(lq_nf4_to_f32(uint8_t(i)), bnb[i]);
  }
}

TEST(Nf4, NearestTiesLowerAndSpecials) {
  EXPECT_EQ(lq_nf4_from_f32(kNaN), 7);
  EXPECT_EQ(lq_nf4_from_f32(5.0f), 15);
  EXPECT_EQ(lq_nf4_from_f32(-5.0f), 0);
  EXPECT_EQ(lq_nf4_from_f32(-0.0f), 7);
  EXPECT_EQ(lq_nf4_from_f32(0.9f), 15);
  EXPECT_EQ(lq_nf4_from_f32(0.85f), 14);
  // An exact midpoint (representable in float) goes to the lower index:
  // 0 and 0.0795.../2 with the midpoint halved exactly.
  float mid = lq_nf4_codebook[8] / 2; // Exact.
  EXPECT_EQ(lq_nf4_from_f32(mid), 7);
  EXPECT_EQ(lq_nf4_from_f32(std::nextafter(mid, 1.0f)), 8);
  EXPECT_EQ(lq_nf4_from_f32(-lq_nf4_codebook[8] / 2), 7);
  float negMid = lq_nf4_codebook[6] / 2; // Between index 6 and 7.
  EXPECT_EQ(lq_nf4_from_f32(negMid), 6);

  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.2f, 1.2f);
  for (int i = 0; i < 20000; ++i) {
    float x = u(rng);
    int best = 0;
    for (int c = 1; c < 16; ++c)
      if (std::fabs(double(x) - lq_nf4_codebook[c]) <
          std::fabs(double(x) - lq_nf4_codebook[best]))
        best = c;
    ASSERT_EQ(lq_nf4_from_f32(x), best) << x;
  }
}

TEST(ElementDispatch, MatchesPerFormatCodecs) {
  struct Row {
    lq_format_t f;
    uint8_t (*enc)(float);
    float (*dec)(uint8_t);
  } rows[] = {
      {LQ_FORMAT_FP8_E4M3, lq_fp8_e4m3fn_from_f32, lq_fp8_e4m3fn_to_f32},
      {LQ_FORMAT_MXFP8_E4M3, lq_fp8_e4m3fn_from_f32, lq_fp8_e4m3fn_to_f32},
      {LQ_FORMAT_FP8_E5M2, lq_fp8_e5m2_from_f32, lq_fp8_e5m2_to_f32},
      {LQ_FORMAT_MXFP8_E5M2, lq_fp8_e5m2_from_f32, lq_fp8_e5m2_to_f32},
      {LQ_FORMAT_MXFP6_E2M3, lq_fp6_e2m3_from_f32, lq_fp6_e2m3_to_f32},
      {LQ_FORMAT_MXFP6_E3M2, lq_fp6_e3m2_from_f32, lq_fp6_e3m2_to_f32},
      {LQ_FORMAT_MXFP4, lq_fp4_e2m1_from_f32, lq_fp4_e2m1_to_f32},
      {LQ_FORMAT_NVFP4, lq_fp4_e2m1_from_f32, lq_fp4_e2m1_to_f32},
      {LQ_FORMAT_NF4, lq_nf4_from_f32, lq_nf4_to_f32},
  };
  for (const Row &r : rows) {
    SCOPED_TRACE(lq_format_name(r.f));
    for (float x : {0.3f, -1.7f, 5.5f, 300.0f, -0.0f})
      EXPECT_EQ(lq_encode_element(r.f, x), r.enc(x));
    for (int c = 0; c < 256; ++c) {
      float a = lq_decode_element(r.f, uint8_t(c)), b = r.dec(uint8_t(c));
      EXPECT_TRUE(sameBits(a, b) || (std::isnan(a) && std::isnan(b))) << c;
    }
  }
  EXPECT_EQ(lq_encode_element(LQ_FORMAT_INT, 3.0f), 0);
  EXPECT_TRUE(std::isnan(lq_decode_element(LQ_FORMAT_INT, 3)));
}

//===----------------------------------------------------------------------===//
// Integers
//===----------------------------------------------------------------------===//

TEST(Int, Ranges) {
  for (unsigned b = 2; b <= 8; ++b) {
    EXPECT_EQ(lq_int_qmin(b, 1), -(1 << (b - 1)));
    EXPECT_EQ(lq_int_qmax(b, 1), (1 << (b - 1)) - 1);
    EXPECT_EQ(lq_int_qmin(b, 0), 0);
    EXPECT_EQ(lq_int_qmax(b, 0), (1 << b) - 1);
  }
}

TEST(Int, QuantizeScalar) {
  EXPECT_EQ(lq_int_quantize(2.5f, 1.0f, 0, 8, 1), 2);
  EXPECT_EQ(lq_int_quantize(3.5f, 1.0f, 0, 8, 1), 4);
  EXPECT_EQ(lq_int_quantize(-2.5f, 1.0f, 0, 8, 1), -2);
  EXPECT_EQ(lq_int_quantize(-0.5f, 1.0f, 0, 8, 1), 0);
  EXPECT_EQ(lq_int_quantize(1.0f, 0.4f, 0, 8, 1), 2); // 2.5 in f32 -> 2
  EXPECT_EQ(lq_int_quantize(1000.0f, 1.0f, 0, 4, 1), 7);
  EXPECT_EQ(lq_int_quantize(-1000.0f, 1.0f, 0, 4, 1), -8);
  EXPECT_EQ(lq_int_quantize(-1000.0f, 1.0f, 3, 4, 0), 0);
  EXPECT_EQ(lq_int_quantize(0.0f, 1.0f, 3, 4, 0), 3);
  EXPECT_EQ(lq_int_quantize(2.0f, 0.5f, 3, 4, 0), 7);
  EXPECT_EQ(lq_int_quantize(5.0f, 0.0f, 3, 4, 0), 3);   // scale 0 -> zp
  EXPECT_EQ(lq_int_quantize(kNaN, 0.5f, 3, 4, 0), 3);   // NaN -> zp
  EXPECT_EQ(lq_int_quantize(kNaN, 0.5f, 20, 4, 0), 15); // zp clamped
  EXPECT_EQ(lq_int_quantize(kInf, 0.5f, 0, 4, 1), 7);
  EXPECT_EQ(lq_int_quantize(-kInf, 0.5f, 0, 4, 1), -8);
  EXPECT_EQ(lq_int_quantize(1e30f, 1e-30f, 0, 8, 1), 127);
  // x / s is exactly a tie in float32 while x * (1 / s) is not: the
  // quantizer must divide, like np.round(x / scale).
  EXPECT_EQ(lq_int_quantize(0x1.085542p+0f, 0x1.6071aep-1f, 0, 8, 1), 2);
  EXPECT_EQ(lq_int_quantize(0x1.2f68cap+1f, 0x1.a6227ep-3f, 0, 8, 1), 12);
  // Exact ties round to the even integer, on both signs.
  for (float t : {-4.5f, -3.5f, -2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 3.5f})
    EXPECT_EQ(lq_int_quantize(t, 1.0f, 0, 8, 1), int(std::nearbyint(t))) << t;
  EXPECT_EQ(lq_int_dequantize(5, 0.5f, 3), 1.0f);
  EXPECT_EQ(lq_int_dequantize(-8, 0.25f, 0), -2.0f);

  // Reference: float32 division (numpy semantics) then round-half-even via
  // the FP environment.
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> ux(-10.0f, 10.0f), us(0.01f, 2.0f);
  std::uniform_int_distribution<int> uz(-4, 20);
  for (int i = 0; i < 20000; ++i) {
    float x = ux(rng), s = us(rng);
    int zp = uz(rng);
    unsigned bits = 2 + unsigned(i % 7);
    int sgn = i & 1;
    float q = std::nearbyint(x / s) + float(zp);
    float lo = float(lq_int_qmin(bits, sgn)),
          hi = float(lq_int_qmax(bits, sgn));
    int ref = int(std::fmin(std::fmax(q, lo), hi));
    ASSERT_EQ(lq_int_quantize(x, s, zp, bits, sgn), ref);
  }
}

TEST(Int, SignExtend) {
  EXPECT_EQ(lq_sign_extend(0xF, 4), -1);
  EXPECT_EQ(lq_sign_extend(0x8, 4), -8);
  EXPECT_EQ(lq_sign_extend(0x7, 4), 7);
  EXPECT_EQ(lq_sign_extend(0xF7, 4), 7); // High bits ignored.
  EXPECT_EQ(lq_sign_extend(0x2, 2), -2);
  EXPECT_EQ(lq_sign_extend(0x1, 2), 1);
  EXPECT_EQ(lq_sign_extend(0x80, 8), -128);
  EXPECT_EQ(lq_sign_extend(0x7F, 8), 127);
  EXPECT_EQ(lq_sign_extend(0x3B, 6), -5);
  for (unsigned b = 2; b <= 8; ++b)
    for (int v = lq_int_qmin(b, 1); v <= lq_int_qmax(b, 1); ++v)
      EXPECT_EQ(lq_sign_extend(uint8_t(v), b), v);
}

/// float64 reference of lq_quantize_group_int, returns the reference scale.
double refGroupInt(const std::vector<float> &x, unsigned bits, bool sym,
                   std::vector<int> &q, int &zp) {
  double lo = 0, hi = 0, amax = 0;
  for (float v : x) {
    lo = std::min(lo, double(v));
    hi = std::max(hi, double(v));
    amax = std::max(amax, std::fabs(double(v)));
  }
  q.assign(x.size(), 0);
  if (sym) {
    double qmax = (1 << (bits - 1)) - 1;
    double s = amax > 0 ? amax / qmax : 1.0;
    zp = 0;
    for (size_t i = 0; i < x.size(); ++i)
      q[i] = int(std::fmin(std::fmax(std::nearbyint(x[i] / s), -qmax), qmax));
    return s;
  }
  double qmax = (1 << bits) - 1;
  double s = hi > lo ? (hi - lo) / qmax : 1.0;
  zp = int(std::fmin(std::fmax(std::nearbyint(-lo / s), 0.0), qmax));
  for (size_t i = 0; i < x.size(); ++i)
    q[i] = int(std::fmin(std::fmax(std::nearbyint(x[i] / s) + zp, 0.0), qmax));
  return s;
}

TEST(Int, GroupMatchesFloat64Reference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int iter = 0; iter < 600; ++iter) {
    unsigned bits = 2 + unsigned(iter % 7);
    bool sym = (iter / 7) % 2 == 0;
    size_t n = 1 + size_t(rng() % 130);
    float mag = std::ldexp(1.0f, int(rng() % 20) - 10);
    float shift = (iter % 3 == 0) ? 3.0f * mag : 0.0f; // All-positive groups.
    std::vector<float> x(n);
    for (float &v : x)
      v = nd(rng) * mag + shift;
    std::vector<uint8_t> codes(n);
    float scale;
    int32_t zp;
    lq_quantize_group_int(x.data(), n, bits, sym, &scale, &zp, codes.data());

    std::vector<int> rq;
    int rzp;
    double rs = refGroupInt(x, bits, sym, rq, rzp);
    ASSERT_NEAR(scale, rs, rs * 1e-6);
    ASSERT_LE(std::abs(zp - rzp), 1);
    std::vector<float> deq(n);
    lq_dequantize_group_int(codes.data(), n, bits, sym, scale, zp, deq.data());
    for (size_t i = 0; i < n; ++i) {
      int q = sym ? lq_sign_extend(codes[i], bits) : int(codes[i]);
      if (sym) {
        ASSERT_GE(q, -((1 << (bits - 1)) - 1));
        ASSERT_LE(q, (1 << (bits - 1)) - 1);
      } else {
        ASSERT_LT(q, 1 << bits);
      }
      ASSERT_EQ(codes[i] >> bits, 0) << "code wider than bits";
      // The f32 and f64 paths agree except within rounding noise of a tie.
      if (q != rq[i]) {
        double t = x[i] / rs + rzp;
        ASSERT_LT(std::fabs(t - std::floor(t) - 0.5), 1e-3)
            << "i=" << i << " q=" << q << " ref=" << rq[i];
        ASSERT_LE(std::abs(q - rq[i]), 1);
      }
      // Every value lies inside [lo, hi], so the error is half a step.
      ASSERT_LE(std::fabs(deq[i] - x[i]),
                scale * 0.5f * (1 + 1e-4f) + std::fabs(x[i]) * 1e-6f)
          << i;
    }
    if (!sym) {
      // Zero is exactly representable.
      ASSERT_EQ(lq_int_dequantize(zp, scale, zp), 0.0f);
      if (*std::min_element(x.begin(), x.end()) >= 0.0f) {
        ASSERT_EQ(zp, 0); // Range [0, max]: zero is code 0.
      }
    }
  }
}

TEST(Int, DegenerateGroups) {
  std::vector<float> zeros(9, 0.0f);
  std::vector<uint8_t> codes(9, 0xAA);
  std::vector<float> out(9);
  for (int sym = 0; sym < 2; ++sym) {
    float scale = -1;
    int32_t zp = -1;
    lq_quantize_group_int(zeros.data(), 9, 4, sym, &scale, &zp, codes.data());
    EXPECT_EQ(scale, 1.0f);
    EXPECT_EQ(zp, 0);
    lq_dequantize_group_int(codes.data(), 9, 4, sym, scale, zp, out.data());
    for (int i = 0; i < 9; ++i) {
      EXPECT_EQ(codes[i], 0);
      EXPECT_EQ(out[i], 0.0f);
    }
  }
  // Constant positive group, asymmetric: range [0, c], c maps to qmax.
  std::vector<float> c(5, 2.0f);
  float scale;
  int32_t zp;
  lq_quantize_group_int(c.data(), 5, 4, 0, &scale, &zp, codes.data());
  EXPECT_EQ(zp, 0);
  EXPECT_EQ(codes[0], 15);
  EXPECT_FLOAT_EQ(lq_int_dequantize(codes[0], scale, zp), 2.0f);
  // Symmetric extremes hit +-qmax, never -2^(b-1).
  float sx[3] = {-3.0f, 0.0f, 3.0f};
  lq_quantize_group_int(sx, 3, 3, 1, &scale, &zp, codes.data());
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(lq_sign_extend(codes[0], 3), -3);
  EXPECT_EQ(codes[1], 0);
  EXPECT_EQ(codes[2], 3);
  // A NaN element is ignored by the range and quantizes to the zero point.
  float nx[3] = {1.0f, kNaN, -2.0f};
  lq_quantize_group_int(nx, 3, 8, 0, &scale, &zp, codes.data());
  EXPECT_FALSE(std::isnan(scale));
  EXPECT_EQ(codes[1], zp);
}

//===----------------------------------------------------------------------===//
// Packing
//===----------------------------------------------------------------------===//

TEST(Pack, FixedLayouts) {
  const uint8_t c4[5] = {1, 2, 3, 4, 5};
  uint8_t p[4] = {0xEE, 0xEE, 0xEE, 0xEE};
  ASSERT_EQ(lq_packed_size(5, 4), 3u);
  lq_pack_bits(c4, 5, 4, p);
  // Element 0 is the low nibble of byte 0 (ONNX int4 / MatMulNBits order).
  EXPECT_EQ(p[0], 0x21);
  EXPECT_EQ(p[1], 0x43);
  EXPECT_EQ(p[2], 0x05); // Padding nibble zeroed.
  EXPECT_EQ(p[3], 0xEE); // Nothing written past the packed size.

  const uint8_t c2[5] = {1, 2, 3, 0, 1};
  lq_pack_bits(c2, 5, 2, p);
  EXPECT_EQ(p[0], 0x39);
  EXPECT_EQ(p[1], 0x01);

  // 6-bit: 3 codes straddle bytes. 0x3F, 0x01, 0x2A -> bit stream
  // 111111 100000 010101 (LSB first).
  const uint8_t c6[3] = {0x3F, 0x01, 0x2A};
  lq_pack_bits(c6, 3, 6, p);
  EXPECT_EQ(lq_packed_size(3, 6), 3u);
  EXPECT_EQ(p[0], 0x7F);
  EXPECT_EQ(p[1], 0xA0);
  EXPECT_EQ(p[2], 0x02);

  // High bits of the codes are ignored (truncated two's complement).
  const uint8_t neg[2] = {0xFF, 0xF8}; // -1, -8 as int4
  lq_pack_bits(neg, 2, 4, p);
  EXPECT_EQ(p[0], 0x8F);
  uint8_t back[2];
  lq_unpack_bits(p, 2, 4, back);
  EXPECT_EQ(lq_sign_extend(back[0], 4), -1);
  EXPECT_EQ(lq_sign_extend(back[1], 4), -8);

  EXPECT_EQ(lq_packed_size(0, 4), 0u);
  EXPECT_EQ(lq_packed_size(7, 3), 3u);
  EXPECT_EQ(lq_packed_size(9, 8), 9u);
  EXPECT_EQ(lq_packed_size(1, 1), 1u);
}

TEST(Pack, RoundTripAndBitStreamReference) {
  std::mt19937 rng(17);
  for (unsigned bits = 1; bits <= 8; ++bits) {
    for (size_t n : {size_t(1), size_t(3), size_t(7), size_t(31), size_t(33),
                     size_t(101)}) {
      SCOPED_TRACE(testing::Message() << "bits=" << bits << " n=" << n);
      std::vector<uint8_t> codes(n);
      for (uint8_t &c : codes)
        c = uint8_t(rng()); // High bits must be dropped.
      size_t sz = lq_packed_size(n, bits);
      ASSERT_EQ(sz, (n * bits + 7) / 8);
      std::vector<uint8_t> packed(sz + 1, 0xA5);
      lq_pack_bits(codes.data(), n, bits, packed.data());
      ASSERT_EQ(packed[sz], 0xA5);
      // Bit-by-bit reference of the little-endian stream.
      std::vector<uint8_t> ref(sz, 0);
      for (size_t i = 0; i < n; ++i)
        for (unsigned b = 0; b < bits; ++b)
          if ((codes[i] >> b) & 1) {
            size_t j = i * bits + b;
            ref[j / 8] |= uint8_t(1u << (j % 8));
          }
      for (size_t k = 0; k < sz; ++k)
        ASSERT_EQ(packed[k], ref[k]) << k;
      std::vector<uint8_t> out(n);
      lq_unpack_bits(packed.data(), n, bits, out.data());
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(out[i], codes[i] & ((1u << bits) - 1)) << i;
    }
  }
  // Invalid widths write nothing.
  uint8_t c = 1, p = 0x5A;
  lq_pack_bits(&c, 1, 0, &p);
  lq_pack_bits(&c, 1, 9, &p);
  EXPECT_EQ(p, 0x5A);
}

//===----------------------------------------------------------------------===//
// Block quantizers
//===----------------------------------------------------------------------===//

/// Checks |x - deq| against the element grid of \p f at scale \p s:
/// at most half an element ulp inside the range, and exactly the clipped
/// amount above the max.
void expectElementError(lq_format_t f, float x, float deq, double s) {
  const double v = std::fabs(double(x)) / s;
  const double maxElem = lq_format_element_max(f);
  const double slack = std::fabs(double(x)) * 1e-6 + 1e-30;
  int ebits, mbits, bias;
  switch (f) {
  case LQ_FORMAT_MXFP4:
  case LQ_FORMAT_NVFP4:
    ebits = 2, mbits = 1, bias = 1;
    break;
  case LQ_FORMAT_MXFP6_E2M3:
    ebits = 2, mbits = 3, bias = 1;
    break;
  case LQ_FORMAT_MXFP6_E3M2:
    ebits = 3, mbits = 2, bias = 3;
    break;
  case LQ_FORMAT_FP8_E4M3:
  case LQ_FORMAT_MXFP8_E4M3:
    ebits = 4, mbits = 3, bias = 7;
    break;
  default:
    ebits = 5, mbits = 2, bias = 15;
    break;
  }
  (void)ebits;
  const double err = std::fabs(double(x) - double(deq));
  if (v > maxElem) {
    EXPECT_NEAR(err, (v - maxElem) * s, slack) << x;
    return;
  }
  int e = v > 0 ? int(std::floor(std::log2(v))) : 1 - bias;
  e = std::max(e, 1 - bias);
  const double halfUlp = std::ldexp(0.5, e - mbits);
  EXPECT_LE(err, halfUlp * s + slack) << x << " -> " << deq;
}

TEST(Mx, GroupQuantizer) {
  const lq_format_t mx[] = {LQ_FORMAT_MXFP4, LQ_FORMAT_MXFP6_E2M3,
                            LQ_FORMAT_MXFP6_E3M2, LQ_FORMAT_MXFP8_E4M3,
                            LQ_FORMAT_MXFP8_E5M2};
  const int emax[] = {2, 2, 4, 8, 15};
  std::mt19937 rng(23);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int fi = 0; fi < 5; ++fi) {
    lq_format_t f = mx[fi];
    SCOPED_TRACE(lq_format_name(f));
    for (int iter = 0; iter < 200; ++iter) {
      float mag = std::ldexp(1.0f, int(rng() % 60) - 30);
      float x[32];
      double amax = 0;
      for (float &v : x) {
        v = nd(rng) * mag;
        amax = std::max(amax, std::fabs(double(v)));
      }
      uint8_t scale, codes[32];
      ASSERT_EQ(lq_quantize_group_mx(f, x, 32, &scale, codes), 0);
      int refE = int(std::floor(std::log2(amax))) - emax[fi];
      ASSERT_EQ(int(scale), refE + 127);
      float deq[32];
      ASSERT_EQ(lq_dequantize_group_mx(f, codes, 32, scale, deq), 0);
      for (int i = 0; i < 32; ++i) {
        ASSERT_EQ(codes[i] >> lq_format_element_bits(f, 0), 0);
        expectElementError(f, x[i], deq[i], std::ldexp(1.0, refE));
      }
    }
  }

  // Spec example: amax 6 in MXFP4 -> X = 1 and representable values are
  // exact; 7 clips to 6.
  float x[4] = {6.0f, -0.5f, 2.0f, 0.0f};
  uint8_t s, c[4];
  float d[4];
  ASSERT_EQ(lq_quantize_group_mx(LQ_FORMAT_MXFP4, x, 4, &s, c), 0);
  EXPECT_EQ(s, 127);
  EXPECT_EQ(c[0], 0x7);
  EXPECT_EQ(c[1], 0x9);
  EXPECT_EQ(c[2], 0x4);
  EXPECT_EQ(c[3], 0x0);
  lq_dequantize_group_mx(LQ_FORMAT_MXFP4, c, 4, s, d);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(d[i], x[i]);
  float y[2] = {7.0f, 1.0f};
  lq_quantize_group_mx(LQ_FORMAT_MXFP4, y, 2, &s, c);
  EXPECT_EQ(s, 127);
  EXPECT_EQ(c[0], 0x7);

  // All-zero block: scale code 0, zero elements, no NaN.
  float z[32] = {};
  uint8_t zc[32];
  float zd[32];
  ASSERT_EQ(lq_quantize_group_mx(LQ_FORMAT_MXFP8_E4M3, z, 32, &s, zc), 0);
  EXPECT_EQ(s, 0);
  lq_dequantize_group_mx(LQ_FORMAT_MXFP8_E4M3, zc, 32, s, zd);
  for (float v : zd)
    EXPECT_EQ(v, 0.0f);

  EXPECT_EQ(lq_quantize_group_mx(LQ_FORMAT_NVFP4, x, 4, &s, c), -1);
  EXPECT_EQ(lq_dequantize_group_mx(LQ_FORMAT_FP8_E4M3, c, 4, s, d), -1);
}

TEST(Nvfp4, GroupQuantizer) {
  EXPECT_EQ(lq_nvfp4_tensor_scale(2688.0f), 1.0f);
  EXPECT_EQ(lq_nvfp4_tensor_scale(0.0f), 1.0f);
  EXPECT_EQ(lq_nvfp4_tensor_scale(kNaN), 1.0f);
  EXPECT_FLOAT_EQ(lq_nvfp4_tensor_scale(1.0f), 1.0f / 2688.0f);

  std::mt19937 rng(31);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int iter = 0; iter < 300; ++iter) {
    float mag = std::ldexp(1.0f, int(rng() % 30) - 15);
    std::vector<float> t(64);
    double tmax = 0;
    for (float &v : t) {
      v = nd(rng) * mag;
      tmax = std::max(tmax, std::fabs(double(v)));
    }
    float ts = lq_nvfp4_tensor_scale(float(tmax));
    ASSERT_NEAR(ts, tmax / 2688.0, tmax / 2688.0 * 1e-6);
    for (int b = 0; b < 4; ++b) {
      const float *x = t.data() + 16 * b;
      double amax = 0;
      for (int i = 0; i < 16; ++i)
        amax = std::max(amax, std::fabs(double(x[i])));
      uint8_t sc, codes[16];
      lq_quantize_group_nvfp4(x, 16, ts, &sc, codes);
      // Block scale within E4M3 rounding of amax / 6 / ts, never above 448.
      double want = amax / 6.0 / ts;
      float got = lq_fp8_e4m3fn_to_f32(sc);
      ASSERT_LE(got, 448.0f);
      ASSERT_EQ(sc & 0x80, 0);
      if (want >= std::ldexp(1.0, -6)) {
        ASSERT_NEAR(got, want, want / 16 + 1e-6);
      }
      float deq[16];
      lq_dequantize_group_nvfp4(codes, 16, ts, sc, deq);
      double d = double(got) * ts;
      for (int i = 0; i < 16; ++i) {
        ASSERT_EQ(codes[i] >> 4, 0);
        if (d > 0)
          expectElementError(LQ_FORMAT_NVFP4, x[i], deq[i], d);
      }
    }
  }

  // Exact example: tensor scale 1, block amax 6 -> block scale 1.0 (0x38).
  float x[16] = {6.0f, -3.0f, 0.5f, 1.5f};
  uint8_t sc, codes[16];
  float deq[16];
  lq_quantize_group_nvfp4(x, 16, 1.0f, &sc, codes);
  EXPECT_EQ(sc, 0x38);
  EXPECT_EQ(codes[0], 0x7);
  EXPECT_EQ(codes[1], 0xD);
  EXPECT_EQ(codes[2], 0x1);
  EXPECT_EQ(codes[3], 0x3);
  lq_dequantize_group_nvfp4(codes, 16, 1.0f, sc, deq);
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(deq[i], x[i]);

  // All-zero block: scale code 0, codes +0, dequantizes to 0.
  float z[16] = {};
  lq_quantize_group_nvfp4(z, 16, 1.0f, &sc, codes);
  EXPECT_EQ(sc, 0);
  lq_dequantize_group_nvfp4(codes, 16, 1.0f, sc, deq);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(codes[i], 0);
    EXPECT_EQ(deq[i], 0.0f);
  }
}

TEST(Fp8, GroupQuantizer) {
  std::mt19937 rng(41);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (lq_format_t f :
       {LQ_FORMAT_FP8_E4M3, LQ_FORMAT_FP8_E5M2, LQ_FORMAT_MXFP8_E4M3}) {
    SCOPED_TRACE(lq_format_name(f));
    for (int iter = 0; iter < 200; ++iter) {
      size_t n = 1 + rng() % 128;
      float mag = std::ldexp(1.0f, int(rng() % 40) - 20);
      std::vector<float> x(n), deq(n);
      std::vector<uint8_t> codes(n);
      double amax = 0;
      size_t argmax = 0;
      for (size_t i = 0; i < n; ++i) {
        x[i] = nd(rng) * mag;
        if (std::fabs(double(x[i])) > amax) {
          amax = std::fabs(double(x[i]));
          argmax = i;
        }
      }
      float scale;
      ASSERT_EQ(lq_quantize_group_fp8(f, x.data(), n, &scale, codes.data()), 0);
      double maxElem = lq_format_element_max(f);
      ASSERT_NEAR(scale, amax / maxElem, amax / maxElem * 1e-6);
      // The largest magnitude lands on the format's max code.
      ASSERT_EQ(codes[argmax] & 0x7F, maxElem == 448.0 ? 0x7E : 0x7B);
      ASSERT_EQ(lq_dequantize_group_fp8(f, codes.data(), n, scale, deq.data()),
                0);
      for (size_t i = 0; i < n; ++i)
        expectElementError(f, x[i], deq[i], scale);
    }
  }
  float z[3] = {0.0f, 0.0f, 0.0f}, scale;
  uint8_t c[3];
  ASSERT_EQ(lq_quantize_group_fp8(LQ_FORMAT_FP8_E4M3, z, 3, &scale, c), 0);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(lq_quantize_group_fp8(LQ_FORMAT_MXFP4, z, 3, &scale, c), -1);
}

TEST(Nf4, GroupQuantizer) {
  float x[8] = {0.5f, -2.0f, 1.0f, 0.0f, 2.0f, -0.1f, 1.5f, -1.0f};
  float scale, deq[8];
  uint8_t codes[8];
  lq_quantize_group_nf4(x, 8, &scale, codes);
  EXPECT_EQ(scale, 2.0f);
  EXPECT_EQ(codes[1], 0);
  EXPECT_EQ(codes[3], 7);
  EXPECT_EQ(codes[4], 15);
  lq_dequantize_group_nf4(codes, 8, scale, deq);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(codes[i], lq_nf4_from_f32(x[i] / 2.0f));
    // Nearest code: no other codebook entry is closer.
    for (int c = 0; c < 16; ++c)
      EXPECT_LE(std::fabs(deq[i] - x[i]),
                std::fabs(lq_nf4_codebook[c] * scale - x[i]) + 1e-6f);
  }
  float z[4] = {};
  lq_quantize_group_nf4(z, 4, &scale, codes);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(codes[0], 7);
}

} // namespace
