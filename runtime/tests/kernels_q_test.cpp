//===- kernels_q_test.cpp - Quantized linear vs float64 reference -*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// lq_rt_qgemm_nt on every ISA against a float64 matmul of the weight that
// <lq_rt/formats.h>'s reference codecs quantize and dequantize.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/formats.h"
#include "lq_rt/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

enum class Kind { Int8Sym, Int8Asym, Int4Sym, Int4Asym, NF4, MXFP4, NVFP4, E4M3, E5M2 };

const char *name(Kind k) {
  switch (k) {
  case Kind::Int8Sym: return "int8-sym";
  case Kind::Int8Asym: return "int8-asym";
  case Kind::Int4Sym: return "int4-sym";
  case Kind::Int4Asym: return "int4-asym";
  case Kind::NF4: return "nf4";
  case Kind::MXFP4: return "mxfp4";
  case Kind::NVFP4: return "nvfp4";
  case Kind::E4M3: return "fp8_e4m3";
  case Kind::E5M2: return "fp8_e5m2";
  }
  return "?";
}

/// A weight quantized with formats.h, in the kernel's layout, plus its
/// reference dequantization.
struct QWeight {
  int32_t format = LQ_FORMAT_INT, bits = 8;
  int64_t N = 0, K = 0, group = 0, rowBytes = 0;
  std::vector<uint8_t> codes;
  std::vector<float> scales, biases; // biases empty when symmetric
  std::vector<float> ref;             // dequantized [N][K]
  std::vector<double> absBias;        // |bias| per element, for tolerances
};

QWeight quantize(Kind kind, int64_t N, int64_t K, int64_t group,
                 std::mt19937 &rng) {
  QWeight q;
  const bool asym = kind == Kind::Int8Asym || kind == Kind::Int4Asym;
  const bool fp4 = kind == Kind::MXFP4 || kind == Kind::NVFP4;
  const bool fp8 = kind == Kind::E4M3 || kind == Kind::E5M2;
  q.format = kind == Kind::NF4     ? LQ_FORMAT_NF4
             : kind == Kind::MXFP4 ? LQ_FORMAT_MXFP4
             : kind == Kind::NVFP4 ? LQ_FORMAT_NVFP4
             : kind == Kind::E4M3  ? LQ_FORMAT_FP8_E4M3
             : kind == Kind::E5M2  ? LQ_FORMAT_FP8_E5M2
                                   : LQ_FORMAT_INT;
  q.bits = (kind == Kind::Int8Sym || kind == Kind::Int8Asym || fp8) ? 8 : 4;
  q.N = N;
  q.K = K;
  q.group = group;
  q.rowBytes = int64_t(lq_packed_size(size_t(K), unsigned(q.bits)));
  const int64_t G = K / group;
  q.codes.assign(size_t(N * q.rowBytes), 0);
  q.scales.resize(size_t(N * G));
  if (asym)
    q.biases.resize(size_t(N * G));
  q.ref.resize(size_t(N * K));
  q.absBias.assign(size_t(N * K), 0.0);
  // Offsets make asymmetric groups really asymmetric.
  std::uniform_real_distribution<float> d(-1.0f, 1.0f), off(-0.5f, 1.5f);
  std::vector<float> w(static_cast<size_t>(group));
  std::vector<uint8_t> rowCodes(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      float o = asym ? off(rng) : 0.0f;
      for (float &x : w)
        x = d(rng) + o;
      float scale;
      int32_t zp = 0;
      uint8_t *c = rowCodes.data() + g * group;
      float *r = q.ref.data() + n * K + g * group;
      if (kind == Kind::NF4) {
        lq_quantize_group_nf4(w.data(), size_t(group), &scale, c);
        lq_dequantize_group_nf4(c, size_t(group), scale, r);
      } else if (fp8) {
        // Any finite FP8 code (NaN/Inf codes never come out of a quantizer).
        scale = std::fabs(d(rng)) + 0.05f;
        for (int64_t k = 0; k < group; ++k) {
          float v;
          do {
            c[k] = uint8_t(rng() & 255);
            v = kind == Kind::E4M3 ? lq_fp8_e4m3fn_to_f32(c[k])
                                   : lq_fp8_e5m2_to_f32(c[k]);
          } while (!std::isfinite(v));
          r[k] = v * scale;
        }
      } else if (fp4) {
        // Any E2M1 code with any positive f32 scale (the compiler folds
        // E8M0 / E4M3 block scales and NVFP4's tensor scale into it).
        scale = std::fabs(d(rng)) + 0.05f;
        for (int64_t k = 0; k < group; ++k) {
          c[k] = uint8_t(rng() & 15);
          r[k] = lq_fp4_e2m1_to_f32(c[k]) * scale;
        }
      } else {
        lq_quantize_group_int(w.data(), size_t(group), unsigned(q.bits), !asym,
                              &scale, &zp, c);
        lq_dequantize_group_int(c, size_t(group), unsigned(q.bits), !asym,
                                scale, zp, r);
      }
      q.scales[n * G + g] = scale;
      if (asym) {
        q.biases[n * G + g] = -float(zp) * scale;
        for (int64_t k = 0; k < group; ++k)
          q.absBias[n * K + g * group + k] = std::fabs(double(zp) * scale);
      }
    }
    lq_pack_bits(rowCodes.data(), size_t(K), unsigned(q.bits),
                 q.codes.data() + n * q.rowBytes);
  }
  return q;
}

