//===- kernels_test.cpp - CPU kernels vs float64 references -------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//

#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<float> randomVector(size_t n, std::mt19937 &rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

/// Runs the test body once per ISA this CPU supports.
class PerIsa : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    if (!lq_rt_force_isa(GetParam()))
      GTEST_SKIP() << GetParam() << " is not supported on this CPU";
  }
  void TearDown() override { lq_rt_force_isa(nullptr); }
};

/// C [M, N] (row stride ldc) = A [M, K] x B [N, K]^T against float64, and
/// the padding columns between C's rows (set to -7) untouched.
void expectGemm(int64_t M, int64_t N, int64_t K, const std::vector<float> &A,
                int64_t lda, const std::vector<float> &B, int64_t ldb,
                const std::vector<float> &C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        ref += double(A[m * lda + k]) * B[n * ldb + k];
        mag += std::fabs(double(A[m * lda + k]) * B[n * ldb + k]);
      }
      ASSERT_NEAR(C[m * ldc + n], ref, 1e-5 * (mag + 1))
          << "M=" << M << " N=" << N << " K=" << K << " at " << m << "," << n;
    }
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = N; n < ldc; ++n)
      ASSERT_EQ(C[m * ldc + n], -7.0f);
}

TEST_P(PerIsa, SgemmMatchesFloat64Reference) {
  std::mt19937 rng(42);
  // Decode (M <= 4), prefill, tails in every dimension, strided rows.
  const int64_t shapes[][3] = {{1, 1, 1},    {1, 768, 256}, {3, 37, 19},
                               {4, 130, 65}, {5, 33, 17},   {8, 64, 256},
                               {37, 100, 77}, {64, 257, 129}, {1, 5, 0}};
  for (auto &s : shapes) {
    int64_t M = s[0], N = s[1], K = s[2];
    int64_t lda = K + 3, ldb = K + 1, ldc = N + 2;
    auto A = randomVector(M * lda, rng), B = randomVector(N * ldb, rng);
    std::vector<float> C(M * ldc, -7.0f);
    lq_rt_sgemm_nt(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc);
    expectGemm(M, N, K, A, lda, B, ldb, C, ldc);
  }
}

TEST_P(PerIsa, PackedSgemmMatchesFloat64Reference) {
  std::mt19937 rng(43);
  // Every M of the decode path, micro-tile row tails (12 and 6 rows),
  // panel tails (N not a multiple of 16 or 32), an odd panel count, K = 0.
  const int64_t shapes[][3] = {{1, 1, 1},     {1, 768, 256}, {2, 37, 19},
                               {3, 130, 65},  {4, 16, 7},    {5, 33, 17},
                               {13, 48, 256}, {37, 100, 77}, {64, 257, 129},
                               {7, 5, 0},     {1, 4096, 33}};
  for (auto &s : shapes) {
    int64_t M = s[0], N = s[1], K = s[2];
    int64_t lda = K + 3, ldc = N + 2;
    auto A = randomVector(M * lda, rng), B = randomVector(N * K, rng);
    std::vector<float> P(lq_rt_packed_f32_size(N, K), 99.0f);
    lq_rt_pack_f32_panels(B.data(), N, K, P.data());
    std::vector<float> C(M * ldc, -7.0f);
    lq_rt_sgemm_packed(M, N, K, A.data(), lda, P.data(), C.data(), ldc);
    expectGemm(M, N, K, A, lda, B, K, C, ldc);
  }
}

lq_rt_view4_t contiguous(std::vector<float> &v, int64_t a, int64_t b, int64_t c,
                         int64_t d) {
  v.resize(a * b * c * d);
  return {v.data(), {a, b, c, d}, {b * c * d, c * d, d, 1}};
}

