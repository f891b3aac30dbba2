//===- bf16_test.cpp - BF16-weight GEMM vs a float64 reference -----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_rt_gemm_bf16 with each kernel forced (widen: AVX-512F, AVX2+FMA,
// scalar; dpbf16: AVX-512 BF16's vdpbf16ps) against a float64 sum over the
// exactly widened bf16 weights, on random shapes: M = 1..9 and larger,
// N around the 16-column panels, K odd and not a multiple of 16/32, strided
// rows, with and without bias. The widen kernels keep the activations
// exact; the dpbf16 reference rounds them to bf16 first (lq_bf16_from_f32,
// nearest even), as the kernel does. Either way the only error left is f32
// summation, bounded here by 2^-21 * sqrt(K) * sum_k |x_k w_k| (a few
// times the expected f32 rounding walk); an activation left unrounded in
// the dpbf16 path (or rounded in the widen path) misses by ~2^-9 relative
// and fails. Also: the bf16 codec, the packed layout, threads, the
// automatic choice and argument checks.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

struct Problem {
  int64_t M, N, K, lda, ldc;
  std::vector<float> a, bias;
  std::vector<uint16_t> w, packed;
};

Problem make(int64_t M, int64_t N, int64_t K, bool withBias, std::mt19937 &rng,
             int64_t pad = 0) {
  Problem p{M, N, K, K + pad, N + pad, {}, {}, {}, {}};
  std::normal_distribution<float> nd(0.0f, 1.0f);
  p.a.resize(size_t(M * p.lda));
  for (float &v : p.a)
    v = nd(rng);
  p.w.resize(size_t(N * K));
  for (uint16_t &v : p.w)
    v = lq_bf16_from_f32(0.05f * nd(rng));
  if (withBias) {
    p.bias.resize(size_t(N));
    for (float &v : p.bias)
      v = nd(rng);
  }
  p.packed.assign(size_t(lq_rt_packed_bf16_size(N, K) / 2), 0xFFFF);
  lq_rt_pack_bf16(p.w.data(), N, K, p.packed.data());
  return p;
}

std::vector<float> run(const Problem &p) {
  std::vector<float> c(size_t(p.M * p.ldc), -7.0f);
  EXPECT_EQ(lq_rt_gemm_bf16(p.M, p.N, p.K, p.a.data(), p.lda, p.packed.data(),
                            p.bias.empty() ? nullptr : p.bias.data(), c.data(),
                            p.ldc),
            0);
  return c;
}

/// Checks c against the float64 reference (activations rounded to bf16
/// when `roundX`), and that padding columns were not written.
void check(const Problem &p, const std::vector<float> &c, bool roundX,
           const std::string &what) {
  int bad = 0;
  for (int64_t m = 0; m < p.M; ++m) {
    for (int64_t n = 0; n < p.N; ++n) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < p.K; ++k) {
        float x = p.a[size_t(m * p.lda + k)];
        if (roundX)
          x = lq_bf16_to_f32(lq_bf16_from_f32(x));
        const double t = double(x) * lq_bf16_to_f32(p.w[size_t(n * p.K + k)]);
        s += t;
        mag += std::fabs(t);
      }
      if (!p.bias.empty()) {
        s += p.bias[size_t(n)];
        mag += std::fabs(p.bias[size_t(n)]);
      }
      const double tol =
          std::ldexp(1.0, -21) * std::sqrt(double(p.K) + 1) * mag + 1e-30;
      const float got = c[size_t(m * p.ldc + n)];
      if (!(std::fabs(got - s) <= tol) && bad++ < 3)
        ADD_FAILURE() << what << ": C[" << m << ", " << n << "] = " << got
                      << ", expected " << s << " (tolerance " << tol << ")";
    }
    for (int64_t n = p.N; n < p.ldc; ++n)
      if (c[size_t(m * p.ldc + n)] != -7.0f && bad++ < 3)
        ADD_FAILURE() << what << ": wrote padding column " << n;
  }
  EXPECT_EQ(bad, 0) << what;
}

class Bf16PerKernel : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!lq_rt_force_bf16_isa(GetParam()))
      GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }
  void TearDown() override { lq_rt_force_bf16_isa(nullptr); }
  bool dot() const { return !std::strcmp(GetParam(), "avx512-bf16"); }
};