std::vector<float> randomVector(size_t n, std::mt19937 &rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

/// Row n of the float64 reference for activations x, and the magnitude
/// sum_k |x_k| (|w_nk| + |b_nk|) that tolerances scale with.
struct RefRow {
  double value = 0, mag = 0;
};
RefRow referenceRow(const QWeight &q, const float *x, int64_t n) {
  RefRow r;
  for (int64_t k = 0; k < q.K; ++k) {
    const double w = q.ref[size_t(n * q.K + k)];
    r.value += double(x[k]) * w;
    r.mag += std::fabs(double(x[k])) * (std::fabs(w) + q.absBias[size_t(n * q.K + k)]);
  }
  return r;
}

/// Set while the int16-activation decode GEMV may run (lq_rt_qgemv_i16):
/// checkLinear then allows its documented error on top of the f32 one.
bool i16Active = false;

/// The activations' segment of the int16 GEMV as <lq_rt/kernels.h> states
/// it under lq_rt_qgemv_i16 (the group up to 256 codes, else the largest of
/// 256, 128, 64 dividing it; 64 for groups of 32), or 0 where the kernel
/// does not apply.
int64_t i16Segment(int64_t K, int64_t group) {
  if (K % group != 0 || K % 64 != 0)
    return 0;
  if (group == 32)
    return 64;
  if (group % 64 != 0)
    return 0;
  if (group <= 256)
    return group;
  return group % 256 == 0 ? 256 : group % 128 == 0 ? 128 : 64;
}

/// Bound on the int16 GEMV's extra error for one output: each activation is
/// off by at most (1/2 + 2^-7) of its segment's step max|x| / 32767 (the
/// half step plus f32 roundings), times |q * s| <= |w| + |b| (the zero
/// points' term uses f32 sums of x).
double i16Bound(const QWeight &q, const float *x, int64_t n) {
  const int64_t K = q.K, seg = i16Segment(K, q.group);
  if (seg == 0)
    return 0.0;
  double bound = 0;
  for (int64_t k0 = 0; k0 < K; k0 += seg) {
    double m = 0, w = 0;
    for (int64_t k = k0; k < k0 + seg; ++k) {
      m = std::max(m, double(std::fabs(x[k])));
      w += std::fabs(q.ref[size_t(n * K + k)]) + q.absBias[size_t(n * K + k)];
    }
    bound += w * m / 65534.0;
  }
  return bound * 1.02; // (1/2 + 2^-7) / (1/2) < 1.02
}

/// Runs the kernel with padded strides and checks every output against the
/// float64 reference, and that padding stays untouched.
void checkLinear(const QWeight &q, int64_t M, std::mt19937 &rng) {
  const int64_t N = q.N, K = q.K, lda = K + 3, ldc = N + 2;
  auto A = randomVector(size_t(M * lda), rng);
  std::vector<float> C(size_t(M * ldc), -7.0f);
  ASSERT_EQ(lq_rt_qgemm_nt(M, N, K, A.data(), lda, q.codes.data(),
                           q.scales.data(),
                           q.biases.empty() ? nullptr : q.biases.data(),
                           q.format, q.bits, q.group, C.data(), ldc),
            0);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      const RefRow ref = referenceRow(q, &A[m * lda], n);
      const double extra =
          i16Active && M == 1 && q.format == LQ_FORMAT_INT ? i16Bound(q, &A[m * lda], n) : 0.0;
      ASSERT_NEAR(C[m * ldc + n], ref.value, 1e-5 * (ref.mag + 1) + extra)
          << "M=" << M << " N=" << N << " K=" << K << " group=" << q.group
          << " at " << m << "," << n;
    }
    for (int64_t n = N; n < ldc; ++n)
      ASSERT_EQ(C[m * ldc + n], -7.0f);
  }
}