TEST_P(PerIsa, AttentionMatchesFloat64Reference) {
  std::mt19937 rng(7);
  // pos >= 0: a fixed-capacity cache (lq_rt_attention_at_f32) whose
  // unwritten keys/values (index >= pos + T) hold NaN, to prove they are
  // never read.
  struct Case { int64_t B, Hq, Hkv, T, S, D, Dv; int causal; int64_t pos; };
  const Case cases[] = {{1, 8, 4, 8, 8, 32, 32, 1, -1}, {2, 4, 2, 3, 11, 16, 8, 1, -1},
                        {1, 2, 2, 5, 5, 17, 33, 0, -1}, {1, 4, 1, 1, 9, 32, 32, 1, -1},
                        {1, 2, 1, 4, 2, 8, 8, 1, -1},   {1, 8, 4, 1, 64, 32, 32, 1, 0},
                        {1, 8, 4, 1, 64, 32, 32, 1, 37}, {2, 4, 2, 5, 19, 16, 8, 1, 3},
                        {1, 4, 2, 3, 17, 8, 8, 0, 6},    {1, 2, 1, 2, 9, 8, 8, 1, 7},
                        // Prefill chunks (T >= 8: both products as GEMMs),
                        // with odd head dims, value widths past a panel,
                        // a static cache and no causal mask.
                        {1, 4, 2, 9, 9, 17, 33, 1, -1},  {2, 6, 3, 12, 20, 32, 40, 1, -1},
                        {1, 4, 2, 10, 30, 16, 16, 1, 5}, {1, 2, 2, 16, 16, 8, 8, 0, -1},
                        {1, 8, 4, 8, 64, 32, 32, 0, 20},
                        // Long decode steps: keys in blocks of a vector's
                        // width, values four at a time, then the tails;
                        // 1-8 rows per KV head, a causal chunk of 2, head
                        // dims that are and are not a vector's multiple.
                        {1, 8, 4, 1, 150, 32, 32, 1, -1}, {1, 16, 4, 2, 70, 64, 64, 1, 60},
                        {1, 8, 8, 1, 40, 16, 16, 1, -1},  {1, 8, 4, 1, 50, 24, 24, 1, 48},
                        {2, 6, 2, 1, 45, 32, 16, 0, -1},  {1, 10, 2, 1, 60, 32, 32, 1, -1},
                        {1, 14, 2, 1, 40, 32, 32, 1, -1}, {1, 12, 2, 1, 37, 64, 64, 1, 30}};
  for (const Case &c : cases) {
    std::vector<float> q, k, v, o;
    auto qv = contiguous(q, c.B, c.Hq, c.T, c.D), kv = contiguous(k, c.B, c.Hkv, c.S, c.D),
         vv = contiguous(v, c.B, c.Hkv, c.S, c.Dv), ov = contiguous(o, c.B, c.Hq, c.T, c.Dv);
    q = randomVector(q.size(), rng);
    k = randomVector(k.size(), rng);
    v = randomVector(v.size(), rng);
    const int64_t pos = c.pos >= 0 ? c.pos : c.S - c.T;
    for (int64_t bh = 0; bh < c.B * c.Hkv; ++bh)
      for (int64_t s = pos + c.T; s < c.S; ++s) {
        for (int64_t d = 0; d < c.D; ++d)
          k[(bh * c.S + s) * c.D + d] = NAN;
        for (int64_t d = 0; d < c.Dv; ++d)
          v[(bh * c.S + s) * c.Dv + d] = NAN;
      }
    qv.data = q.data();
    kv.data = k.data();
    vv.data = v.data();
    float scale = 1.0f / std::sqrt(float(c.D));
    if (c.pos >= 0)
      lq_rt_attention_at_f32(&qv, &kv, &vv, &ov, scale, c.causal, c.pos);
    else
      lq_rt_attention_f32(&qv, &kv, &vv, &ov, scale, c.causal);
    int64_t group = c.Hq / c.Hkv;
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t h = 0; h < c.Hq; ++h)
        for (int64_t t = 0; t < c.T; ++t) {
          int64_t hk = h / group;
          std::vector<double> p(c.S, 0.0);
          double mx = -INFINITY, sum = 0;
          int64_t visible =
              std::min(c.S, c.causal ? pos + t + 1 : pos + c.T);
          for (int64_t s = 0; s < visible; ++s) {
            double dot = 0;
            for (int64_t d = 0; d < c.D; ++d)
              dot += double(q[((b * c.Hq + h) * c.T + t) * c.D + d]) *
                     k[((b * c.Hkv + hk) * c.S + s) * c.D + d];
            p[s] = dot * scale;
            mx = std::max(mx, p[s]);
          }
          for (int64_t s = 0; s < visible; ++s)
            sum += (p[s] = std::exp(p[s] - mx));
          for (int64_t e = 0; e < c.Dv; ++e) {
            double ref = 0;
            for (int64_t s = 0; s < visible; ++s)
              ref += p[s] / sum * v[((b * c.Hkv + hk) * c.S + s) * c.Dv + e];
            if (visible <= 0)
              ref = 0;
            ASSERT_NEAR(o[((b * c.Hq + h) * c.T + t) * c.Dv + e], ref, 2e-5)
                << "case T=" << c.T << " S=" << c.S << " pos=" << c.pos
                << " h=" << h << " t=" << t;
          }
        }
  }
}

