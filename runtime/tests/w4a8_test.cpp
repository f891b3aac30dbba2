//===- w4a8_test.cpp - int8 x int4 GEMM vs references --------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_rt_gemm_w4a8 on every ISA against
//  - a float64 evaluation of the math, y = sx sum_g sw sum_{k in g} x (q - z)
//    (+ bias), within f32 rounding, and
//  - the documented f32 steps (exact int64 group sums, then
//    f = f + float(d) * sw per group, y = f * sx + bias): bit-identical, and
//    so the same on every ISA,
// on odd M and N, K multiples of G = 8/32/64/128, symmetric and asymmetric
// codes, per-tensor and per-token scales, with and without bias, strided
// rows, and codes at the ends of their ranges.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Problem {
  int64_t M, N, K, G, ldx, ldc;
  bool asym, perToken, withBias;
  std::vector<int8_t> x, q, packed;
  std::vector<int32_t> z;
  std::vector<float> sx, sw, bias;
};

void pack(Problem &p) {
  p.packed.assign(size_t(lq_rt_packed_w4a8_size(p.N, p.K, p.G, p.asym)), 99);
  ASSERT_EQ(lq_rt_pack_w4a8(p.q.data(), p.sw.data(),
                            p.asym ? p.z.data() : nullptr, p.N, p.K, p.G,
                            p.packed.data()),
            0);
}

Problem make(int64_t M, int64_t N, int64_t K, int64_t G, bool asym,
             bool perToken, bool withBias, std::mt19937 &rng,
             int64_t pad = 0) {
  Problem p{M,    N,        K,        G,  K + pad, N + pad, asym, perToken,
            withBias, {}, {}, {}, {}, {}, {}, {}};
  std::uniform_int_distribution<int> xcode(-128, 127), scode(-8, 7),
      ucode(0, 15);
  std::uniform_real_distribution<float> scale(1e-3f, 2e-2f), b(-1.0f, 1.0f);
  p.x.resize(size_t(M * p.ldx));
  for (int8_t &v : p.x)
    v = int8_t(xcode(rng));
  p.q.resize(size_t(N * K));
  for (int8_t &v : p.q)
    v = int8_t(asym ? ucode(rng) : scode(rng));
  const int64_t nG = K / G;
  if (asym) {
    p.z.resize(size_t(N * nG));
    for (int32_t &v : p.z)
      v = ucode(rng);
  }
  p.sx.resize(size_t(perToken ? M : 1));
  for (float &s : p.sx)
    s = scale(rng);
  p.sw.resize(size_t(N * nG));
  for (float &s : p.sw)
    s = scale(rng);
  if (withBias) {
    p.bias.resize(size_t(N));
    for (float &v : p.bias)
      v = b(rng);
  }
  pack(p);
  return p;
}

int64_t groupSum(const Problem &p, int64_t m, int64_t n, int64_t g) {
  int64_t acc = 0;
  const int64_t z = p.asym ? p.z[size_t(n * (p.K / p.G) + g)] : 0;
  for (int64_t k = g * p.G; k < (g + 1) * p.G; ++k)
    acc += int64_t(p.x[size_t(m * p.ldx + k)]) *
           (int64_t(p.q[size_t(n * p.K + k)]) - z);
  return acc;
}

/// The documented f32 steps over exact int64 group sums.
std::vector<float> stepsReference(const Problem &p) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  std::vector<float> c(size_t(p.M * p.ldc), -7.0f);
  const int64_t nG = p.K / p.G;
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.N; ++n) {
      float f = 0.0f;
      for (int64_t g = 0; g < nG; ++g) {
        const float prod =
            float(int32_t(groupSum(p, m, n, g))) * p.sw[size_t(n * nG + g)];
        f = f + prod;
      }
      float y = f * p.sx[p.perToken ? m : 0];
      if (p.withBias)
        y = y + p.bias[n];
      c[m * p.ldc + n] = y;
    }
  return c;
}

