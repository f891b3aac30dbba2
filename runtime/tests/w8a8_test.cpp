//===- w8a8_test.cpp - int8 x int8 GEMM vs an int64 reference ------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_rt_gemm_w8a8 on every ISA against sum_k xq * wq in int64, followed by
// the documented epilogue float(acc) * (sx * sw) (+ bias): results must be
// bit-identical to it (and so across ISAs), on odd M/N/K, per-tensor and
// per-token scales, with and without bias, strided rows, and codes at the
// ends of the int8 range (including sums whose VNNI partials wrap).
//
//===----------------------------------------------------------------------===//

#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace {

struct Problem {
  int64_t M, N, K, ldx, ldc;
  bool perToken, withBias;
  std::vector<int8_t> x, w, packed;
  std::vector<float> sx, sw, bias;
};

Problem make(int64_t M, int64_t N, int64_t K, bool perToken, bool withBias,
             std::mt19937 &rng, int64_t padX = 0, int64_t padC = 0) {
  Problem p{M, N, K, K + padX, N + padC, perToken, withBias, {}, {}, {}, {},
            {}, {}};
  std::uniform_int_distribution<int> code(-128, 127);
  std::uniform_real_distribution<float> scale(1e-3f, 2e-2f), b(-1.0f, 1.0f);
  p.x.resize(size_t(M * p.ldx));
  for (int8_t &v : p.x)
    v = int8_t(code(rng));
  p.w.resize(size_t(N * K));
  for (int8_t &v : p.w)
    v = int8_t(code(rng));
  p.sx.resize(size_t(perToken ? M : 1));
  for (float &s : p.sx)
    s = scale(rng);
  p.sw.resize(size_t(N));
  for (float &s : p.sw)
    s = scale(rng);
  if (withBias) {
    p.bias.resize(size_t(N));
    for (float &v : p.bias)
      v = b(rng);
  }
  p.packed.resize(size_t(lq_rt_packed_w8a8_size(N, K)));
  lq_rt_pack_w8a8(p.w.data(), N, K, p.packed.data());
  return p;
}

/// Exact int64 sums, then the epilogue of <lq_rt/kernels.h>.
std::vector<float> reference(const Problem &p) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  std::vector<float> c(size_t(p.M * p.ldc), -7.0f);
  for (int64_t m = 0; m < p.M; ++m)
    for (int64_t n = 0; n < p.N; ++n) {
      int64_t acc = 0;
      for (int64_t k = 0; k < p.K; ++k)
        acc += int64_t(p.x[m * p.ldx + k]) * int64_t(p.w[n * p.K + k]);
      EXPECT_LT(acc < 0 ? -acc : acc, int64_t(1) << 31);
      const float s = p.sx[p.perToken ? m : 0] * p.sw[n];
      float y = float(int32_t(acc)) * s;
      if (p.withBias)
        y = y + p.bias[n];
      c[m * p.ldc + n] = y;
    }
  return c;
}

std::vector<float> run(const Problem &p) {
  std::vector<float> c(size_t(p.M * p.ldc), -7.0f);
  EXPECT_EQ(lq_rt_gemm_w8a8(p.M, p.N, p.K, p.x.data(), p.ldx, p.sx.data(),
                            p.perToken, p.packed.data(), p.sw.data(),
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

class W8A8PerIsa : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!lq_rt_force_isa(GetParam()))
      GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }
  void TearDown() override { lq_rt_force_isa(nullptr); }
};

TEST_P(W8A8PerIsa, MatchesInt64ReferenceExactly) {
  std::mt19937 rng(11);
  // Decode (1..4 rows) and prefill rows (tails of the 8- and 3-row tiles),
  // N around the 16-column panels and 32-column pairs, K around the 4-deep
  // blocks and the 4-way unrolling.
  const int64_t Ms[] = {1, 2, 3, 4, 5, 8, 11, 19};
  const int64_t Ns[] = {1, 15, 16, 17, 33, 70};
  const int64_t Ks[] = {1, 3, 4, 6, 31, 64, 129, 259};
  int cases = 0;
  for (int64_t M : Ms)
    for (int64_t N : Ns)
      for (int64_t K : Ks) {
        // Every shape once; the four scale/bias variants in turn.
        const bool perToken = (cases & 1) != 0, withBias = (cases & 2) != 0;
        const int64_t pad = cases % 3 == 0 ? 5 : 0;
        Problem p = make(M, N, K, perToken, withBias, rng, pad, pad);
        expectSame(run(p), reference(p),
                   std::string(lq_rt_w8a8_isa()) + " M=" + std::to_string(M) +
                       " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                       (perToken ? " per-token" : " per-tensor") +
                       (withBias ? " bias" : ""));
        ++cases;
      }
}

