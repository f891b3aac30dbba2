//===- hadamard_test.cpp - Hadamard matrices and the fast transform -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq_rt/hadamard.h"
#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

TEST(Hadamard, BaseMatricesAreHadamard) {
  std::vector<int64_t> orders = {1, 2};
  for (int k = 0; k < LQ_RT_HADAMARD_NUM_ORDERS; ++k)
    orders.push_back(lq_rt_hadamard_orders[k]);
  for (int64_t m : orders) {
    const int8_t *h = lq_rt_hadamard_matrix(m);
    ASSERT_NE(h, nullptr) << m;
    for (int64_t i = 0; i < m * m; ++i)
      ASSERT_TRUE(h[i] == 1 || h[i] == -1) << "m=" << m << " entry " << i;
    // H H^T = m I, exactly.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < m; ++j) {
        int64_t dot = 0;
        for (int64_t k = 0; k < m; ++k)
          dot += h[i * m + k] * h[j * m + k];
        ASSERT_EQ(dot, i == j ? m : 0) << "m=" << m << " rows " << i << "," << j;
      }
  }
  EXPECT_EQ(lq_rt_hadamard_matrix(3), nullptr);
  EXPECT_EQ(lq_rt_hadamard_matrix(44), nullptr);
}

TEST(Hadamard, Factor) {
  EXPECT_EQ(lq_rt_hadamard_factor(1), 1);
  EXPECT_EQ(lq_rt_hadamard_factor(4096), 1);
  EXPECT_EQ(lq_rt_hadamard_factor(768), 12);   // GPT-2 / BERT hidden
  EXPECT_EQ(lq_rt_hadamard_factor(11008), 172); // Llama-2 7B intermediate
  EXPECT_EQ(lq_rt_hadamard_factor(14336), 28);  // Llama-3 8B intermediate
  EXPECT_EQ(lq_rt_hadamard_factor(5120), 20);   // 40 * 128 = 20 * 256
  EXPECT_EQ(lq_rt_hadamard_factor(13824), 108); // Llama-2 13B intermediate
  EXPECT_EQ(lq_rt_hadamard_factor(156), 156);
  EXPECT_EQ(lq_rt_hadamard_factor(0), 0);
  EXPECT_EQ(lq_rt_hadamard_factor(-8), 0);
  EXPECT_EQ(lq_rt_hadamard_factor(72), 36);
  EXPECT_EQ(lq_rt_hadamard_factor(88), 0);
  EXPECT_EQ(lq_rt_hadamard_factor(44), 0);
  EXPECT_EQ(lq_rt_hadamard_factor(12 * 5), 60);
}

/// y = H_B x / sqrt(B) in float64 from the definition in <lq_rt/hadamard.h>.
std::vector<double> reference(const float *x, int64_t B) {
  const int64_t m = lq_rt_hadamard_factor(B), P = B / m;
  const int8_t *h = lq_rt_hadamard_matrix(m);
  std::vector<double> y(B, 0.0);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t a = i / m, c = i % m;
    double s = 0;
    for (int64_t j = 0; j < B; ++j) {
      const int64_t ap = j / m, cp = j % m;
      const int sign = __builtin_popcountll(uint64_t(a & ap)) & 1 ? -1 : 1;
      s += sign * h[c * m + cp] * double(x[j]);
    }
    y[i] = s / std::sqrt(double(B));
  }
  return y;
}

class HadamardPerIsa : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!lq_rt_force_isa(GetParam()))
      GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }
  void TearDown() override { lq_rt_force_isa(nullptr); }
};

TEST_P(HadamardPerIsa, MatchesDenseFloat64Reference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  struct Case { int64_t rows, n, block; };
  std::vector<Case> cases = {{1, 1, 0},  {3, 2, 0},     {5, 8, 0},   {1, 16, 0},
                             {7, 32, 0}, {3, 256, 64},  {1, 1024, 0}, {3, 96, 32},
                             {1, 4096, 0}};
  // Every base order, alone and times 2 and 8 (several blocks per row).
  for (int k = 0; k < LQ_RT_HADAMARD_NUM_ORDERS; ++k) {
    const int64_t m = lq_rt_hadamard_orders[k];
    cases.push_back({3, m, 0});
    cases.push_back({1, 2 * m, 0});
    cases.push_back({5, 3 * 8 * m, 8 * m});
  }
  for (const Case &c : cases) {
    const int64_t B = c.block > 0 ? c.block : c.n, stride = c.n + 3;
    std::vector<float> x(c.rows * stride);
    for (float &v : x)
      v = d(rng);
    std::vector<float> y = x;
    ASSERT_EQ(lq_rt_hadamard_f32(c.rows, c.n, c.block, y.data(), stride), 0)
        << "n=" << c.n << " block=" << c.block;
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t b0 = 0; b0 < c.n; b0 += B) {
        std::vector<double> ref = reference(x.data() + r * stride + b0, B);
        for (int64_t i = 0; i < B; ++i)
          ASSERT_NEAR(y[r * stride + b0 + i], ref[i], 2e-5 * std::sqrt(double(B)) + 1e-5)
              << "n=" << c.n << " block=" << B << " row " << r << " at " << b0 + i;
      }
      for (int64_t i = c.n; i < stride; ++i) // padding untouched
        ASSERT_EQ(y[r * stride + i], x[r * stride + i]);
    }
  }
}

TEST_P(HadamardPerIsa, OrthogonalAndThreaded) {
  // Large enough to run on the thread pool: rows x 11008 (172 * 64).
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int64_t rows = 9, n = 11008;
  std::vector<float> x(rows * n);
  for (float &v : x)
    v = d(rng);
  std::vector<float> y = x;
  ASSERT_EQ(lq_rt_hadamard_f32(rows, n, 0, y.data(), n), 0);
  for (int64_t r = 0; r < rows; ++r) {
    double nx = 0, ny = 0;
    for (int64_t i = 0; i < n; ++i) {
      nx += double(x[r * n + i]) * x[r * n + i];
      ny += double(y[r * n + i]) * y[r * n + i];
    }
    ASSERT_NEAR(ny, nx, 1e-4 * nx) << "row " << r;
  }
  std::vector<double> ref = reference(x.data() + 4 * n, n);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_NEAR(y[4 * n + i], ref[i], 1e-4) << i;
  // Powers of two: the transform is its own inverse.
  std::vector<float> z(3 * 2048);
  for (float &v : z)
    v = d(rng);
  std::vector<float> w = z;
  ASSERT_EQ(lq_rt_hadamard_f32(3, 2048, 128, w.data(), 2048), 0);
  ASSERT_EQ(lq_rt_hadamard_f32(3, 2048, 128, w.data(), 2048), 0);
  for (size_t i = 0; i < z.size(); ++i)
    ASSERT_NEAR(w[i], z[i], 1e-5) << i;
}

TEST(Hadamard, RejectsUnsupportedSizes) {
  std::vector<float> x(64, 1.0f);
  EXPECT_EQ(lq_rt_hadamard_f32(1, 44, 0, x.data(), 44), -1);
  EXPECT_EQ(lq_rt_hadamard_f32(1, 48, 32, x.data(), 48), -1); // 32 does not divide 48
  EXPECT_EQ(lq_rt_hadamard_f32(1, 24, 0, x.data(), 24), 0);   // 2 * 12
  for (int i = 24; i < 64; ++i)
    ASSERT_EQ(x[i], 1.0f);
}

INSTANTIATE_TEST_SUITE_P(Isa, HadamardPerIsa,
                         ::testing::Values("avx512", "avx2", "scalar"));

} // namespace