struct Case {
  Kind kind;
  int64_t group; // 0: per channel
};

class QPerIsa : public ::testing::TestWithParam<std::tuple<const char *, Case>> {
protected:
  // "avx512-i16": the avx512 kernels with the integer decode GEMV on int16
  // activations (and vdpbf16ps for the other 4-bit formats);
  // "avx512-bf16": the 4-bit decode GEMV through vdpbf16ps, no int16 GEMV;
  // "avx512": the f32 GEMVs only.
  void SetUp() override {
    const std::string isa = std::get<0>(GetParam());
    const bool i16 = isa == "avx512-i16", dp = i16 || isa == "avx512-bf16";
    if (!lq_rt_force_isa(dp ? "avx512" : isa.c_str()))
      GTEST_SKIP() << isa << " is not supported on this CPU";
    // The int16 cases need VNNI only (BF16 is used where present, for the
    // formats the int16 kernel does not take).
    const int dpOn = lq_rt_qgemv_dpbf16(dp ? 1 : 0);
    if ((!i16 && dpOn != (dp ? 1 : 0)) || lq_rt_qgemv_i16(i16 ? 1 : 0) != (i16 ? 1 : 0))
      GTEST_SKIP() << isa << " is not supported on this CPU";
    i16Active = i16;
  }
  void TearDown() override {
    lq_rt_force_isa(nullptr);
    lq_rt_qgemv_dpbf16(1);
    lq_rt_qgemv_i16(1);
    i16Active = false;
  }
};

TEST_P(QPerIsa, MatchesFloat64Reference) {
  const Case c = std::get<1>(GetParam());
  std::mt19937 rng(1234 + unsigned(c.kind) * 7 + unsigned(c.group));
  std::uniform_int_distribution<int64_t> nDist(1, 70), gDist(1, 4),
      kDist(1, 160);
  for (int64_t M : {1, 3, 17}) {
    for (int rep = 0; rep < 3; ++rep) {
      const int64_t N = rep == 0 ? 33 : nDist(rng);
      int64_t K, group;
      if (c.group > 0) {
        K = c.group * gDist(rng);
        group = c.group;
      } else {
        // Per channel: any K, odd ones and ones below a vector included.
        K = rep == 0 ? 77 : rep == 1 ? 5 : kDist(rng);
        group = K;
      }
      QWeight q = quantize(c.kind, N, K, group, rng);
      SCOPED_TRACE(std::string(name(c.kind)) + " M=" + std::to_string(M) +
                   " N=" + std::to_string(N) + " K=" + std::to_string(K));
      checkLinear(q, M, rng);
    }
  }
}

TEST_P(QPerIsa, LongRowsManyGroups) {
  // Several groups per row, N of two and a half 16-row tiles: both paths,
  // with per-group scales changing inside a prefill K block; M = 64 is ten
  // whole 6-row prefill tiles and a tail of 4.
  const Case c = std::get<1>(GetParam());
  std::mt19937 rng(99);
  const int64_t K = c.group > 0 ? c.group * (640 / c.group) : 600;
  QWeight q = quantize(c.kind, 45, K, c.group > 0 ? c.group : K, rng);
  for (int64_t M : {2, 9, 64})
    checkLinear(q, M, rng);
}