TEST_P(PerIsa, AttentionReadsStridedViews) {
  // q as a transposed view of [B, T, H, D] storage, as models produce it.
  std::mt19937 rng(3);
  const int64_t B = 1, H = 2, T = 3, D = 8;
  auto qs = randomVector(B * T * H * D, rng);
  std::vector<float> qc(B * H * T * D);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d)
        qc[(h * T + t) * D + d] = qs[(t * H + h) * D + d];
  std::vector<float> k, v, o1, o2, qcopy = qc;
  auto kv = contiguous(k, B, H, T, D), vv = contiguous(v, B, H, T, D);
  k = randomVector(k.size(), rng);
  v = randomVector(v.size(), rng);
  kv.data = k.data();
  vv.data = v.data();
  auto ov1 = contiguous(o1, B, H, T, D), ov2 = contiguous(o2, B, H, T, D);
  lq_rt_view4_t strided = {qs.data(), {B, H, T, D}, {T * H * D, D, H * D, 1}};
  std::vector<float> dummy;
  lq_rt_view4_t dense = contiguous(dummy, B, H, T, D);
  dense.data = qcopy.data();
  lq_rt_attention_f32(&strided, &kv, &vv, &ov1, 0.3f, 1);
  lq_rt_attention_f32(&dense, &kv, &vv, &ov2, 0.3f, 1);
  for (size_t i = 0; i < o1.size(); ++i)
    ASSERT_FLOAT_EQ(o1[i], o2[i]);
}

TEST(Threads, SgemmIsTheSameWithOneAndTwoThreads) {
  std::mt19937 rng(1);
  const int64_t M = 33, N = 70, K = 48;
  auto A = randomVector(M * K, rng), B = randomVector(N * K, rng);
  std::vector<float> C1(M * N), C2(M * N);
  int saved = lq_rt_get_num_threads();
  lq_rt_set_num_threads(1);
  lq_rt_sgemm_nt(M, N, K, A.data(), K, B.data(), K, C1.data(), N);
  lq_rt_set_num_threads(2);
  EXPECT_EQ(lq_rt_get_num_threads(), 2);
  lq_rt_sgemm_nt(M, N, K, A.data(), K, B.data(), K, C2.data(), N);
  lq_rt_set_num_threads(saved);
  EXPECT_EQ(C1, C2);
}

INSTANTIATE_TEST_SUITE_P(Isa, PerIsa,
                         ::testing::Values("avx512", "avx2", "scalar"),
                         [](const auto &info) { return std::string(info.param); });

} // namespace
