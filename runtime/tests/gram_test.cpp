//===- gram_test.cpp - lq_rt_gram_accumulate vs a float64 reference -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq_rt/gram.h"
#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

class GramPerIsa : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!lq_rt_force_isa(GetParam()))
      GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }
  void TearDown() override { lq_rt_force_isa(nullptr); }
};

// Several calls (accumulation), odd sizes around the 256-wide block rows and
// the GEMV path (M <= 4), row-major and transposed (strided) inputs.
TEST_P(GramPerIsa, AccumulatesLowerTriangleOfXtX) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int64_t shapes[][2] = {{1, 1}, {3, 5}, {17, 64}, {5, 255}, {9, 257},
                               {33, 300}, {130, 520}};
  for (auto [M, K] : shapes) {
    for (bool transposed : {false, true}) {
      std::vector<double> H(size_t(K * K), 0.0), ref(size_t(K * K), 0.0);
      for (int call = 0; call < 3; ++call) {
        std::vector<float> x(size_t(M * K));
        for (float &v : x)
          v = d(rng) * (1.0f + float(call));
        const int64_t sm = transposed ? 1 : K, sk = transposed ? M : 1;
        lq_rt_gram_accumulate(M, K, x.data(), sm, sk, H.data());
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j <= i; ++j) {
            double s = 0;
            for (int64_t m = 0; m < M; ++m)
              s += double(x[m * sm + i * sk]) * double(x[m * sm + j * sk]);
            ref[i * K + j] += s;
          }
      }
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < K; ++j) {
          if (j > i) {
            ASSERT_EQ(H[i * K + j], 0.0) << "upper triangle written at " << i
                                         << "," << j << " M=" << M << " K=" << K;
            continue;
          }
          // Float sums over M products of values ~3 in magnitude.
          double tol = 1e-5 * (9.0 * double(M)) + 1e-6;
          ASSERT_NEAR(H[i * K + j], ref[i * K + j], tol)
              << "M=" << M << " K=" << K << " at " << i << "," << j;
        }
      lq_rt_gram_symmetrize(K, H.data());
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < i; ++j)
          ASSERT_EQ(H[j * K + i], H[i * K + j]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, GramPerIsa,
                         ::testing::Values("avx512", "avx2", "scalar"));

} // namespace