TEST_P(QPerIsa, PrefillSpansSeveralBlocks) {
  // Prefill blocks K by 1024 (whole groups for groups that are not whole
  // 32-code chunks) and rows of x by 128: K of two to three blocks (the
  // partial sums accumulate across them, per-channel and small-group spans
  // cross them) and M = 130 (two row blocks, the second of 2 rows).
  const Case c = std::get<1>(GetParam());
  std::mt19937 rng(2024);
  const int64_t K = c.group > 0 ? c.group * ((2100 + c.group - 1) / c.group) : 2100;
  QWeight q = quantize(c.kind, 21, K, c.group > 0 ? c.group : K, rng);
  for (int64_t M : {9, 130})
    checkLinear(q, M, rng);
}

TEST_P(QPerIsa, DecodeRowsBothSidesOfTheRowGemvLimits) {
  // M = 1 decode: rows shorter than 4096 bytes go one row at a time (8-bit
  // ones, and 4-bit ones from 1024 bytes), other rows four at a time: K on
  // both sides of 2048, 4096 and 8192 codes. Odd N leaves a tail of blocks,
  // and N * K is large enough for the rows to be split between threads.
  const Case c = std::get<1>(GetParam());
  std::mt19937 rng(4096);
  std::vector<int64_t> ks;
  for (int64_t b : {2048, 4096, 8192}) {
    if (c.group > 0) {
      ks.push_back(c.group * (b / c.group));
      ks.push_back(c.group * (b / c.group + 1));
    } else {
      ks.push_back(b - 13);
      ks.push_back(b + 77);
    }
  }
  for (int64_t K : ks) {
    QWeight q = quantize(c.kind, 37, K, c.group > 0 ? c.group : K, rng);
    SCOPED_TRACE(std::string(name(c.kind)) + " K=" + std::to_string(K));
    checkLinear(q, 1, rng);
  }
}

const Case kCases[] = {
    {Kind::Int8Sym, 32},  {Kind::Int8Sym, 128},  {Kind::Int8Sym, 0},
    {Kind::Int8Asym, 32}, {Kind::Int8Asym, 128}, {Kind::Int8Asym, 0},
    {Kind::Int4Sym, 32},  {Kind::Int4Sym, 64},   {Kind::Int4Sym, 128},
    {Kind::Int4Sym, 0},   {Kind::Int4Asym, 32},  {Kind::Int4Asym, 128},
    {Kind::Int4Asym, 0},  {Kind::NF4, 32},       {Kind::NF4, 64},
    {Kind::NF4, 0},       {Kind::MXFP4, 32},     {Kind::NVFP4, 16},
    {Kind::MXFP4, 0},     {Kind::Int4Asym, 16},  {Kind::Int8Sym, 16},
    {Kind::Int4Sym, 8},   {Kind::E4M3, 0},       {Kind::E5M2, 0},
    {Kind::E4M3, 32},     {Kind::E5M2, 16},
    // Groups that are not whole 32-code chunks, several per row: the
    // prefill's K blocks are whole groups (48 x 21, 40 x 25) instead of 1024.
    {Kind::Int4Asym, 48}, {Kind::Int8Asym, 40},
    // Three chunks per group: the decode GEMV's scale counter.
    {Kind::Int8Sym, 96},  {Kind::Int4Sym, 96},
};

INSTANTIATE_TEST_SUITE_P(
    Isa, QPerIsa,
    ::testing::Combine(::testing::Values("avx512-i16", "avx512-bf16", "avx512", "avx2",
                                         "scalar"),
                       ::testing::ValuesIn(kCases)),
    [](const auto &info) {
      const Case &c = std::get<1>(info.param);
      std::string s = std::string(std::get<0>(info.param)) + "_" + name(c.kind) +
                      "_" + (c.group ? "g" + std::to_string(c.group) : "perchannel");
      for (char &ch : s)
        if (ch == '-')
          ch = '_';
      return s;
    });