TEST_P(W8A8PerIsa, ExtremeCodesAndLongRows) {
  // x = 127 (255 after VNNI's +128) against w = -128 over K = 100000: the
  // u8 x s8 partial sums pass -2^31 and wrap; the result must not.
  std::mt19937 rng(5);
  for (int64_t M : {1, 9}) {
    Problem p = make(M, 17, 100000, true, true, rng);
    std::fill(p.x.begin(), p.x.end(), int8_t(127));
    for (int64_t i = 0; i < int64_t(p.w.size()); ++i)
      p.w[size_t(i)] = i % 7 == 3 ? int8_t(127) : int8_t(-128);
    lq_rt_pack_w8a8(p.w.data(), p.N, p.K, p.packed.data());
    expectSame(run(p), reference(p), std::string(lq_rt_w8a8_isa()) + " extreme");
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, W8A8PerIsa,
                         ::testing::Values("avx512", "avx2", "scalar"),
                         [](const auto &info) {
                           return std::string(info.param);
                         });

TEST(W8A8, AllIsasAgreeBitForBit) {
  std::mt19937 rng(3);
  for (int64_t M : {1, 4, 13}) {
    Problem p = make(M, 45, 333, true, true, rng);
    std::vector<float> first;
    std::string firstIsa;
    for (const char *isa : {"avx512", "avx2", "scalar"}) {
      if (!lq_rt_force_isa(isa))
        continue;
      std::vector<float> c = run(p);
      if (first.empty()) {
        first = c;
        firstIsa = lq_rt_w8a8_isa();
      } else {
        expectSame(c, first, std::string(lq_rt_w8a8_isa()) + " vs " + firstIsa);
      }
    }
    lq_rt_force_isa(nullptr);
  }
}

TEST(W8A8, SameWithOneAndTwoThreads) {
  std::mt19937 rng(9);
  const int saved = lq_rt_get_num_threads();
  for (int64_t M : {1, 64}) {
    // Large enough to split over threads (>= 2^20 multiply-adds).
    Problem p = make(M, 300, 1100, M > 1, false, rng);
    lq_rt_set_num_threads(1);
    std::vector<float> one = run(p);
    lq_rt_set_num_threads(2);
    expectSame(run(p), one, "two threads");
    expectSame(one, reference(p), "one thread");
  }
  lq_rt_set_num_threads(saved);
}

TEST(W8A8, PackedLayout) {
  const int64_t N = 18, K = 6;
  std::vector<int8_t> w(size_t(N * K));
  for (int64_t i = 0; i < N * K; ++i)
    w[size_t(i)] = int8_t(i % 251 - 120);
  ASSERT_EQ(lq_rt_w8a8_panel_bytes(K), 64 + 2 * 64);
  ASSERT_EQ(lq_rt_packed_w8a8_size(N, K), 2 * (64 + 2 * 64));
  std::vector<int8_t> out(size_t(lq_rt_packed_w8a8_size(N, K)), 99);
  lq_rt_pack_w8a8(w.data(), N, K, out.data());
  const int64_t pb = lq_rt_w8a8_panel_bytes(K);
  for (int64_t n = 0; n < 32; ++n) {
    const int8_t *panel = out.data() + (n / 16) * pb;
    int32_t comp, want = 0;
    std::memcpy(&comp, panel + 4 * (n % 16), 4);
    for (int64_t k = 0; k < 8; ++k) {
      const int8_t v = n < N && k < K ? w[size_t(n * K + k)] : 0;
      want += 128 * v;
      EXPECT_EQ(panel[64 + (k / 4) * 64 + 4 * (n % 16) + k % 4], v)
          << "n=" << n << " k=" << k;
    }
    EXPECT_EQ(comp, want) << "n=" << n;
  }
}

TEST(W8A8, RejectsBadArguments) {
  int8_t x[8] = {}, packed[256] = {};
  float s[4] = {1, 1, 1, 1}, c[8];
  EXPECT_EQ(lq_rt_gemm_w8a8(-1, 1, 1, x, 1, s, 0, packed, s, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w8a8(1, 1, 4, x, 3, s, 0, packed, s, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w8a8(1, 2, 1, x, 1, s, 0, packed, s, nullptr, c, 1), -1);
  EXPECT_EQ(lq_rt_gemm_w8a8(1, 1, 131072, x, 131072, s, 0, packed, s, nullptr,
                            c, 1),
            -1);
  EXPECT_EQ(lq_rt_gemm_w8a8(1, 1, 1, x, 1, nullptr, 0, packed, s, nullptr, c, 1),
            -1);
  // K = 0: an empty sum, C = bias.
  float bias[2] = {0.5f, -2.0f};
  EXPECT_EQ(lq_rt_gemm_w8a8(1, 2, 0, nullptr, 0, s, 0, packed, s, bias, c, 2), 0);
  EXPECT_EQ(c[0], 0.5f);
  EXPECT_EQ(c[1], -2.0f);
}

} // namespace