/// The math in float64.
std::vector<double> mathReference(const Problem &p) {
  std::vector<double> c(size_t(p.M * p.ldc), -7.0);
  const int64_t nG = p.K / p.G;
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.N; ++n) {
      double y = 0;
      for (int64_t g = 0; g < nG; ++g)
        y += double(p.sw[size_t(n * nG + g)]) * double(groupSum(p, m, n, g));
      y *= p.sx[p.perToken ? m : 0];
      if (p.withBias)
        y += p.bias[n];
      c[m * p.ldc + n] = y;
    }
  return c;
}

std::vector<float> run(const Problem &p) {
  std::vector<float> c(size_t(p.M * p.ldc), -7.0f);
  EXPECT_EQ(lq_rt_gemm_w4a8(p.M, p.N, p.K, p.x.data(), p.ldx, p.sx.data(),
                            p.perToken, p.packed.data(), p.G, p.asym,
                            p.withBias ? p.bias.data() : nullptr, c.data(),
                            p.ldc),
            0);
  return c;
}

/// Bit-exact, padding columns untouched.
void expectSame(const std::vector<float> &got, const std::vector<float> &want,
                const std::string &what) {
  ASSERT_EQ(got.size(), want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0 && bad++ < 3)
      ADD_FAILURE() << what << ": element " << i << " is " << got[i]
                    << ", expected " << want[i];
  EXPECT_EQ(bad, 0u) << what;
}

/// Within f32 rounding of the float64 value: a few ulps of the magnitudes
/// summed (the group products and the bias), relative 1e-6.
void expectClose(const std::vector<float> &got, const Problem &p,
                 const std::string &what) {
  const std::vector<double> want = mathReference(p);
  ASSERT_EQ(got.size(), want.size());
  size_t bad = 0;
  const int64_t nG = p.K / p.G;
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.ldc; ++n) {
      const size_t i = size_t(m * p.ldc + n);
      double mag = 0;
      if (n < p.N) {
        for (int64_t g = 0; g < nG; ++g)
          mag += std::fabs(double(p.sw[size_t(n * nG + g)]) *
                           double(groupSum(p, m, n, g)));
        mag *= p.sx[p.perToken ? m : 0];
        if (p.withBias)
          mag += std::fabs(p.bias[n]);
      }
      const double tol = n < p.N ? 4e-7 * (nG + 2) * mag + 1e-30 : 0.0;
      if (std::fabs(double(got[i]) - want[i]) > tol && bad++ < 3)
        ADD_FAILURE() << what << ": element " << i << " is " << got[i]
                      << ", float64 " << want[i] << " (tol " << tol << ")";
    }
  EXPECT_EQ(bad, 0u) << what;
}

class W4A8PerIsa : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!lq_rt_force_isa(GetParam()))
      GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }
  void TearDown() override { lq_rt_force_isa(nullptr); }
};

TEST_P(W4A8PerIsa, MatchesReferences) {
  std::mt19937 rng(17);
  // Decode (1..4 rows) and prefill rows (tails of the 8- and 4-row tiles),
  // N around the 16-column panels and 32-column pairs, K = 1..3 groups of
  // each G (block counts odd and even for the 2-block unrolling).
  const int64_t Ms[] = {1, 2, 3, 4, 5, 9, 13};
  const int64_t Ns[] = {1, 15, 17, 33, 70};
  const int64_t Gs[] = {8, 32, 64, 128};
  int cases = 0;
  for (int64_t M : Ms)
    for (int64_t N : Ns)
      for (int64_t G : Gs)
        for (int64_t nG : {1, 3}) {
          const int64_t K = G * nG;
          const bool asym = (cases & 1) != 0, perToken = (cases & 2) != 0,
                     withBias = (cases & 4) != 0;
          const int64_t pad = cases % 3 == 0 ? 5 : 0;
          Problem p =
              make(M, N, K, G, asym, perToken, withBias, rng, pad);
          const std::string what =
              std::string(lq_rt_w4a8_isa()) + " M=" + std::to_string(M) +
              " N=" + std::to_string(N) + " K=" + std::to_string(K) +
              " G=" + std::to_string(G) + (asym ? " asym" : " sym") +
              (perToken ? " per-token" : " per-tensor") +
              (withBias ? " bias" : "");
          const std::vector<float> c = run(p);
          expectSame(c, stepsReference(p), what);
          expectClose(c, p, what);
          ++cases;
        }
}