TEST(QGemm, Dpbf16GemvDiffersOnlyByTheActivationSplit) {
  // The vdpbf16ps GEMV runs (its result is not bit-identical to the f32
  // kernel's) and differs from it by no more than the split activations'
  // error, 2^-18 |x| each, plus f32 rounding: for every row,
  // |y_bf16 - y_f32| <= 2^-17 * sum |x| |w|.
  if (!lq_rt_force_isa("avx512") || !lq_rt_qgemv_dpbf16(1)) {
    lq_rt_force_isa(nullptr);
    GTEST_SKIP() << "no AVX-512 BF16 on this CPU";
  }
  lq_rt_qgemv_i16(0); // the int4 rows would take the int16 GEMV
  std::mt19937 rng(77);
  // Rows of 1 KB (one at a time), 256 B and 4 KB (blocks of four rows).
  struct DpCase {
    Case c;
    int64_t K;
  };
  for (const DpCase dc : {DpCase{{Kind::Int4Sym, 32}, 2048}, DpCase{{Kind::Int4Asym, 128}, 2048},
                          DpCase{{Kind::MXFP4, 32}, 512}, DpCase{{Kind::Int4Sym, 0}, 8192},
                          DpCase{{Kind::Int4Asym, 64}, 8192}}) {
    const Case c = dc.c;
    const Kind kind = c.kind;
    const int64_t N = 29, K = dc.K, group = c.group ? c.group : K;
    QWeight q = quantize(kind, N, K, group, rng);
    auto x = randomVector(size_t(K), rng);
    std::vector<float> yDp(static_cast<size_t>(N)), yF32(static_cast<size_t>(N));
    auto run = [&](std::vector<float> &y) {
      ASSERT_EQ(lq_rt_qgemm_nt(1, N, K, x.data(), K, q.codes.data(), q.scales.data(),
                               q.biases.empty() ? nullptr : q.biases.data(),
                               q.format, q.bits, group, y.data(), N),
                0);
    };
    lq_rt_qgemv_dpbf16(1);
    run(yDp);
    lq_rt_qgemv_dpbf16(0);
    run(yF32);
    bool differs = false;
    for (int64_t n = 0; n < N; ++n) {
      double mag = 0;
      for (int64_t k = 0; k < K; ++k)
        mag += std::fabs(x[size_t(k)]) *
               (std::fabs(q.ref[size_t(n * K + k)]) + q.absBias[size_t(n * K + k)]);
      EXPECT_LE(std::fabs(double(yDp[size_t(n)]) - yF32[size_t(n)]), mag * 0x1p-17)
          << name(kind) << " row " << n;
      differs |= yDp[size_t(n)] != yF32[size_t(n)];
    }
    EXPECT_TRUE(differs) << name(kind) << " K=" << K << ": the vdpbf16ps kernel did not run";
  }
  lq_rt_qgemv_dpbf16(1);
  lq_rt_qgemv_i16(1);
  lq_rt_force_isa(nullptr);
}