TEST_P(Bf16PerKernel, MatchesFloat64Reference) {
  std::mt19937 rng(17);
  // Decode rows 1..4, prefill rows 5..9 and the 8-row tile's tails; N
  // around the 16-column panels, the 2- and 4-panel tiles; K odd, around
  // the 2-deep blocks, and not a multiple of 16 or 32.
  const int64_t Ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 33};
  const int64_t Ns[] = {1, 7, 16, 17, 40, 67};
  const int64_t Ks[] = {1, 2, 3, 15, 33, 100, 257};
  int cases = 0;
  for (int64_t M : Ms)
    for (int64_t N : Ns)
      for (int64_t K : Ks) {
        const bool withBias = cases & 1;
        const int64_t pad = cases % 3 == 0 ? 3 : 0;
        Problem p = make(M, N, K, withBias, rng, pad);
        ASSERT_STREQ(lq_rt_bf16_isa(M), GetParam());
        check(p, run(p), dot(),
              std::string(GetParam()) + " M=" + std::to_string(M) +
                  " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                  (withBias ? " bias" : "") + (pad ? " strided" : ""));
        ++cases;
      }
}

TEST_P(Bf16PerKernel, LargerShapes) {
  // Long rows (K = 4099) and a wide layer, through the thread pool.
  std::mt19937 rng(23);
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 130, 4099},
                         {3, 300, 1025},
                         {64, 97, 511}}) {
    Problem p = make(M, N, K, true, rng);
    check(p, run(p), dot(),
          std::string(GetParam()) + " M=" + std::to_string(M) +
              " N=" + std::to_string(N) + " K=" + std::to_string(K));
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Bf16PerKernel,
                         ::testing::Values("avx512-bf16", "avx512", "avx2",
                                           "scalar"),
                         [](const auto &info) {
                           std::string s = info.param;
                           for (char &ch : s)
                             if (ch == '-')
                               ch = '_';
                           return s;
                         });