TEST_P(W4A8PerIsa, ExtremeCodes) {
  // x = -128 against u = 15 and 0 (q = 7 / -8 symmetric, z = 0 / 15
  // asymmetric): the largest group sums, and the int16 pairs of AVX2's
  // vpmaddubsw at their bound.
  std::mt19937 rng(5);
  for (bool asym : {false, true})
    for (int64_t M : {1, 9}) {
      Problem p = make(M, 19, 4096, 128, asym, true, true, rng);
      std::fill(p.x.begin(), p.x.end(), int8_t(-128));
      for (size_t i = 0; i < p.q.size(); ++i)
        p.q[i] = asym ? (i % 5 == 2 ? 0 : 15) : (i % 5 == 2 ? -8 : 7);
      for (size_t i = 0; i < p.z.size(); ++i)
        p.z[i] = i % 2 ? 0 : 15;
      pack(p);
      const std::vector<float> c = run(p);
      const std::string what = std::string(lq_rt_w4a8_isa()) + " extreme" +
                               (asym ? " asym" : " sym");
      expectSame(c, stepsReference(p), what);
      expectClose(c, p, what);
    }
}

INSTANTIATE_TEST_SUITE_P(Isas, W4A8PerIsa,
                         ::testing::Values("avx512", "avx2", "scalar"),
                         [](const auto &info) {
                           return std::string(info.param);
                         });

TEST(W4A8, AllIsasAgreeBitForBit) {
  std::mt19937 rng(3);
  for (int64_t M : {1, 4, 13})
    for (bool asym : {false, true}) {
      Problem p = make(M, 45, 384, 128, asym, true, true, rng);
      std::vector<float> first;
      std::string firstIsa;
      for (const char *isa : {"avx512", "avx2", "scalar"}) {
        if (!lq_rt_force_isa(isa))
          continue;
        std::vector<float> c = run(p);
        if (first.empty()) {
          first = c;
          firstIsa = lq_rt_w4a8_isa();
        } else {
          expectSame(c, first,
                     std::string(lq_rt_w4a8_isa()) + " vs " + firstIsa);
        }
      }
      lq_rt_force_isa(nullptr);
    }
}

TEST(W4A8, SameWithOneAndTwoThreads) {
  std::mt19937 rng(9);
  const int saved = lq_rt_get_num_threads();
  for (int64_t M : {1, 64}) {
    // Large enough to split over threads (>= 2^20 multiply-adds).
    Problem p = make(M, 300, 1024, 64, M > 1, M > 1, false, rng);
    lq_rt_set_num_threads(1);
    std::vector<float> one = run(p);
    lq_rt_set_num_threads(2);
    expectSame(run(p), one, "two threads");
    expectSame(one, stepsReference(p), "one thread");
  }
  lq_rt_set_num_threads(saved);
}