/// The int16-activation GEMV on the shapes it takes (K and the group
/// multiples of 64 codes): against float64 within its documented bound
/// (per-segment activation ranges, here with an outlier 1000x the rest in
/// one segment), and differing from the f32 kernel, so it did run.
TEST(QGemm, I16GemvWithinItsActivationBound) {
  if (!lq_rt_force_isa("avx512") || !lq_rt_qgemv_i16(1)) {
    lq_rt_force_isa(nullptr);
    GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  }
  std::mt19937 rng(1616);
  struct I16Case {
    Kind kind;
    int64_t K, group; // group 0: per channel
  };
  // Segments: the group (64, 128, 192, 256), 256 of 512 and of a per-channel
  // 768, 64 of 320 and of a per-channel 1088, 64 for two groups of 32;
  // several rows per thread, 4-bit rows under 1 KB in blocks of four.
  for (const I16Case ic : {I16Case{Kind::Int8Sym, 768, 0}, I16Case{Kind::Int8Asym, 1024, 128},
                           I16Case{Kind::Int8Sym, 640, 320}, I16Case{Kind::Int8Asym, 1088, 0},
                           I16Case{Kind::Int4Sym, 1024, 128}, I16Case{Kind::Int4Sym, 768, 64},
                           I16Case{Kind::Int4Asym, 1536, 512}, I16Case{Kind::Int4Sym, 576, 192},
                           I16Case{Kind::Int4Asym, 512, 256}, I16Case{Kind::Int4Sym, 1088, 0},
                           I16Case{Kind::Int4Sym, 1024, 32}, I16Case{Kind::Int4Asym, 640, 32},
                           I16Case{Kind::Int8Sym, 1024, 32}, I16Case{Kind::Int8Asym, 576, 32}}) {
    const int64_t N = 301, K = ic.K, group = ic.group ? ic.group : K;
    SCOPED_TRACE(std::string(name(ic.kind)) + " K=" + std::to_string(K) +
                 " group=" + std::to_string(group));
    QWeight q = quantize(ic.kind, N, K, group, rng);
    auto x = randomVector(size_t(K), rng);
    x[5] = 1000.0f; // an outlier channel: its segment's step is 1000x the others'
    std::vector<float> y(static_cast<size_t>(N)), yF32(static_cast<size_t>(N));
    auto run = [&](std::vector<float> &out) {
      ASSERT_EQ(lq_rt_qgemm_nt(1, N, K, x.data(), K, q.codes.data(), q.scales.data(),
                               q.biases.empty() ? nullptr : q.biases.data(),
                               q.format, q.bits, group, out.data(), N),
                0);
    };
    run(y);
    lq_rt_qgemv_i16(0);
    run(yF32);
    lq_rt_qgemv_i16(1);
    bool differs = false;
    for (int64_t n = 0; n < N; ++n) {
      const RefRow ref = referenceRow(q, x.data(), n);
      ASSERT_NEAR(y[size_t(n)], ref.value, 1e-6 * (ref.mag + 1) + i16Bound(q, x.data(), n))
          << "row " << n;
      differs |= y[size_t(n)] != yF32[size_t(n)];
    }
    EXPECT_TRUE(differs) << "the int16 GEMV did not run";
  }
  lq_rt_force_isa(nullptr);
}

/// Segments whose activations are all zero, or so small that their int16
/// step would be denormal (max below 2^-96), stay exact: the first gives
/// zeros, the second runs the f32 kernel (quantizing it once turned every
/// activation into -32768).
TEST(QGemm, I16GemvTinyAndZeroSegments) {
  if (!lq_rt_force_isa("avx512") || !lq_rt_qgemv_i16(1)) {
    lq_rt_force_isa(nullptr);
    GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  }
  std::mt19937 rng(9);
  const int64_t N = 12, K = 256;
  QWeight q = quantize(Kind::Int8Sym, N, K, 128, rng);
  // The second segment zero, tiny (f32 kernel), small but quantized; then
  // every activation tiny.
  for (float scale : {0.0f, 1e-36f, 1e-30f, -1e-36f}) {
    auto x = randomVector(size_t(K), rng);
    for (int64_t k = scale < 0 ? 0 : 128; k < K; ++k)
      x[size_t(k)] *= std::fabs(scale);
    std::vector<float> y(static_cast<size_t>(N));
    ASSERT_EQ(lq_rt_qgemm_nt(1, N, K, x.data(), K, q.codes.data(), q.scales.data(), nullptr,
                             q.format, q.bits, 128, y.data(), N),
              0);
    for (int64_t n = 0; n < N; ++n) {
      const RefRow ref = referenceRow(q, x.data(), n);
      EXPECT_NEAR(y[size_t(n)], ref.value, 1e-5 * ref.mag + i16Bound(q, x.data(), n))
          << "scale " << scale << " row " << n;
    }
  }
  lq_rt_force_isa(nullptr);
}

/// An activation that is not finite is not quantized: the f32 kernel runs
/// and the outputs carry the NaN / infinity as the float reference does.
TEST(QGemm, I16GemvKeepsNonFiniteActivations) {
  if (!lq_rt_force_isa("avx512") || !lq_rt_qgemv_i16(1)) {
    lq_rt_force_isa(nullptr);
    GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  }
  std::mt19937 rng(5);
  const int64_t N = 8, K = 256;
  QWeight q = quantize(Kind::Int8Sym, N, K, 128, rng);
  for (float bad : {NAN, INFINITY}) {
    auto x = randomVector(size_t(K), rng);
    x[200] = bad;
    std::vector<float> y(static_cast<size_t>(N), 0.0f);
    ASSERT_EQ(lq_rt_qgemm_nt(1, N, K, x.data(), K, q.codes.data(), q.scales.data(), nullptr,
                             q.format, q.bits, 128, y.data(), N),
              0);
    for (int64_t n = 0; n < N; ++n) {
      const double w = q.ref[size_t(n * K + 200)];
      if (std::isnan(bad) || w == 0)
        EXPECT_TRUE(std::isnan(y[size_t(n)])) << "row " << n; // inf * 0 is NaN too
      else
        EXPECT_EQ(y[size_t(n)], w > 0 ? INFINITY : -INFINITY) << "row " << n;
    }
  }
  lq_rt_force_isa(nullptr);
}