TEST(Bf16, CodecRoundsToNearestEven) {
  auto bits = [](float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return u;
  };
  auto fromBits = [](uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  };
  // Exact values, ties to even both ways, just above/below a tie.
  EXPECT_EQ(lq_bf16_from_f32(1.0f), 0x3F80);
  EXPECT_EQ(lq_bf16_from_f32(-2.5f), 0xC020);
  EXPECT_EQ(lq_bf16_from_f32(fromBits(0x3F808000u)), 0x3F80); // tie, even down
  EXPECT_EQ(lq_bf16_from_f32(fromBits(0x3F818000u)), 0x3F82); // tie, even up
  EXPECT_EQ(lq_bf16_from_f32(fromBits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(lq_bf16_from_f32(fromBits(0x3F807FFFu)), 0x3F80);
  // Overflow to Inf (IEEE), Inf and signed zero kept, subnormals rounded.
  EXPECT_EQ(lq_bf16_from_f32(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(lq_bf16_from_f32(fromBits(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_EQ(lq_bf16_from_f32(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(lq_bf16_from_f32(-0.0f), 0x8000);
  EXPECT_EQ(lq_bf16_from_f32(fromBits(0x00018000u)), 0x0002);
  // NaN stays NaN (quiet, sign kept), even with only low payload bits.
  for (uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFF80FFFFu, 0x7FFFFFFFu}) {
    const uint16_t c = lq_bf16_from_f32(fromBits(nan));
    EXPECT_TRUE(std::isnan(lq_bf16_to_f32(c))) << std::hex << nan;
    EXPECT_EQ(c >> 15, nan >> 31);
  }
  // Every finite code round-trips, and decoding is exact (a shift).
  for (uint32_t c = 0; c < 65536; ++c) {
    const float x = lq_bf16_to_f32(uint16_t(c));
    ASSERT_EQ(bits(x), c << 16);
    if (!std::isnan(x))
      ASSERT_EQ(lq_bf16_from_f32(x), c);
  }
  // Against the nearest of the two neighbours on random floats.
  std::mt19937 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const float x = fromBits(rng() & 0xBFFFFFFFu); // finite, < 2^64
    const uint16_t c = lq_bf16_from_f32(x);
    const double lo = lq_bf16_to_f32(uint16_t(bits(x) >> 16));
    const double hi = lq_bf16_to_f32(uint16_t((bits(x) >> 16) + 1));
    const double d = std::fabs(double(x) - lq_bf16_to_f32(c));
    ASSERT_LE(d, std::min(std::fabs(x - lo), std::fabs(x - hi)));
  }
  EXPECT_STREQ(lq_format_name(LQ_FORMAT_BF16), "bf16");
  EXPECT_EQ(lq_format_element_bits(LQ_FORMAT_BF16, 0), 16u);
  EXPECT_EQ(lq_format_required_group(LQ_FORMAT_BF16), 0);
}

TEST(Bf16, PackedLayout) {
  const int64_t N = 18, K = 5;
  std::vector<uint16_t> w(size_t(N * K));
  for (int64_t i = 0; i < N * K; ++i)
    w[size_t(i)] = uint16_t(1000 + i);
  // 2 panels x 3 blocks x 64 bytes.
  ASSERT_EQ(lq_rt_packed_bf16_size(N, K), 2 * 3 * 64);
  std::vector<uint16_t> out(size_t(lq_rt_packed_bf16_size(N, K) / 2), 99);
  lq_rt_pack_bf16(w.data(), N, K, out.data());
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t j = 0; j < 16; ++j)
        for (int64_t i = 0; i < 2; ++i) {
          const int64_t n = 16 * p + j, k = 2 * b + i;
          EXPECT_EQ(out[size_t((p * 3 + b) * 32 + 2 * j + i)],
                    n < N && k < K ? w[size_t(n * K + k)] : 0)
              << "panel " << p << " block " << b << " column " << j;
        }
}

TEST(Bf16, SameWithOneAndTwoThreads) {
  std::mt19937 rng(9);
  const int saved = lq_rt_get_num_threads();
  for (int64_t M : {1, 64}) {
    Problem p = make(M, 300, 1100, false, rng);
    lq_rt_set_num_threads(1);
    std::vector<float> one = run(p);
    lq_rt_set_num_threads(2);
    std::vector<float> two = run(p);
    EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * 4));
    check(p, one, !std::strcmp(lq_rt_bf16_isa(M), "avx512-bf16"), "threads");
  }
  lq_rt_set_num_threads(saved);
}

TEST(Bf16, AutomaticChoice) {
  lq_rt_force_bf16_isa(nullptr);
  // Decode keeps exact activations whatever the CPU; prefill uses
  // vdpbf16ps where the CPU has it and the ISA is AVX-512.
  EXPECT_STRNE(lq_rt_bf16_isa(1), "avx512-bf16");
  EXPECT_STRNE(lq_rt_bf16_isa(LQ_RT_BF16_DOT_MIN_ROWS - 1), "avx512-bf16");
  const bool hasDot = lq_rt_force_bf16_isa("avx512-bf16");
  lq_rt_force_bf16_isa(nullptr);
  if (hasDot && !std::strcmp(lq_rt_isa(), "avx512"))
    EXPECT_STREQ(lq_rt_bf16_isa(LQ_RT_BF16_DOT_MIN_ROWS), "avx512-bf16");
  else
    EXPECT_STREQ(lq_rt_bf16_isa(LQ_RT_BF16_DOT_MIN_ROWS), lq_rt_isa());
  // lq_rt_force_isa steers it like the other kernels.
  if (lq_rt_force_isa("avx2")) {
    EXPECT_STREQ(lq_rt_bf16_isa(64), "avx2");
    lq_rt_force_isa(nullptr);
  }
  EXPECT_EQ(lq_rt_force_bf16_isa("sse"), 0);
}

TEST(Bf16, RejectsBadArguments) {
  std::vector<float> a(16), c(16);
  std::vector<uint16_t> w(64);
  EXPECT_EQ(lq_rt_gemm_bf16(-1, 1, 1, a.data(), 1, w.data(), nullptr, c.data(), 1), -1);
  EXPECT_EQ(lq_rt_gemm_bf16(1, 1, 4, a.data(), 3, w.data(), nullptr, c.data(), 1), -1);
  EXPECT_EQ(lq_rt_gemm_bf16(1, 4, 1, a.data(), 1, w.data(), nullptr, c.data(), 3), -1);
  EXPECT_EQ(lq_rt_gemm_bf16(1, 1, 1, nullptr, 1, w.data(), nullptr, c.data(), 1), -1);
  EXPECT_EQ(lq_rt_gemm_bf16(1, 1, 1, a.data(), 1, nullptr, nullptr, c.data(), 1), -1);
  EXPECT_EQ(lq_rt_gemm_bf16(0, 1, 1, nullptr, 1, nullptr, nullptr, nullptr, 1), 0);
  // K = 0: C = bias.
  const float bias[2] = {1.5f, -2.0f};
  EXPECT_EQ(lq_rt_gemm_bf16(2, 2, 0, nullptr, 0, nullptr, bias, c.data(), 2), 0);
  EXPECT_EQ(c[0], 1.5f);
  EXPECT_EQ(c[3], -2.0f);
}

} // namespace