TEST(W4A8, PackedLayout) {
  const int64_t N = 18, K = 32, G = 16;
  std::vector<int8_t> q(size_t(N * K));
  for (int64_t i = 0; i < N * K; ++i)
    q[size_t(i)] = int8_t(i % 16);
  std::vector<int32_t> z(size_t(N * 2));
  std::vector<float> s(size_t(N * 2));
  for (int64_t i = 0; i < N * 2; ++i) {
    z[size_t(i)] = int32_t(i % 13);
    s[size_t(i)] = 0.5f + float(i);
  }
  // Per group: 64 B scales + 64 B zero points + 2 blocks of 64 B.
  ASSERT_EQ(lq_rt_w4a8_panel_bytes(K, G, 1), 2 * (64 + 64 + 2 * 64));
  ASSERT_EQ(lq_rt_w4a8_panel_bytes(K, G, 0), 2 * (64 + 2 * 64));
  ASSERT_EQ(lq_rt_packed_w4a8_size(N, K, G, 1), 2 * 2 * (64 + 64 + 2 * 64));
  std::vector<int8_t> out(size_t(lq_rt_packed_w4a8_size(N, K, G, 1)), 99);
  ASSERT_EQ(lq_rt_pack_w4a8(q.data(), s.data(), z.data(), N, K, G, out.data()),
            0);
  const int64_t pb = lq_rt_w4a8_panel_bytes(K, G, 1), gb = pb / 2;
  for (int64_t n = 0; n < 32; ++n)
    for (int64_t g = 0; g < 2; ++g) {
      const int8_t *grp = out.data() + (n / 16) * pb + g * gb;
      float sw;
      int32_t zp;
      std::memcpy(&sw, grp + 4 * (n % 16), 4);
      std::memcpy(&zp, grp + 64 + 4 * (n % 16), 4);
      EXPECT_EQ(sw, n < N ? s[size_t(n * 2 + g)] : 0.0f) << n;
      EXPECT_EQ(zp, n < N ? z[size_t(n * 2 + g)] : 0) << n;
      for (int64_t k = 0; k < G; ++k) {
        const uint8_t b =
            uint8_t(grp[128 + (k / 8) * 64 + 4 * (n % 16) + k % 4]);
        const int want = n < N ? q[size_t(n * K + g * G + k)] : 0;
        EXPECT_EQ(k % 8 < 4 ? (b & 15) : (b >> 4), want)
            << "n=" << n << " k=" << k;
      }
    }
  // Symmetric codes are stored as q + 8.
  std::vector<int8_t> qs(size_t(N * K), -8);
  std::vector<int8_t> sym(size_t(lq_rt_packed_w4a8_size(N, K, G, 0)));
  ASSERT_EQ(lq_rt_pack_w4a8(qs.data(), s.data(), nullptr, N, K, G, sym.data()),
            0);
  EXPECT_EQ(sym[64], 0);
}

TEST(W4A8, RejectsBadArguments) {
  int8_t x[64] = {}, packed[512] = {};
  float s[4] = {1, 1, 1, 1}, c[8];
  // Negative sizes, groups not a multiple of 8 or not tiling K, short rows.
  EXPECT_EQ(lq_rt_gemm_w4a8(-1, 1, 8, x, 8, s, 0, packed, 8, 0, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w4a8(1, 1, 12, x, 12, s, 0, packed, 12, 0, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w4a8(1, 1, 24, x, 24, s, 0, packed, 16, 0, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w4a8(1, 1, 8, x, 7, s, 0, packed, 8, 0, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w4a8(1, 2, 8, x, 8, s, 0, packed, 8, 0, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w4a8(1, 1, 1 << 20, x, 1 << 20, s, 0, packed, 8, 0,
                            nullptr, c, 1),
            -1);
  EXPECT_EQ(lq_rt_gemm_w4a8(1, 1, 8, x, 8, nullptr, 0, packed, 8, 0, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_w4a8_panel_bytes(24, 16, 0), -1);
  // Codes and zero points out of range.
  int8_t q[8] = {8, 0, 0, 0, 0, 0, 0, 0};
  int32_t z[1] = {0};
  EXPECT_EQ(lq_rt_pack_w4a8(q, s, nullptr, 1, 8, 8, packed), -1);
  q[0] = -1;
  EXPECT_EQ(lq_rt_pack_w4a8(q, s, z, 1, 8, 8, packed), -1);
  q[0] = 0;
  z[0] = 16;
  EXPECT_EQ(lq_rt_pack_w4a8(q, s, z, 1, 8, 8, packed), -1);
  // K = 0: an empty sum, C = bias.
  float bias[2] = {0.5f, -2.0f};
  EXPECT_EQ(lq_rt_gemm_w4a8(1, 2, 0, nullptr, 0, s, 0, packed, 8, 0, bias, c, 2), 0);
  EXPECT_EQ(c[0], 0.5f);
  EXPECT_EQ(c[1], -2.0f);
}

} // namespace