TEST(QGemm, RejectsUnsupportedArguments) {
  float a[8] = {}, c[4] = {1, 2, 3, 4}, s[4] = {1, 1, 1, 1};
  uint8_t codes[16] = {};
  // 3-bit integers, FP8 at 4 bits, MXFP6, NF4 at 8 bits: no kernel.
  EXPECT_EQ(lq_rt_qgemm_nt(1, 2, 8, a, 8, codes, s, nullptr, LQ_FORMAT_INT, 3, 8, c, 2), -1);
  EXPECT_EQ(lq_rt_qgemm_nt(1, 2, 8, a, 8, codes, s, nullptr, LQ_FORMAT_FP8_E4M3, 4, 8, c, 2), -1);
  EXPECT_EQ(lq_rt_qgemm_nt(1, 2, 8, a, 8, codes, s, nullptr, LQ_FORMAT_MXFP6_E2M3, 8, 8, c, 2), -1);
  EXPECT_EQ(lq_rt_qgemm_nt(1, 2, 8, a, 8, codes, s, nullptr, LQ_FORMAT_NF4, 8, 8, c, 2), -1);
  // Group that does not divide K; odd 4-bit groups that are not K.
  EXPECT_EQ(lq_rt_qgemm_nt(1, 2, 8, a, 8, codes, s, nullptr, LQ_FORMAT_INT, 8, 3, c, 2), -1);
  EXPECT_EQ(lq_rt_qgemm_nt(1, 2, 6, a, 6, codes, s, nullptr, LQ_FORMAT_INT, 4, 3, c, 2), -1);
  EXPECT_EQ(c[0], 1.0f);
  // K == 0 writes zeros; group <= 0 means per channel.
  EXPECT_EQ(lq_rt_qgemm_nt(1, 2, 0, a, 8, codes, s, nullptr, LQ_FORMAT_INT, 8, 0, c, 2), 0);
  EXPECT_EQ(c[0], 0.0f);
  EXPECT_EQ(c[1], 0.0f);
  EXPECT_EQ(c[2], 3.0f);
}

TEST(QGemm, SameWithOneAndTwoThreads) {
  // 301 rows: split between 2 or 3 threads off the 4-row blocks of the
  // decode GEMVs (rows of 256 bytes), with a tail; every row must come out
  // the same.
  std::mt19937 rng(5);
  const int64_t N = 301;
  int saved = lq_rt_get_num_threads();
  for (const Case c : {Case{Kind::Int4Asym, 128}, Case{Kind::Int4Sym, 32}}) {
    for (int64_t M : {1, 20}) {
      QWeight q = quantize(c.kind, N, 512, c.group, rng);
      auto A = randomVector(size_t(M * 512), rng);
      std::vector<float> C1(size_t(M * N));
      lq_rt_set_num_threads(1);
      const float *bias = q.biases.empty() ? nullptr : q.biases.data();
      lq_rt_qgemm_nt(M, N, 512, A.data(), 512, q.codes.data(), q.scales.data(), bias,
                     q.format, q.bits, q.group, C1.data(), N);
      for (int threads : {2, 3}) {
        std::vector<float> C2(C1.size());
        lq_rt_set_num_threads(threads);
        lq_rt_qgemm_nt(M, N, 512, A.data(), 512, q.codes.data(), q.scales.data(), bias,
                       q.format, q.bits, q.group, C2.data(), N);
        EXPECT_EQ(C1, C2) << name(c.kind) << " M=" << M << " threads=" << threads;
      }
    }
  }
  lq_rt_set_num_threads(saved);
}

} // namespace
